"""`ep.handler()` wired to the outer app's own components of the remote's kinds, for every common kind.

A developer wires a remote endpoint to components like the remote's own (a Gallery to a Gallery, an Audio to an
Audio); the outer app must then answer what the remote answers. Outputs: compared through gradio_client on both
apps, file paths and URLs aside (each app serves its own copy); gradio's postprocess refused several kinds before
(HighlightedText's tokens, an AnnotatedImage, an ImageEditor's layers, a MultimodalTextbox's files, a Gallery).
Inputs: the remote function describes what it received, contents included, and the outer app must hand it the same
(a default gr.Audio's (rate, samples), several files, a Gallery, an ImageEditor were refused or sent wrong before).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from gradio_client import Client, handle_file
from outer import serve

import compose

IMAGE = np.arange(8 * 8 * 3, dtype=np.uint8).reshape((8, 8, 3))
MASK = np.zeros((8, 8))
MASK[2:6, 2:6] = 0.8
TABLE = pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2], "kind": ["a", "b", "a"]})


def _text_file(text: str) -> str:
    path = Path(tempfile.mkdtemp()) / "notes.txt"  # where a Space writes its results: its temp folder
    path.write_text(text)
    return path.as_posix()


# kind → (the component, what the remote function returns for the text it gets)
KINDS: dict[str, tuple[Callable[[], gr.components.Component], Callable[[str], Any]]] = {
    "textbox": (gr.Textbox, lambda s: s.upper()),
    "number": (gr.Number, lambda s: len(s) / 2),
    "checkboxgroup": (lambda: gr.CheckboxGroup(["a", "b"]), lambda s: ["b"]),
    "image": (gr.Image, lambda s: IMAGE),
    "audio": (gr.Audio, lambda s: (8000, np.arange(800, dtype=np.int16))),
    "file": (gr.File, _text_file),
    "files": (lambda: gr.File(file_count="multiple"), lambda s: [_text_file(s), _text_file(s * 2)]),
    "label": (gr.Label, lambda s: {"cat": 0.7, "dog": 0.3}),
    "highlightedtext": (gr.HighlightedText, lambda s: [(s, "greeting"), (" world", None)]),
    "json": (gr.JSON, lambda s: {"text": s, "list": [1, 2]}),
    "dataframe": (gr.Dataframe, lambda s: TABLE),
    "chatbot": (gr.Chatbot, lambda s: [{"role": "user", "content": s}, {"role": "assistant", "content": "hi"}]),
    "datetime": (gr.DateTime, lambda s: "2024-05-01 12:00:00"),
    "gallery": (gr.Gallery, lambda s: [(IMAGE, "first"), (IMAGE[::-1], "second")]),
    "annotatedimage": (gr.AnnotatedImage, lambda s: (IMAGE, [((1, 1, 4, 4), "box"), (MASK, "mask")])),
    "imageslider": (gr.ImageSlider, lambda s: (IMAGE, IMAGE[::-1])),
    "imageeditor": (gr.ImageEditor, lambda s: {"background": IMAGE, "layers": [IMAGE[::-1]], "composite": IMAGE}),
    "multimodaltextbox": (gr.MultimodalTextbox, lambda s: {"text": s, "files": [_text_file(s)]}),
    "barplot": (lambda: gr.BarPlot(x="kind", y="y"), lambda s: TABLE),
    "downloadbutton": (gr.DownloadButton, _text_file),
}


def _comparable(value: Any) -> str:
    """The value with each file's particulars left out: where it is, and what gradio says of a copy (a file it
    made from an array has no name or type; the copy the outer app serves has). Their contents:
    tests/test_file_outputs.py."""
    text = json.dumps(value, sort_keys=True, default=str)
    return re.sub(r'"(path|url|orig_name|mime_type|size)": ("[^"]*"|null|\d+)', r'"\1": "-"', text)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_handler_feeds_the_outer_apps_component_of_the_same_kind(kind: str, apps: tuple[str, str]) -> None:
    remote_url, outer_url = apps
    expected = Client(remote_url, verbose=False, download_files=False).predict("hello", api_name=f"/{kind}")
    got = Client(outer_url, verbose=False, download_files=False).predict("hello", api_name=f"/{kind}")
    assert _comparable(got) == _comparable(expected)
    # Every file the outer app hands out is its own to serve, never a link back to the remote.
    assert remote_url not in json.dumps(got, default=str)


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # As on a user's machine, compose's download folder (~/.cache/...) lies outside the system temp folder, from
    # where gradio serves any file a handler returns: here both apps get a temp folder of their own.
    system_temp = tmp_path_factory.mktemp("system-temp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(system_temp))
        with gr.Blocks() as remote:
            text = gr.Textbox()
            for kind, (make, fn) in KINDS.items():
                gr.Button(kind).click(fn, text, make(), api_name=kind)
        with serve(remote) as remote_url:
            space = compose.Space(remote_url, download_dir=tmp_path_factory.mktemp("downloads"))
            with gr.Blocks() as outer:
                text = gr.Textbox()
                for kind, (make, _) in KINDS.items():
                    gr.Button(kind).click(space.endpoint(f"/{kind}").handler(), text, make(), api_name=kind)
            with serve(outer) as outer_url:
                yield remote_url, outer_url


def describe(value: Any) -> str:
    """What a remote function received, contents included (a file by its bytes, an array by its values)."""
    if hasattr(value, "getdata"):  # a PIL image
        return f"image {value.mode} " + describe(np.asarray(value))
    if isinstance(value, np.ndarray):
        return f"array{value.shape}:{hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:12]}"
    if isinstance(value, str) and Path(value).is_file():
        return f"file {Path(value).suffix}:{hashlib.sha256(Path(value).read_bytes()).hexdigest()[:12]}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{', '.join(describe(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, pd.DataFrame):
        return f"table {list(value.columns)} {value.to_numpy().tolist()}"
    return repr(value)


def _inputs(folder: Path) -> dict[str, tuple[Callable[[], gr.components.Component], Any]]:
    """kind → (the component, what an end user sends it)."""
    from PIL import Image

    png, other, wav, text = folder / "photo.png", folder / "other.png", folder / "voice.wav", folder / "notes.txt"
    Image.fromarray(IMAGE).save(png)
    Image.fromarray(IMAGE[::-1]).save(other)
    text.write_text("some notes")
    import wave

    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.arange(800, dtype=np.int16).tobytes())
    return {
        "image": (gr.Image, handle_file(str(png))),
        "image_pil": (lambda: gr.Image(type="pil"), handle_file(str(png))),
        "image_path": (lambda: gr.Image(type="filepath"), handle_file(str(png))),
        "audio": (gr.Audio, handle_file(str(wav))),
        "audio_path": (lambda: gr.Audio(type="filepath"), handle_file(str(wav))),
        "file": (gr.File, handle_file(str(text))),
        "files": (lambda: gr.File(file_count="multiple"), [handle_file(str(text)), handle_file(str(png))]),
        "gallery": (gr.Gallery, [{"image": handle_file(str(png)), "caption": "one"},
                                 {"image": handle_file(str(other)), "caption": None}]),
        "multimodaltextbox": (gr.MultimodalTextbox, {"text": "look", "files": [handle_file(str(png))]}),
        "imageeditor": (gr.ImageEditor, {"background": handle_file(str(png)), "layers": [handle_file(str(other))],
                                         "composite": handle_file(str(png))}),
        "imageslider": (gr.ImageSlider, [handle_file(str(png)), handle_file(str(other))]),
        "dataframe": (gr.Dataframe, {"headers": ["a", "b"], "data": [[1, 2], [3, 4]], "metadata": None}),
        "datetime": (gr.DateTime, "2024-01-01 10:00:00"),
        "checkboxgroup": (lambda: gr.CheckboxGroup(["a", "b"]), ["b"]),
        "highlightedtext": (lambda: gr.HighlightedText(interactive=True),
                            [{"token": "hi", "class_or_confidence": "greeting"}]),
        "colorpicker": (gr.ColorPicker, "#ff0000"),
    }


@pytest.fixture(scope="module")
def input_apps(tmp_path_factory: pytest.TempPathFactory) -> Any:
    system_temp = tmp_path_factory.mktemp("system-temp-inputs")
    kinds = _inputs(tmp_path_factory.mktemp("sent"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(system_temp))
        with gr.Blocks() as remote:
            said = gr.Textbox()
            for kind, (make, _) in kinds.items():
                gr.Button(kind).click(describe, make(), said, api_name=kind)
        with serve(remote) as remote_url:
            space = compose.Space(remote_url, download_dir=tmp_path_factory.mktemp("downloads-inputs"))
            with gr.Blocks() as outer:
                said = gr.Textbox()
                for kind, (make, _) in kinds.items():
                    gr.Button(kind).click(space.endpoint(f"/{kind}").handler(), make(), said, api_name=kind)
            with serve(outer) as outer_url:
                yield remote_url, outer_url, {kind: value for kind, (_, value) in kinds.items()}


@pytest.mark.parametrize("kind", ["image", "image_pil", "image_path", "audio", "audio_path", "file", "files",
                                  "gallery", "multimodaltextbox", "imageeditor", "imageslider", "dataframe",
                                  "datetime", "checkboxgroup", "highlightedtext", "colorpicker"])
def test_the_outer_apps_component_of_the_remote_inputs_kind_hands_the_remote_the_same_value(
        kind: str, input_apps: tuple[str, str, dict[str, Any]]) -> None:
    remote_url, outer_url, values = input_apps
    expected = Client(remote_url, verbose=False).predict(values[kind], api_name=f"/{kind}")
    assert "file" in expected or kind not in ("file", "files", "image_path", "audio_path")  # the test sees files
    assert Client(outer_url, verbose=False).predict(values[kind], api_name=f"/{kind}") == expected
