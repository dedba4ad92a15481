"""Space and Endpoint: construction without I/O, src resolution, endpoint descriptions, the schema cache."""

from __future__ import annotations

import json
import typing

import gradio as gr
import pytest
from offline import DEAD, offline_copy

import compose
from compose.apps.processes import free_port, start_space, wait_ready
from compose.schema import _cache_path, read_cached, store_cached
from compose.space import resolve_src

# --- construction and src ----------------------------------------------------------------------------------------


def test_constructing_a_space_does_no_network_io() -> None:
    # Port 1 refuses connections: if the constructor touched the network it would raise here.
    space = compose.Space(DEAD + "/never-contacted", retries=0)
    assert space.url == DEAD + "/never-contacted"
    assert repr(space) == f"<Space {DEAD}/never-contacted>"
    # The first real need of the schema is what reaches out, and fails, for an app that is not there.
    with pytest.raises(compose.SpaceUnavailable):
        _ = space.endpoints


@pytest.mark.parametrize("src", ["not a src", "", "ftp://example.com/app", "owner/name/extra", "https://"])
def test_bad_src_raises_config_error(src: str) -> None:
    with pytest.raises(compose.ConfigError):
        compose.Space(src)


def test_bad_session_mode_raises_config_error() -> None:
    with pytest.raises(compose.ConfigError, match="session"):
        compose.Space(DEAD, session="everyone")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("src", "url"),
    [
        # A Space id's host is the Hub's to say (space_info(...).host), never guessed: tests/test_edge_hub.py.
        ("abidlabs/en2fr", None),
        ("Some.Owner/My_Space", None),
        ("https://huggingface.co/spaces/abidlabs/en2fr", None),
        ("https://hf.co/spaces/abidlabs/en2fr/tree/main", None),
        ("huggingface.co/spaces/abidlabs/en2fr", None),  # as an address bar shows it, with no scheme
        ("abidlabs-en2fr.hf.space/", "https://abidlabs-en2fr.hf.space"),
        ("http://127.0.0.1:7860/", "http://127.0.0.1:7860"),
        ("https://example.com/some/app/", "https://example.com/some/app"),
        # Addresses inside an app, as people copy them (the Space's "Use via MCP" URL, the API info, the config).
        ("https://abidlabs-en2fr.hf.space/gradio_api/mcp/sse", "https://abidlabs-en2fr.hf.space"),
        ("abidlabs-en2fr.hf.space/gradio_api/info", "https://abidlabs-en2fr.hf.space"),
        ("http://127.0.0.1:7860/config", "http://127.0.0.1:7860"),
        ("https://example.com/some/app/gradio_api/info?x=1", "https://example.com/some/app"),
        ("https://abidlabs-en2fr.hf.space/?view=api", "https://abidlabs-en2fr.hf.space"),
    ],
)
def test_resolve_src(src: str, url: str | None) -> None:
    assert resolve_src(src)[1] == url


def test_space_id_keeps_its_name_and_is_resolved_only_on_first_need() -> None:
    space = compose.Space("gradio/hello_world")  # no I/O here
    assert (space.name, space.hub_id) == ("gradio/hello_world", "gradio/hello_world")
    with pytest.raises(compose.ConfigError, match="not resolved"):
        _ = space.url


# --- endpoints -----------------------------------------------------------------------------------------------------


def test_endpoints_lists_the_public_named_endpoints(urls: dict[str, str]) -> None:
    space = compose.Space(urls["calculator"])
    eps = space.endpoints
    assert set(eps) == {"/calculate", "/stats"}
    assert all(isinstance(ep, compose.Endpoint) and ep.api_name == name for name, ep in eps.items())
    assert set(compose.Space(urls["diagnostics"]).endpoints) == {"/whoami", "/increment", "/ping"}


def test_endpoint_by_name_with_or_without_slash(urls: dict[str, str]) -> None:
    space = compose.Space(urls["translator"])
    assert space.endpoint("translate").api_name == "/translate"
    assert space.endpoint("/translate").predict("thank you") == "merci"


def test_unknown_endpoint_lists_available_ones(urls: dict[str, str]) -> None:
    space = compose.Space(urls["calculator"])
    with pytest.raises(compose.ConfigError) as e:
        space.endpoint("/nope")
    assert "/nope" in str(e.value)
    assert "/calculate" in str(e.value) and "/stats" in str(e.value)


