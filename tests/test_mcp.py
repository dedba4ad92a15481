"""The registry as an MCP server: gradio's MCP endpoint over registry.mcp_blocks(), driven by the `mcp` SDK client."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import gradio as gr
import httpx
import numpy as np
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from outer import call_tool, serve, served_mcp
from PIL import Image

import compose
from compose.apps.processes import free_port


@pytest.fixture(scope="module")
def registry(urls: dict[str, str]) -> compose.ToolRegistry:
    registry = compose.ToolRegistry()
    registry.add(compose.Space(urls["calculator"]))
    registry.add(compose.Space(urls["translator"]).endpoint("/translate"), name="translate")
    return registry


@pytest.fixture(scope="module")
def mcp_url(registry: compose.ToolRegistry) -> Iterator[str]:
    with served_mcp(registry) as url:
        yield url


async def test_mcp_client_lists_and_calls_registry_tools(registry: compose.ToolRegistry, mcp_url: str) -> None:
    async with streamable_http_client(mcp_url) as (read, write, *_), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        assert sorted(t.name for t in listed.tools) == sorted(registry.names())
        calculate = next(t for t in listed.tools if t.name == "calculator_calculate")
        assert set(calculate.inputSchema["properties"]) == {"a", "operation", "b"}

        result = await session.call_tool("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7})
        assert not result.isError
        assert [c.text for c in result.content if c.type == "text"] == ["84"]

        result = await session.call_tool("translate", {"text": "good morning", "target_language": "Spanish"})
        assert [c.text for c in result.content if c.type == "text"] == ["buenos días"]

        # A remote gr.Error reaches the MCP client as a tool error with the remote's message.
        result = await session.call_tool("calculator_calculate", {"a": 1, "operation": "divide", "b": 0})
        assert result.isError
        assert "Cannot divide by zero." in " ".join(c.text for c in result.content if c.type == "text")


def test_smolagents_mcp_client_runs_compose_tools_end_to_end(registry: compose.ToolRegistry, mcp_url: str) -> None:
    """smolagents' own MCP client (ToolCollection.from_mcp, through mcpadapt) against compose's MCP server."""
    from smolagents import ToolCollection

    params = {"url": mcp_url, "transport": "streamable-http"}
    with ToolCollection.from_mcp(params, trust_remote_code=True, structured_output=True) as collection:
        tools = {t.name: t for t in collection.tools}
        assert sorted(tools) == sorted(registry.names())
        calculate = tools["calculator_calculate"]
        # The remote choices reach the client's schema as an enum, the docstring as descriptions.
        # (null among them: the parameter is optional, and null means its default.)
        assert calculate.inputs["operation"].get("enum") == ["add", "subtract", "multiply", "divide", None]
        assert calculate(a=12, operation="multiply", b=7) == 84
        # Several outputs: JSON keyed by the output labels (not a Python repr), parsed by the client.
        stats = tools["calculator_stats"](numbers="1, 2, 6")
        assert stats == {"Sum": 9.0, "Mean": 3.0, "Max": 6.0}
        # A remote gr.Error comes back as the remote's words (mcpadapt hands errors over as text).
        error = calculate(a=1, operation="divide", b=0)
        assert "Cannot divide by zero." in str(error)


def sentence_app() -> gr.Blocks:
    """Shaped like gradio's demo/sentence_builder: optional parameters before a required one, choices of several."""

    def sentence(quantity: float, animal: str, countries: list[str], place: str, activities: list[str],
                 morning: bool) -> str:
        return (f"The {int(quantity)} {animal}s from {' and '.join(countries) or 'nowhere'} went to the {place} "
                f"where they {' and '.join(activities)} until the {'morning' if morning else 'night'}")

    return gr.Interface(sentence, [
        gr.Slider(2, 20, value=4, label="Count"), gr.Dropdown(["cat", "dog", "bird"], value="cat", label="Animal"),
        gr.CheckboxGroup(["USA", "Japan", "Pakistan"], label="Countries"),
        gr.Radio(["park", "zoo", "road"], label="Location"),
        gr.Dropdown(["ran", "swam", "ate", "slept"], value=["swam", "slept"], multiselect=True, label="Activity"),
        gr.Checkbox(label="Morning")], "text", api_name="sentence")


async def _tools(url: str) -> dict[str, Any]:
    async with streamable_http_client(url) as (read, write, *_), ClientSession(read, write) as session:
        await session.initialize()
        return {t.name: t for t in (await session.list_tools()).tools}


