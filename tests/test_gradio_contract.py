"""Contracts with gradio internals that compose.ui.mirror, compose.ui.render and compose.ui.handler rely on (pinned:
a gradio upgrade that changes one fails here, by name, rather than somewhere deep in a render)."""

from __future__ import annotations

import inspect
import wave
from pathlib import Path

import gradio as gr
import numpy as np
from gradio import processing_utils
from gradio.blocks import BlocksConfig
from gradio.components.api_component import Api
from gradio.context import Context, get_blocks_context
from gradio.events import EventListenerMethod
from gradio.renderable import Renderable
from gradio.utils import component_or_layout_class


def test_component_classes_by_config_name_and_recover_kwargs() -> None:
    assert component_or_layout_class("textbox") is gr.Textbox
    assert component_or_layout_class("form").__name__ == "Form"
    kwargs = gr.Slider.recover_kwargs({"minimum": 1, "maximum": 3, "label": "x", "name": "slider", "class_id": "z"})
    assert kwargs == {"minimum": 1, "maximum": 3, "label": "x"}
    # gr.api placeholders are not found by name; compose constructs them directly.
    assert "_api_info" in inspect.signature(Api.__init__).parameters


def test_root_block_pages_and_current_page_are_what_route_sets() -> None:
    with gr.Blocks() as demo:
        assert Context.root_block is demo
        assert demo.pages == [("", "Home", True)] and demo.current_page == ""
        demo.pages.append(("second", "Second", True))
        demo.current_page = "second"
        box = gr.Textbox()
        demo.current_page = ""
    assert box.page == "second"
    assert demo.get_config_file()["pages"] == [("", "Home", True), ("second", "Second", True)]


def test_set_event_trigger_takes_what_compose_passes() -> None:
    params = set(inspect.signature(BlocksConfig.set_event_trigger).parameters)
    assert {"targets", "fn", "inputs", "outputs", "preprocess", "postprocess", "scroll_to_output", "show_progress",
            "api_name", "api_description", "js", "queue", "batch", "collects_event_data", "trigger_mode",
            "api_visibility", "time_limit", "stream_every", "connection", "cancels", "trigger_after", "no_target",
            "trigger_only_on_success", "trigger_only_on_failure"} <= params
    with gr.Blocks() as demo:
        box = gr.Textbox()
        fn, _ = demo.default_config.set_event_trigger(
            targets=[EventListenerMethod(box, "submit")], fn=lambda x: x, inputs=[box], outputs=[box],
            api_name="echo", api_visibility="undocumented")
        taken, _ = demo.default_config.set_event_trigger(
            targets=[EventListenerMethod(box, "change")], fn=lambda x: x, inputs=[box], outputs=[box],
            api_name="echo")
    assert isinstance(fn._id, int) and fn.api_name == "echo" and fn.api_visibility == "undocumented"
    assert taken.api_name == "echo_1"  # the renaming Rendered.api_names reports


def test_a_renderable_is_made_as_compose_makes_it_and_its_function_is_found_by_it() -> None:
    # compose.ui.mirror mirrors a remote @gr.render with gradio's Renderable (gr.render's own constructor), then
    # turns preprocessing off on the BlockFunction that points back to it; the remote's config marks the render
    # function by render_id.
    params = list(inspect.signature(Renderable.__init__).parameters)
    assert params == ["self", "fn", "inputs", "triggers", "concurrency_limit", "concurrency_id", "trigger_mode",
                      "queue", "show_progress"]
    with gr.Blocks() as demo:
        box = gr.Textbox()
        events = get_blocks_context()
        assert events is demo.default_config
        renderable = Renderable(lambda text: None, [box], [(box, "change")], concurrency_limit=None,
                                concurrency_id=None, trigger_mode="always_last", queue=True, show_progress="full")
    (fn,) = [f for f in demo.default_config.fns.values() if f.renderable is renderable]
    assert fn.preprocess is True and fn.get_config()["render_id"] == renderable._id
    assert isinstance(renderable.container, gr.Column)


def test_move_files_to_cache_gives_a_component_a_file_value_as_its_constructor_would(tmp_path: Path) -> None:
    # compose.ui.mirror gives a mirrored component the remote's file value (fetched, served here) the way
    # gradio.components.base does with an initial value: move_files_to_cache(postprocess=True, keep_in_cache=True).
    fetched = tmp_path / "banner.png"
    fetched.write_bytes(b"png bytes")
    with gr.Blocks():
        image = gr.Image()
    value = processing_utils.move_files_to_cache(
        {"path": str(fetched), "orig_name": "banner.png", "meta": {"_type": "gradio.FileData"}}, image,
        postprocess=True, keep_in_cache=True)
    assert value["path"] != str(fetched) and Path(value["path"]).read_bytes() == b"png bytes"
    assert value["path"] in image.keep_in_cache


def test_event_flags_and_dependency_api_name() -> None:
    with gr.Blocks():
        chat = gr.Chatbot()
        dep = chat.like(lambda: None)
        chat.retry(lambda: None)
        chat.undo(lambda: None)
    assert chat.likeable and chat._retryable and chat._undoable  # type: ignore[attr-defined]
    assert dep["api_name"]


def test_a_dataset_takes_component_instances() -> None:
    with gr.Blocks():
        box = gr.Textbox(label="a")
        data = gr.Dataset(components=[box], samples=[["x"]])
    assert data.get_config()["component_ids"] == [box._id]


def test_audio_to_file_writes_a_wav_of_the_samples_a_default_audio_hands_a_handler(tmp_path: Path) -> None:
    # compose.ui.handler sends a gr.Audio(type="numpy") value, (rate, samples), as the WAV this writes.
    samples = np.arange(-400, 400, dtype=np.int16)
    processing_utils.audio_to_file(8000, samples, str(tmp_path / "a.wav"), format="wav")
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), samples)


def test_an_api_component_reports_the_schema_kept_in_api_info() -> None:
    # compose.agent.registry.mcp_blocks publishes its own schema for each gr.api parameter this way (gradio's MCP
    # server and API page read a parameter's schema from the component's api_info()).
    component = Api(None, {"type": "string"}, "x")
    component._api_info = {"type": "integer", "enum": [1, 2, 3]}
    assert component.api_info() == {"type": "integer", "enum": [1, 2, 3]}


def test_plot_data_is_what_gr_plot_takes_from_a_handler_as_it_is() -> None:
    # compose.ui.handler hands a remote plot ({"type", "plot"}) to an outer gr.Plot as gradio's PlotData.
    from gradio.components.plot import PlotData

    value = PlotData(type="plotly", plot="{}")
    assert gr.Plot().postprocess(value) is value


def test_get_root_url_takes_a_request_its_route_and_a_root_path() -> None:
    # compose.agent.registry makes a served file's URL absolute with it, as gradio's MCP server does.
    from gradio import route_utils

    assert list(inspect.signature(route_utils.get_root_url).parameters) == ["request", "route_path", "root_path"]