def test_endpoint_description_comes_from_the_remote_docstring(urls: dict[str, str]) -> None:
    ep = compose.Space(urls["calculator"]).endpoint("/calculate")
    assert ep.description == "Apply an arithmetic operation to two numbers."


@pytest.fixture(scope="module")
def mcp_translator() -> typing.Iterator[str]:
    """The translator launched as an MCP server too (GRADIO_MCP_SERVER), as many Spaces are."""
    process, temp_dir, _ = start_space("translator", env={"GRADIO_MCP_SERVER": "True"})
    running = wait_ready("translator", process, temp_dir, timeout=120)
    yield running.url
    running.stop()


def test_parameter_descriptions_come_from_the_remote_docstring(mcp_translator: str) -> None:
    """Each parameter's "Args:" line reaches Parameter.description (and so an agent's tool inputs)."""
    params = {p.name: p for p in compose.Space(mcp_translator).endpoint("/translate").parameters}
    assert params["text"].description == "the English text to translate."
    assert params["target_language"].description == "the language to translate into."
    tool = compose.Space(mcp_translator).endpoint("/translate").tool()
    assert tool.inputs["text"]["description"].startswith("the English text to translate.")


def test_parameters_names_annotations_defaults_and_radio_choices(urls: dict[str, str]) -> None:
    ep = compose.Space(urls["calculator"]).endpoint("/calculate")
    params = ep.parameters
    assert [p.name for p in params] == ["a", "operation", "b"]
    a, op, b = params
    assert (a.annotation, a.default, a.required, a.component) == (float, 12, False, "Number")
    assert (b.default, b.required) == (7, False)
    assert op.component == "Radio"
    assert op.default == "add" and not op.required
    assert typing.get_origin(op.annotation) is typing.Literal
    assert typing.get_args(op.annotation) == ("add", "subtract", "multiply", "divide")
    choices = [c[1] if isinstance(c, (list, tuple)) else c for c in op.component_config["choices"]]
    assert choices == ["add", "subtract", "multiply", "divide"]
    assert op.choices == ["add", "subtract", "multiply", "divide"]
    assert op.json_schema["enum"] == ["add", "subtract", "multiply", "divide"]
    assert a.choices is None


def test_required_parameter_and_datetime_config(urls: dict[str, str]) -> None:
    ep = compose.Space(urls["media"]).endpoint("/add_days")
    when, days = ep.parameters
    assert when.name == "when" and when.required and when.default is None
    assert when.component == "Datetime"
    assert when.component_config["include_time"] is True
    assert days.name == "days" and not days.required and days.default == 1


def test_dataframe_parameter_headers(urls: dict[str, str]) -> None:
    (table,) = compose.Space(urls["media"]).endpoint("/totals").parameters
    assert table.name == "table"
    assert table.component == "Dataframe"
    assert table.component_config["headers"] == ["item", "quantity", "price"]
    assert table.default["data"] == [["apple", 3, 0.5]]


def test_slider_bounds_and_streams_flag(urls: dict[str, str]) -> None:
    space = compose.Space(urls["streaming"])
    count_up = space.endpoint("/count_up")
    n, delay = count_up.parameters
    assert n.component == "Slider"
    assert (n.component_config["minimum"], n.component_config["maximum"]) == (1, 50)
    assert (delay.component_config["minimum"], delay.component_config["maximum"]) == (0, 2)
    assert (n.default, delay.default) == (5, 0.2)
    assert count_up.streams is True
    assert space.endpoint("/long_job").streams is False
    assert space.endpoint("/job_log").streams is False
    assert compose.Space(urls["translator"]).endpoint("/translate").streams is False


def test_file_parameters_are_marked_as_files(urls: dict[str, str]) -> None:
    space = compose.Space(urls["media"])
    (image,) = space.endpoint("/invert").parameters
    assert image.is_file and image.required and image.component == "Image"
    assert [r.is_file for r in space.endpoint("/invert").returns] == [True, False]
    (table,) = space.endpoint("/totals").parameters
    assert not table.is_file


