"""Outputs that hold several files (a Gallery, an ImageSlider): every surface gets them as local files.

The upstream is shaped like gradio's demo/fake_gan and the image-upscaler Spaces: a Gallery of generated images
with captions, and a before/after ImageSlider. Results are checked against gradio_client, which downloads each file
of such an output too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client
from outer import serve

import compose


def generate(count: float, seed: float) -> list[tuple[np.ndarray, str]]:
    """Make `count` images, each a different shade, with a caption."""
    rng = np.random.default_rng(int(seed))
    return [(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8), f"sample {i}") for i in range(int(count))]


def upscale(text: str) -> tuple[np.ndarray, np.ndarray]:
    """A before/after pair."""
    before = np.full((8, 8, 3), len(text), dtype=np.uint8)
    return before, np.kron(before, np.ones((2, 2, 1), dtype=np.uint8)) + 1


def gallery_app() -> gr.Blocks:
    with gr.Blocks() as demo:
        count, seed = gr.Number(value=3, label="Count"), gr.Number(value=7, label="Seed")
        gallery = gr.Gallery(label="Generated images", columns=3)
        gr.Button("Generate").click(generate, [count, seed], gallery, api_name="generate")
        text, pair = gr.Textbox(label="Text"), gr.ImageSlider(label="Before / after")
        gr.Button("Upscale").click(upscale, text, pair, api_name="upscale")
    return demo


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve(gallery_app()) as url:
        yield url


def _bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def test_a_gallery_result_is_local_files_with_captions_as_gradio_client_returns_it(upstream: str,
                                                                                   tmp_path: Path) -> None:
    space = compose.Space(upstream, download_dir=tmp_path / "ours")
    ours = space.endpoint("/generate").predict(3, 7)
    theirs = Client(upstream, verbose=False, download_files=str(tmp_path / "theirs")).predict(
        3, 7, api_name="/generate")
    assert [item["caption"] for item in ours] == [item["caption"] for item in theirs] == [
        "sample 0", "sample 1", "sample 2"]
    for mine, other in zip(ours, theirs, strict=True):
        assert Path(mine["image"]).is_file()
        assert Path(mine["image"]).is_relative_to(tmp_path / "ours")  # our download folder, never the remote's path
        assert _bytes(mine["image"]) == _bytes(other["image"])


def test_an_image_slider_result_is_two_local_files(upstream: str, tmp_path: Path) -> None:
    ours = compose.Space(upstream, download_dir=tmp_path).endpoint("/upscale").predict("abc")
    theirs = Client(upstream, verbose=False, download_files=str(tmp_path / "theirs")).predict(
        "abc", api_name="/upscale")
    assert len(ours) == 2
    assert [_bytes(p) for p in ours] == [_bytes(p) for p in theirs]


def test_past_max_downloads_the_rest_of_a_gallery_are_links_on_the_space(upstream: str, tmp_path: Path) -> None:
    space = compose.Space(upstream, download_dir=tmp_path, limits=compose.Limits(max_downloads=2))
    items = space.endpoint("/generate").predict(4, 1)
    assert [Path(item["image"]).is_file() for item in items[:2]] == [True, True]
    for item in items[2:]:  # nothing lost: each still names its file, on the Space's own origin
        link = item["image"]
        assert link["url"].startswith(f"{upstream}/gradio_api/file=")
        assert link["path"] == link["url"]


def _outer_gallery(ep: compose.Endpoint) -> gr.Blocks:
    with gr.Blocks() as outer:
        count, seed = gr.Number(label="How many"), gr.Number(label="Seed")
        mine = gr.Gallery(label="Mine")
        gr.Button("Go").click(ep.handler(), [count, seed], mine, api_name="mine")
        text, pair = gr.Textbox(), gr.ImageSlider()
        gr.Button("Pair").click(ep.space.endpoint("/upscale").handler(), text, pair, api_name="pair")
    return outer


def test_a_handler_feeds_a_remote_gallery_and_slider_into_the_outer_apps_own(upstream: str, tmp_path: Path) -> None:
    # Before, the outer Gallery refused the handler's result ("Cannot process type as image: <class 'dict'>").
    space = compose.Space(upstream, download_dir=tmp_path / "ours")
    direct = Client(upstream, verbose=False, download_files=str(tmp_path / "direct"))
    with serve(_outer_gallery(space.endpoint("/generate"))) as outer_url:
        client = Client(outer_url, verbose=False, download_files=str(tmp_path / "outer"))
        got: list[dict[str, Any]] = client.predict(2, 5, api_name="/mine")
        expected = direct.predict(2, 5, api_name="/generate")
        assert [item["caption"] for item in got] == ["sample 0", "sample 1"]
        assert [_bytes(item["image"]) for item in got] == [_bytes(item["image"]) for item in expected]
        pair = client.predict("hello", api_name="/pair")
        assert [_bytes(p) for p in pair] == [_bytes(p) for p in direct.predict("hello", api_name="/upscale")]


def test_several_files_of_one_file_output_come_back_local_and_through_a_handler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a user's machine, compose's download folder (~/.cache/...) lies outside the system temp folder, from
    # where gradio serves any file a handler returns: here the outer app gets a temp folder of its own.
    (tmp_path / "system-temp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system-temp"))

    def reports(names: str) -> list[str]:
        paths = []
        folder = Path(tempfile.mkdtemp())  # the remote app's own temp folder, as a Space writes its results
        for name in names.split():
            path = folder / f"{name}.txt"
            path.write_text(f"report {name}")
            paths.append(str(path))
        return paths

    with gr.Blocks() as remote:
        names, files = gr.Textbox(), gr.File(file_count="multiple")
        gr.Button().click(reports, names, files, api_name="reports")
    with serve(remote) as url:
        ep = compose.Space(url, download_dir=tmp_path / "ours").endpoint("/reports")
        got = ep.predict("a b")
        assert [Path(p).read_text() for p in got] == ["report a", "report b"]
        assert all(Path(p).is_relative_to(tmp_path / "ours") for p in got)
        with gr.Blocks() as outer:
            text, mine = gr.Textbox(), gr.File(file_count="multiple")
            gr.Button().click(ep.handler(), text, mine, api_name="mine")
        with serve(outer) as outer_url:
            served = Client(outer_url, verbose=False, download_files=str(tmp_path / "outer")).predict(
                "c d", api_name="/mine")
            assert [Path(p).read_text() for p in served] == ["report c", "report d"]


def test_a_rendered_apps_file_result_shows_its_size_as_the_remotes_does(tmp_path: Path) -> None:
    # gr.File lists each file with its size; through the whole-app render it showed none.
    def report(text: str) -> str:
        path = Path(tempfile.mkdtemp()) / "report.txt"
        path.write_text(text * 10)
        return str(path)

    with gr.Blocks() as remote:
        text, out = gr.Textbox(), gr.File()
        gr.Button().click(report, text, out, api_name="report")
    with serve(remote) as url:
        with gr.Blocks() as outer:
            app = compose.Space(url, download_dir=tmp_path).render()
        with serve(outer) as outer_url:
            direct = Client(url, verbose=False, download_files=False).predict("abc", api_name="/report")
            rendered = Client(outer_url, verbose=False, download_files=False).predict(
                "abc", api_name=app.api_names["/report"])
            assert rendered["size"] == direct["size"] == 30
            assert rendered["orig_name"] == direct["orig_name"] == "report.txt"