async def test_the_mcp_schema_says_at_least_what_gradios_own_mcp_server_says(make_space: Any) -> None:
    remote = sentence_app()
    remote.launch(mcp_server=True, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                  server_port=free_port())
    registry = compose.ToolRegistry()
    ours: gr.Blocks | None = None
    try:
        (theirs,) = (await _tools(remote.local_url.rstrip("/") + "/gradio_api/mcp/")).values()
        (name,) = registry.add(make_space(remote.local_url.rstrip("/")))
        ours = registry.mcp_blocks()
        ours.launch(mcp_server=True, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                    server_port=free_port())
        mine = (await _tools(ours.local_url.rstrip("/") + "/gradio_api/mcp/"))[name].inputSchema
        # Only the parameter without a default is required, as the remote's own MCP server and openai_tools say.
        assert mine["required"] == theirs.inputSchema["required"] == ["place"]
        assert registry.openai_tools()[0]["function"]["parameters"]["required"] == ["place"]
        for key, spec in theirs.inputSchema["properties"].items():
            for field in ("enum", "default"):
                if field in spec:
                    got = mine["properties"][key].get(field)
                    if field == "enum" and key not in mine["required"]:
                        got = [v for v in got if v is not None]  # and null: an optional one's default
                    assert got == spec[field], (key, field)
            if "enum" in spec.get("items", {}):
                assert mine["properties"][key]["items"]["enum"] == spec["items"]["enum"], key
        assert mine["properties"]["countries"]["items"]["enum"] == ["USA", "Japan", "Pakistan"]
        # Called with the required argument only, the remote's defaults apply.
        async with streamable_http_client(ours.local_url.rstrip("/") + "/gradio_api/mcp/") as (r, w, *_), \
                ClientSession(r, w) as session:
            await session.initialize()
            result = await session.call_tool(name, {"place": "zoo"})
        assert [c.text for c in result.content if c.type == "text"] == [
            "The 4 cats from nowhere went to the zoo where they swam and slept until the night"]
    finally:
        remote.close()
        if ours is not None:
            ours.close()


async def test_an_image_result_reaches_an_mcp_client_as_an_image(make_space: Any) -> None:
    def shade(level: float) -> np.ndarray:
        return np.full((4, 6, 3), int(level), dtype=np.uint8)

    with serve(gr.Interface(shade, gr.Number(label="level"), gr.Image(label="picture"), api_name="shade")) as url:
        registry = compose.ToolRegistry()
        (name,) = registry.add(make_space(url))
        with served_mcp(registry) as mcp_url:
            result = await call_tool(mcp_url, name, {"level": 123})
            # As gradio's own MCP server answers for an image: the image itself, and a URL the client can fetch
            # (a path on the composing host would mean nothing to it).
            (image,) = [c for c in result.content if c.type == "image"]
            assert image.mimeType.startswith("image/")
            with Image.open(io.BytesIO(base64.b64decode(image.data))) as img:
                assert img.size == (6, 4) and img.convert("RGB").getpixel((0, 0)) == (123, 123, 123)
            (text,) = [c.text for c in result.content if c.type == "text"]
            link = text.split("URL: ", 1)[1]
            assert link.startswith(mcp_url.split("/gradio_api/")[0])
            fetched = httpx.get(link, timeout=20)
            assert fetched.status_code == 200
            with Image.open(io.BytesIO(fetched.content)) as img:
                assert img.convert("RGB").getpixel((0, 0)) == (123, 123, 123)


async def test_a_file_among_several_results_reaches_an_mcp_client_as_a_url(make_space: Any) -> None:
    # Text-to-speech and text-to-image Spaces answer a file and something else (its seed, a summary): the file
    # was a path on the composing host, which an MCP client cannot read (and which named our disk).
    import json
    import wave

    def speak(text: str) -> tuple[tuple[int, np.ndarray], str]:
        return (8000, np.zeros(800, dtype=np.int16)), f"{len(text)} characters"

    with serve(gr.Interface(speak, gr.Textbox(label="text"), [gr.Audio(label="speech"), gr.Textbox(label="note")],
                            api_name="speak")) as url:
        registry = compose.ToolRegistry()
        (name,) = registry.add(make_space(url))
        with served_mcp(registry) as mcp_url:
            result = await call_tool(mcp_url, name, {"text": "hello"})
            (text,) = [c.text for c in result.content if c.type == "text"]
            answer = json.loads(text)
            assert answer["note"] == "5 characters"
            assert answer["speech"].startswith(mcp_url.split("/gradio_api/")[0] + "/gradio_api/file=")
            fetched = httpx.get(answer["speech"], timeout=20)
            assert fetched.status_code == 200
            with wave.open(io.BytesIO(fetched.content)) as sound:
                assert sound.getframerate() == 8000 and sound.getnframes() == 800