def test_returns_labels_and_components(urls: dict[str, str]) -> None:
    space = compose.Space(urls["calculator"])
    stats = space.endpoint("/stats").returns
    assert [r.label for r in stats] == ["Sum", "Mean", "Max"]
    assert {r.component for r in stats} == {"Number"}
    assert [r.label for r in compose.Space(urls["translator"]).endpoint("/translate").returns] == ["Translation"]


def test_state_is_neither_parameter_nor_result(urls: dict[str, str]) -> None:
    space = compose.Space(urls["diagnostics"])
    inc = space.endpoint("/increment")
    assert inc.parameters == ()
    assert [r.label for r in inc.returns] == ["Count"]
    assert inc.returns[0].annotation is int
    # What a user notices: the call takes no arguments and returns a plain int, not (count, state).
    first = inc.predict()
    assert isinstance(first, int) and inc.predict() == first + 1
    assert space.endpoint("/ping").returns == ()
    assert [r.label for r in space.endpoint("/whoami").returns] == ["x-ip-token", "Session"]


# --- schema cache --------------------------------------------------------------------------------------------------


def test_schema_is_cached_on_disk_and_reused_without_network(urls: dict[str, str]) -> None:
    live = urls["translator"]
    compose.Space(live).load()
    path = _cache_path(live)
    assert path.is_file()
    body = json.loads(path.read_text())
    assert body["url"] == live and "/translate" in body["info"]["named_endpoints"]

    # A fresh Space for an address where nothing listens still knows its endpoints: they came from disk.
    dead = offline_copy(live, "translator-cache")
    offline = compose.Space(dead, retries=0)
    assert set(offline.endpoints) == {"/translate", "/word_count"}
    assert offline.endpoint("/translate").parameters[1].choices == ["French", "Spanish", "German"]
    # ... and it really is offline: a call fails to connect.
    with pytest.raises(compose.SpaceUnavailable):
        offline.endpoint("/word_count").predict("a b")


def test_schema_cache_is_bound_to_its_url(urls: dict[str, str]) -> None:
    live = urls["calculator"]
    compose.Space(live).load()
    # A cache file copied under another URL's name is not trusted for that URL.
    other = f"{DEAD}/copied-file"
    _cache_path(other).write_bytes(_cache_path(live).read_bytes())
    assert read_cached(other, max_age=3600) is None
    # A corrupt cache file is ignored rather than failing the Space.
    _cache_path(other).write_text("{not json")
    assert read_cached(other, max_age=3600) is None
    # An expired one too.
    assert read_cached(live, max_age=-1) is None


def test_stale_cache_is_used_until_refresh_rereads_the_app(urls: dict[str, str]) -> None:
    # Same app, another spelling of its address (its own cache entry), so other tests never see the edit.
    url = urls["calculator"].replace("127.0.0.1", "localhost")
    compose.Space(url).load()
    cached = read_cached(url, max_age=3600)
    assert cached is not None
    config, info, _ = cached
    # Pretend the app used to describe /calculate differently when it was cached.
    info = json.loads(json.dumps(info))
    info["named_endpoints"]["/calculate"]["description"] = "an old description"
    store_cached(url, config, info)

    space = compose.Space(url)
    assert space.endpoint("/calculate").description == "an old description"  # served from disk
    assert space.refresh() is space
    assert space.endpoint("/calculate").description == "Apply an arithmetic operation to two numbers."
    # The disk cache was replaced too: a brand-new Space sees the fresh schema.
    assert compose.Space(url).endpoint("/calculate").description == "Apply an arithmetic operation to two numbers."


def test_an_endpoint_missing_from_a_cached_schema_is_looked_for_in_the_app(urls: dict[str, str]) -> None:
    # The translator's address (another spelling, its own cache entry), cached when another app answered there (a
    # reused port, a redeploy): the endpoint asked for is not in the cached schema, but the app has it.
    url = urls["translator"].replace("127.0.0.1", "localhost")
    other = compose.Space(urls["calculator"].replace("127.0.0.1", "localhost"))
    other.load()
    stale = read_cached(other.url, max_age=3600)
    assert stale is not None
    store_cached(url, *stale[:2])

    # Trusted as confirmed by the app within the window (here a long one, so that no check intervenes).
    space = compose.Space(url, limits=compose.Limits(schema_check_every=3600))
    assert set(space.endpoints) == {"/calculate", "/stats"}  # served from disk, as cached
    assert space.endpoint("/word_count").predict("one two three") == 3
    assert set(space.endpoints) == {"/translate", "/word_count"}  # the app's own, now in memory and on disk
    assert set(compose.Space(url).endpoints) == {"/translate", "/word_count"}
    # An endpoint the app does not have either is still the clear ConfigError.
    with pytest.raises(compose.ConfigError, match="no public endpoint '/calculate'"):
        space.endpoint("/calculate")


