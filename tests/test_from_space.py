"""smolagents' Tool.from_space next to ep.tool(), on the same local endpoints (nothing leaves 127.0.0.1).

With gradio_client 2.x, Tool.from_space cannot be built at all: it passes `hf_token=` to a Client that takes
`token=`. The second test runs from_space's own wrapper code with the Client it meant to build, to show what it
would do past that: upload any string that names an existing file, keep only the first of several outputs, and
mistake a text second output for an error message.
"""

from __future__ import annotations

import inspect
import uuid
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client
from PIL import Image
from smolagents import Tool
from smolagents.agent_types import AgentImage
from uploads import upstream_has

import compose
from compose.apps.processes import LocalSpace


@pytest.fixture(scope="module")
def spaces(urls: dict[str, str]) -> dict[str, compose.Space]:
    return {name: compose.Space(urls[name]) for name in ("translator", "calculator", "media")}


def test_from_space_fails_where_ep_tool_works(urls: dict[str, str], spaces: dict[str, compose.Space]) -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'hf_token'"):
        Tool.from_space(space_id=urls["translator"], name="translate", description="Translate English text.",
                        api_name="/translate")
    # Why: gradio_client 2.x names the parameter `token`.
    assert "hf_token" not in inspect.signature(Client).parameters
    assert "token" in inspect.signature(Client).parameters

    tool = spaces["translator"].endpoint("/translate").tool(name="translate", description="Translate English text.")
    assert isinstance(tool, Tool)
    assert tool(text="good morning", target_language="French") == "bonjour"


def _from_space_wrapper(url: str, api_name: str) -> Any:
    """from_space's own wrapper class, given the gradio Client its constructor tried (and failed) to build."""
    with pytest.raises(TypeError) as failed:
        Tool.from_space(space_id=url, name="t", description="d", api_name=api_name)
    tb = failed.value.__traceback__
    wrapper_cls = None
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if type(candidate).__name__ == "SpaceToolWrapper":
            wrapper_cls = type(candidate)
        tb = tb.tb_next
    assert wrapper_cls is not None
    wrapper = wrapper_cls.__new__(wrapper_cls)
    wrapper.client = Client(url, verbose=False)  # what `Client(space_id, hf_token=token)` meant
    wrapper.api_name = api_name
    return wrapper


def test_from_space_wrapper_behaviour_next_to_ep_tool(urls: dict[str, str], spaces: dict[str, compose.Space],
                                                      local_spaces: dict[str, LocalSpace], tmp_path: Path) -> None:
    # 1. A text argument that names an existing file: from_space uploads the file, ep.tool() sends the text.
    content = f"secret-{uuid.uuid4().hex}".encode()
    secret = tmp_path / "notes.txt"
    secret.write_bytes(content)
    uploads = local_spaces["translator"].temp_dir

    def leaked() -> bool:
        return upstream_has(uploads, content)

    tool = spaces["translator"].endpoint("/translate").tool()
    assert tool(text=str(secret)) == str(secret).lower()
    assert not leaked()
    from_space = _from_space_wrapper(urls["translator"], "/translate")
    answer = from_space.forward(str(secret), "French")
    assert leaked()  # the file's bytes are now on the Space
    assert "gradio.filedata" in answer  # and the "translation" is the upstream's file record

    # 2. Several outputs: from_space keeps the first, ep.tool() returns all, keyed by label.
    stats = spaces["calculator"].endpoint("/stats").tool()
    assert stats(numbers="1, 2, 6") == {"Sum": 9.0, "Mean": 3.0, "Max": 6.0}
    assert _from_space_wrapper(urls["calculator"], "/stats").forward("1, 2, 6") == 9.0

    # 3. An image and a text output: from_space takes the text for an error message.
    Image.new("RGB", (3, 2), (255, 0, 0)).save(tmp_path / "red.png")
    invert = compose.SpaceTool(spaces["media"].endpoint("/invert"), roots=(tmp_path,))
    result = invert(image=str(tmp_path / "red.png"))
    assert isinstance(result["Inverted"], AgentImage) and result["Size"] == "3x2"
    with pytest.raises(ValueError, match="The space returned this message: 3x2"):
        _from_space_wrapper(urls["media"], "/invert").forward(str(tmp_path / "red.png"))
