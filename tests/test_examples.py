"""Every script in examples/ runs against the local spaces, and does what its docstring says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from gradio_client import Client
from outer import serve

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_covered() -> None:
    assert {p.stem for p in EXAMPLES.glob("*.py")} == {
        "render_endpoint", "chain_spaces", "stateful_two_users", "embed_whole_app"}


def test_render_endpoint(urls: dict[str, str]) -> None:
    with serve(load("render_endpoint").build(urls["translator"])) as url:
        assert Client(url, verbose=False).predict("thank you", "Spanish", api_name="/translate") == "gracias"


def test_chain_spaces(urls: dict[str, str]) -> None:
    with serve(load("chain_spaces").build(urls["calculator"], urls["translator"])) as url:
        client = Client(url, verbose=False)
        result, translated = client.predict(12, "multiply", 7, "French", api_name="/calculate_and_translate")
        assert result == 84
        assert translated == "la réponse est 84"  # the calculator's output fed the translator


def test_stateful_two_users(urls: dict[str, str]) -> None:
    with serve(load("stateful_two_users").build(urls["diagnostics"])) as url:
        first = Client(url, headers={"x-ip-token": "first"}, verbose=False)
        second = Client(url, verbose=False)
        assert [first.predict(api_name="/increment") for _ in range(3)] == [1, 2, 3]
        assert second.predict(api_name="/increment") == 1
        assert first.predict(api_name="/whoami")[0] == "first"
        assert second.predict(api_name="/whoami")[0] == ""


def test_embed_whole_app(urls: dict[str, str]) -> None:
    demo = load("embed_whole_app").build(urls["calculator"])
    assert demo.api_names["/calculate"] == "/calculate_1"  # the local one took /calculate first
    with serve(demo) as url:
        client = Client(url, verbose=False)
        # The remote's parameter names hold on the outer API (keyword calls work).
        assert client.predict(a=6, operation="multiply", b=7, api_name="/calculate_1") == 42
        assert client.predict(21, api_name="/calculate") == 42
        assert client.predict("hi", api_name="/shout") == "HI!"