def test_a_cached_schema_older_than_the_window_is_checked_against_the_running_app() -> None:
    # A developer's local app, changed and restarted on its usual port: the composed app started next must render
    # and wire the app as it is now, not as the disk cache last saw it (before, render() and endpoints showed the
    # old API until the first call; a handler's signature and tools kept it).
    port = free_port()

    def launch(api_name: str) -> gr.Blocks:
        with gr.Blocks() as demo:
            text, out = gr.Textbox(), gr.Textbox()
            gr.Button().click(str.upper, text, out, api_name=api_name)
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        return demo

    url = f"http://127.0.0.1:{port}"
    first = launch("shout")
    try:
        assert set(compose.Space(url).endpoints) == {"/shout"}  # fetched, and cached on disk
        before = read_cached(url, max_age=3600)
        assert before is not None
    finally:
        first.close()
    second = launch("yell")
    try:
        # Older than the window (0 here, a stand-in for the 2 s default having passed): the app's id is asked first.
        space = compose.Space(url, limits=compose.Limits(schema_check_every=0))
        with gr.Blocks():
            assert set(space.render().api_names) == {"/yell"}
        assert set(space.endpoints) == {"/yell"}
        assert space.endpoint("/yell").predict("hi") == "HI"
        # A schema already read from disk (listed first: no I/O) is checked too before a handler is built on it.
        store_cached(url, *before[:2])
        listed = compose.Space(url, limits=compose.Limits(schema_check_every=0))
        shout = listed.endpoint("/shout")  # as the disk says, nothing asked yet
        with pytest.raises(compose.ConfigError, match="no public endpoint '/shout'"):
            shout.handler()
        assert set(listed.endpoints) == {"/yell"}
        # The cache now holds the running app's schema, for the next process too.
        assert set(compose.Space(url, limits=compose.Limits(schema_check_every=3600)).endpoints) == {"/yell"}
    finally:
        second.close()
    # An app that does not answer leaves the cached schema standing (a sleeping Space is not woken for it).
    gone = compose.Space(url, retries=0, limits=compose.Limits(schema_check_every=0))
    assert set(gone.confirm_schema().endpoints) == {"/yell"}


async def test_aload_from_async_code(urls: dict[str, str]) -> None:
    space = compose.Space(urls["calculator"])
    assert await space.aload() is space
    assert set(space.endpoints) == {"/calculate", "/stats"}


def test_duplicate_needs_a_token_and_a_space_id_before_any_network() -> None:
    with pytest.raises(compose.ConfigError, match="token"):
        compose.Space.duplicate("owner/name")
    with pytest.raises(compose.ConfigError, match="Space id"):
        compose.Space.duplicate("http://127.0.0.1:1", token="hf_x")


def test_a_space_id_is_what_the_hub_accepts() -> None:
    # One rule (compose.space.is_space_id) for resolve_src, Space.duplicate and `compose deploy`; the Hub's own.
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]

    from compose.space import is_space_id

    def hub_accepts(text: str) -> bool:
        try:
            validate_repo_id(text)
        except HFValidationError:
            return False
        return text.count("/") == 1

    samples = ["owner/name", "owner/_x", "a/b.c", "Org-1/my_app.v2", "owner/-x", "owner/x-", "owner/x.", "-a/b",
               "owner/na--me", "owner/a..b", "x", "a/b/c", "owner/" + "a" * 96, "owner/" + "a" * 97, "owner/",
               "/name", "owner/ná", "own er/x"]
    assert {s: is_space_id(s) for s in samples} == {s: hub_accepts(s) for s in samples}
