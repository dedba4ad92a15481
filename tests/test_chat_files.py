"""A chat Space that answers with pictures, behind a login as a private Space is: its files through every surface.

The upstream is shaped like gradio's demo/chatbot_multimodal: each turn the assistant answers with a picture, once
as a file message and once as a `gr.Image` in the message. Its files can be fetched only signed in, so a link to
the Space handed to the browser would be broken, as it is for a private Space on Hugging Face. And the whole
history comes back every turn, so it goes back to the Space every turn too.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import numpy as np
import pytest
from gradio_client import Client
from outer import raw_events, serve
from PIL import Image

import compose
from compose.files import file_data_in

USER, PASSWORD = "grace", "a private space"


def picture(shade: int) -> str:
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, f"shade-{shade}.png")
    Image.fromarray(np.full((6, 6, 3), shade, dtype=np.uint8)).save(path)
    return path


def respond(message: str, history: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    turn = sum(1 for m in history if m["role"] == "user")
    # The app reads the pictures it sent earlier, as a chat that edits its last picture does.
    earlier = [part["file"]["path"] if "file" in part else part["value"]["path"]
               for m in history if m["role"] == "assistant" for part in m["content"]
               if part.get("type") in ("file", "component")]
    for path in earlier:
        Image.open(path).verify()  # each came back as a file this app can read
    return "", [
        *history,
        {"role": "user", "content": message},
        {"role": "assistant", "content": {"path": picture(40 + 50 * turn)}},
        {"role": "assistant", "content": gr.Image(picture(45 + 50 * turn))},
    ]


def shade_of(path: str) -> int:
    with Image.open(path) as img:
        return int(np.asarray(img.convert("RGB"))[0, 0, 0])


def chat_app() -> gr.Blocks:
    with gr.Blocks() as demo:
        chat, box = gr.Chatbot(), gr.Textbox()
        box.submit(respond, [box, chat], [box, chat], api_name="respond")
        number, image = gr.Number(), gr.Image()
        number.submit(lambda n: np.full((4, 4, 3), int(n), dtype=np.uint8), number, image, api_name="shade")
    return demo


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(chat_app(), auth=(USER, PASSWORD)) as address:
        yield address


def test_a_chats_pictures_come_back_local_and_its_history_goes_back_through_predict(url: str, make_space: Any
                                                                                  ) -> None:
    ep = make_space(url, auth=(USER, PASSWORD)).endpoint("/respond")
    _, first = ep.predict("hello", [])
    pictures = file_data_in(first)
    # Each picture is a file on this machine (a FileData gr.Chatbot takes back as it is), with the Space's bytes.
    assert [shade_of(f["path"]) for f in pictures] == [40, 45, 45]  # a file; a gr.Image's value and props
    _, second = ep.predict("and again", first)  # the history goes back: the Space reads its own pictures in it
    assert len(second) == 6
    again = file_data_in(second)
    assert [shade_of(f["path"]) for f in again] == [40, 45, 45, 90, 95, 95]
    # The first turn's pictures were not fetched again: the very same files.
    assert [(f["path"], os.stat(f["path"]).st_ino) for f in again[:3]] == [
        (f["path"], os.stat(f["path"]).st_ino) for f in pictures]
    # What gradio_client's own auth= gets from the Space for the same turn.
    theirs = Client(url, auth=(USER, PASSWORD), verbose=False).predict("hello", [], api_name="/respond")[1]
    assert [part.get("type") for m in theirs for part in m["content"]] == [
        part.get("type") for m in first for part in m["content"]]


def test_a_handler_shows_a_private_chats_pictures_from_the_outer_app_turn_after_turn(url: str, make_space: Any
                                                                                     ) -> None:
    ep = make_space(url, auth=(USER, PASSWORD)).endpoint("/respond")
    with gr.Blocks() as demo:
        chat, box = gr.Chatbot(), gr.Textbox()
        box.submit(ep.handler(), [box, chat], [box, chat], api_name="chat")
    with serve(demo) as outer_url:
        page = Client(outer_url, verbose=False, download_files=False)  # sends the history back as the page does
        history: list[Any] = []
        for turn, text in enumerate(["hello", "once more", "last one"]):
            _, history = page.predict(text, history, api_name="/chat")
            shown = file_data_in(history)
            assert len(shown) == 3 * (turn + 1)
            for f in shown:
                # Served by the outer app to a browser that never signed in to the Space.
                assert f["url"].startswith(outer_url)
                got = httpx.get(f["url"], timeout=20)
                assert got.status_code == 200
                with Image.open(io.BytesIO(got.content)) as img:
                    assert int(np.asarray(img.convert("RGB"))[0, 0, 0]) in {40 + 50 * t + d for t in range(turn + 1)
                                                                           for d in (0, 5)}


def test_a_file_result_returned_from_your_own_gradio_function_is_served(url: str, make_space: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # compose's own download folder, as on a machine where nothing sets it: not under the cache folder, which
    # Gradio would refuse to serve from (it serves a returned file only from the temp dir, the working directory
    # or allowed_paths). The cache is put where Gradio would refuse it, so a download there is caught.
    cache = Path.home() / ".cache" / f"compose-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("COMPOSE_CACHE_DIR", str(cache))
    monkeypatch.delenv("COMPOSE_DOWNLOAD_DIR", raising=False)
    try:
        ep = make_space(url, auth=(USER, PASSWORD)).endpoint("/shade")

        def mine(n: float) -> str:
            return str(ep.predict(n))  # the ordinary way to use a Space from your own app

        with gr.Blocks() as demo:
            number, image = gr.Number(), gr.Image()
            number.submit(mine, number, image, api_name="mine")
        with serve(demo) as outer_url:
            got = Client(outer_url, verbose=False).predict(77, api_name="/mine")
        assert shade_of(got) == 77
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_a_kept_file_goes_back_only_to_its_own_space_and_only_if_compose_made_it(url: str, make_space: Any,
                                                                                   tmp_path: Path) -> None:
    mine = make_space(url, auth=(USER, PASSWORD)).endpoint("/respond")
    _, history = mine.predict("hello", [])
    kept = file_data_in(history)[0]["path"]
    with serve(chat_app()) as other_url:  # another app: it must not be handed the first one's reference
        other = make_space(other_url).endpoint("/respond")
        with pytest.raises(compose.UnsafeInput, match=r"compose\.file"):
            other.predict("hello", history)
    # A path shaped like a kept file's that compose never made (a model's or a page's JSON): not a reference.
    forged = Path(kept).parent.parent / Path(kept).parent.name / "elsewhere.png"
    with pytest.raises(compose.UnsafeInput, match=r"compose\.file"):
        mine.predict("hello", [{"role": "assistant", "content": [
            {"type": "file", "file": {"path": str(forged), "meta": {"_type": "gradio.FileData"}}}]}])


def test_a_rendered_chat_keeps_each_picture_and_sends_the_history_back_as_the_spaces_own(url: str, make_space: Any
                                                                                        ) -> None:
    with gr.Blocks() as demo:
        app = make_space(url, auth=(USER, PASSWORD)).render()
    with serve(demo) as outer_url:
        name = app.api_names["/respond"]
        # As the page does: send the text and the history it shows, and take the answer's history.
        first = raw_events(outer_url, name, ["hello", []])[-1][1]["output"]["data"][1]
        second = raw_events(outer_url, name, ["again", first])[-1][1]["output"]["data"][1]
        shown_first, shown_second = file_data_in(first), file_data_in(second)
        assert len(shown_first) == 3 and len(shown_second) == 6
        # The first turn's pictures are the very files shown the first time: not fetched, nor served, anew.
        assert [f["path"] for f in shown_second[:3]] == [f["path"] for f in shown_first]
        for f in shown_second:  # each served by the outer app, to a browser never signed in to the Space
            got = httpx.get(f"{outer_url}/gradio_api/file={f['path']}", timeout=20)
            assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (6, 6)
