"""The conformance corpus (tests/corpus/): every app checked three ways against a direct gradio_client call.

1. Whole-app render: `space.render()` in an outer app, served; its config keeps the remote's components (types,
   order, labels, choices, props), pages, title, and its API keeps the remote's endpoints, parameter names and
   visibility; each case called on the outer app answers what the remote answers.
2. Each public endpoint's `render()` in the same outer app (so its api_names show the renaming).
3. Each public endpoint's tool: its value equals the direct call's, `to_dict()` rebuilds, and its OpenAI (plain and
   strict) and MCP schemas are valid JSON Schema and strict-compatible.

All corpus apps run in one server process (tests/corpus/serve.py); each test launches one outer app.
"""

from __future__ import annotations

import copy
import io
import re
from typing import Any

import gradio as gr
import httpx
import numpy as np
import pytest
from corpus import APPS, cases
from corpus import OAUTH_ENV as CORPUS_OAUTH_ENV
from fault_server import FaultServer
from gradio_client import Client
from jsonschema import Draft202012Validator
from outer import raw_events, serve
from PIL import Image
from strict import strict_problems

import compose
from compose.schema import output_labels
from compose.ui.mirror import DYNAMIC_NOTICE, build


def direct(url: str) -> Client:
    return Client(url, verbose=False, download_files=False)


def _layout(config: dict[str, Any], node: dict[str, Any], out: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    comps = {c["id"]: c for c in config["components"]}
    for child in node.get("children", []):
        props = comps[child["id"]]["props"]
        kind = comps[child["id"]]["type"]
        out.append((kind, str(props.get("label")), str(props.get("choices")), props.get("visible"),
                    str(props.get("value")) if kind in ("dropdown", "radio", "slider", "number", "textbox") else "",
                    props.get("minimum"), props.get("maximum"), props.get("interactive"), props.get("likeable"),
                    props.get("_retryable"), props.get("_undoable")))
        _layout(config, child, out)
    return out


def _expected(items: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # Remote gr.HTML is shown as sanitized Markdown (its js_on_load and raw markup must not run here).
    return [("markdown", *rest[:7], None, None, None) if kind == "html" else (kind, *rest) for kind, *rest in items]


def _visibility(config: dict[str, Any]) -> dict[str, str]:
    return {d["api_name"]: d.get("api_visibility", "public") for d in config["dependencies"]
            if isinstance(d.get("api_name"), str)}


def _named(info: dict[str, Any]) -> dict[str, list[tuple[str, bool, Any]]]:
    return {name: [(p["parameter_name"], p["parameter_has_default"], p["parameter_default"])
                   for p in ep["parameters"]] for name, ep in info["named_endpoints"].items()}


@pytest.mark.parametrize("name", APPS)
def test_rendered_app_and_endpoints_match_the_remote(corpus_url: str, name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"{corpus_url}/{name}"
    if name == "login":
        # The outer app mirrors the LoginButton, so it needs OAuth as a Space has it (see conftest).
        for key in ("SYSTEM", "SPACE_ID"):
            monkeypatch.setenv(key, CORPUS_OAUTH_ENV[key])
    calls: dict[str, list[dict[str, Any]]] = cases(name)
    remote_config = httpx.get(f"{url}/config").json()
    remote_info = httpx.get(f"{url}/gradio_api/info").json()
    space = compose.Space(url)
    with gr.Blocks() as demo:
        whole = space.render()
        singles = {api: ep.render() for api, ep in space.endpoints.items()}
    with serve(demo) as outer_url:
        config = httpx.get(f"{outer_url}/config").json()
        info = httpx.get(f"{outer_url}/gradio_api/info").json()
        # Components, in order, with what a user sees of them; the whole app comes first in the outer layout.
        remote_items = _expected(_layout(remote_config, remote_config["layout"], []))
        outer_items = _layout(config, config["layout"], [])
        assert outer_items[: len(remote_items)] == remote_items
        assert [p[1:] for p in config["pages"]] == [p[1:] for p in remote_config["pages"]]
        assert config["title"] == remote_config["title"]
        assert config["fill_height"] == remote_config["fill_height"]
        # No component of ours points at the remote: files are served by the outer app.
        assert not [c for c in config["components"] if c["props"].get("proxy_url")]
        # Every remote endpoint keeps its visibility and (for documented ones) its parameter names and defaults.
        outer_vis = _visibility(config)
        for remote_name, vis in _visibility(remote_config).items():
            assert outer_vis[whole.api_names[f"/{remote_name}"].strip("/")] == vis, remote_name
        # ep.render() mirrors each input with the remote's initial value (and none where the remote has none: a
        # Dropdown without a value stays empty, never its first choice; a remote file is never a value of ours).
        outer_props = {c["id"]: c["props"] for c in config["components"]}
        remote_props = {c["id"]: c["props"] for c in remote_config["components"]}
        for api, single_ui in singles.items():
            schema = space.endpoints[api].schema
            remote_ids = [i for i, slot in zip(schema.input_ids, schema.input_slots, strict=True) if slot is not None]
            for component, remote_id, p in zip(single_ui.inputs, remote_ids, schema.parameters, strict=True):
                expected_value = None if p.is_file else remote_props[remote_id].get("value")
                assert outer_props[component._id].get("value") == expected_value, (api, p.name)
        remote_named, outer_named = _named(remote_info), _named(info)
        for api, params in remote_named.items():
            assert outer_named[whole.api_names[api]] == params, api
            single = singles[api].api_names[api]
            assert single != whole.api_names[api]  # the second render of a name got gradio's next free one
            assert [p[0] for p in outer_named[single]] == [p[0] for p in params]
        # Each case: the remote's own answer, through the whole-app render and through ep.render().
        # Three users, one per path: each has a session of its own upstream, so a stateful app's state grows
        # alike on each path.
        remote, through_whole, through_single = direct(url), direct(outer_url), direct(outer_url)
        for api, each in calls.items():
            for kwargs in each:
                expected = remote.predict(**kwargs, api_name=api)
                assert through_whole.predict(**kwargs, api_name=whole.api_names[api]) == expected, (api, kwargs)
                assert through_single.predict(**kwargs, api_name=singles[api].api_names[api]) == expected, (
                    api, kwargs)


def _shaped(ep: compose.Endpoint, value: Any) -> Any:
    """A direct client's result in tool form: several outputs → a dict keyed by the output labels."""
    if len(ep.returns) > 1:
        return dict(zip(output_labels(ep.returns), value, strict=True))
    return value


@pytest.mark.parametrize("name", APPS)
def test_tools_answer_as_the_remote_and_their_schemas_are_valid(corpus_url: str, name: str) -> None:
    url = f"{corpus_url}/{name}"
    space = compose.Space(url)
    registry = compose.ToolRegistry()
    names = registry.add(space)
    assert len(set(names)) == len(space.endpoints)
    for entry in registry.openai_tools() + registry.openai_tools(strict=True):
        Draft202012Validator.check_schema(entry["function"]["parameters"])
        assert "runs on the Space" not in entry["function"]["description"]
    for entry in registry.openai_tools(strict=True):
        assert entry["function"]["strict"] is True
        assert strict_problems(entry["function"]["parameters"]) == [], entry["function"]["name"]
    remote = direct(url)
    for tool_name in names:
        tool = registry.tool(tool_name)
        code = tool.to_dict()["code"]
        namespace: dict[str, Any] = {}
        exec(compile(code, f"<{tool_name}>", "exec"), namespace)  # the saved tool is valid Python
        for kwargs in cases(name).get(tool.endpoint.api_name, []):
            expected = _shaped(tool.endpoint, remote.predict(**kwargs, api_name=tool.endpoint.api_name))
            assert tool(**kwargs, sanitize_inputs_outputs=False) == expected, (tool_name, kwargs)


def test_remote_validators_name_each_parameter_on_every_surface(corpus_url: str) -> None:
    url = f"{corpus_url}/validators"
    (kwargs, expected), = cases("validators", "INVALID")["/describe"]
    ep = compose.Space(url).endpoint("/describe")
    with pytest.raises(compose.InvalidArguments) as caught:
        ep.predict(**kwargs)
    assert caught.value.problems == list(expected.items())
    text = str(caught.value)
    assert "2 parameter(s) failed validation:" in text
    assert all(f"- {name}: {message}" in text for name, message in expected.items())
    # The same words from a tool (what an agent reads) and through the outer app (what a user sees).
    with pytest.raises(compose.InvalidArguments) as from_tool:
        ep.tool()(**kwargs)
    assert str(from_tool.value) == text
    with gr.Blocks() as demo:
        ep.render()
    with serve(demo) as outer_url, pytest.raises(Exception) as through:
        direct(outer_url).predict(**kwargs, api_name="/describe")
    assert all(f"- {name}: {message}" in str(through.value) for name, message in expected.items())


def test_i18n_labels_make_tools_and_schemas(corpus_url: str) -> None:
    registry = compose.ToolRegistry()
    registry.add(compose.Space(f"{corpus_url}/i18n_labels"))
    (tool,) = registry.tools()
    # The translation key stands in for a translated label; nothing crashes on the dict gradio sends.
    assert {spec["description"] for spec in tool.inputs.values()} >= {"name."}  # the key, read as a sentence
    assert registry.openai_tools(strict=True)[0]["function"]["parameters"]["required"] == ["n", "lg"]


def test_remote_markup_and_js_never_run_in_the_composing_app(corpus_url: str) -> None:
    space = compose.Space(f"{corpus_url}/markup")
    with gr.Blocks() as demo:
        space.render()
    config = demo.get_config_file()
    comps = config["components"]
    # No remote code reaches the page: no js_on_load, no gr.HTML rendering raw markup, no event frontend js.
    assert not [c for c in comps if c["props"].get("js_on_load") or c["type"] == "html"]
    assert all(c["props"]["sanitize_html"] for c in comps if c["type"] in ("markdown", "chatbot"))
    assert not [d for d in config["dependencies"] if d.get("js")]
    # Trusted on purpose, the remote's JS and gr.HTML come along.
    with gr.Blocks() as trusted:
        space.render(trust_remote_js=True)
    trusted_config = trusted.get_config_file()
    assert [c for c in trusted_config["components"] if c["props"].get("js_on_load") == "window.__pwned = 2;"]
    assert [d for d in trusted_config["dependencies"] if d.get("js")]


def test_a_remote_file_value_never_names_a_file_of_ours(tmp_path: Any) -> None:
    from compose.ui.mirror import make_component

    secret = tmp_path / "secret.txt"
    secret.write_text("ours")
    remote = {"id": 1, "type": "file", "props": {"name": "file", "label": "Result", "value": {
        "path": str(secret), "url": None, "orig_name": "secret.txt", "meta": {"_type": "gradio.FileData"}}}}
    component = make_component(remote)
    assert component.value is None  # type: ignore[union-attr]
    image = make_component({"id": 2, "type": "image", "props": {"name": "image", "value": {
        "path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}}})
    assert image.value is None  # type: ignore[union-attr]
    # Nor an example's file in an examples table.
    with gr.Blocks():
        examples = make_component({"id": 3, "type": "dataset", "props": {
            "name": "dataset", "components": [{"name": "file", "class_id": "x"}], "component_ids": [1],
            "samples": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}]]}}, known={1: component})
    assert str(secret) not in str(examples.get_config())


def test_mcp_schemas_of_the_whole_corpus_are_valid_and_on_par_with_gradios_own(corpus_url: str) -> None:
    registry = compose.ToolRegistry()
    for name in APPS:
        registry.add(compose.Space(f"{corpus_url}/{name}"))
    names = registry.names()
    # Unique and readable without numbering: each name starts with its app's name (title or path), never "space_".
    # (registry.add numbers a name only on a collision: "_2", "_3", ...)
    assert not [n for n in names if n.startswith("space_") or re.search(r"_\d+$", n)]
    assert "toy_calculator_predict" in names and "hello_world_greet" in names
    demo = registry.mcp_blocks()
    demo.queue(default_concurrency_limit=None).launch(mcp_server=True, prevent_thread_lock=True,
                                                      server_name="127.0.0.1", quiet=True)
    try:
        ours = {t["name"]: t for t in httpx.get(demo.local_url.rstrip("/") + "/gradio_api/mcp/schema").json()}
    finally:
        demo.close()
    assert sorted(ours) == sorted(names)
    for tool in ours.values():
        Draft202012Validator.check_schema(tool["inputSchema"])
        assert "runs on the Space" not in tool["description"]
    # Against gradio's own MCP server for the same app: the same descriptions, and choices as an enum.
    (theirs,) = httpx.get(f"{corpus_url}/mcp_docstrings/gradio_api/mcp/schema").json()
    mine = ours["mcp_docstrings_convert"]
    assert mine["description"].startswith("Converts a distance in metres to another unit.")
    for key, prop in theirs["inputSchema"]["properties"].items():
        assert mine["inputSchema"]["properties"][key]["description"] == prop["description"], key
    assert mine["inputSchema"]["properties"]["unit"]["enum"] == ["km", "mi", "ft", None]  # optional: null too
    # Without MCP on the remote, the docstring still comes from its API info.
    assert ours["hello_world_greet"]["description"].startswith("Greets someone, enthusiastically.")


def test_two_spaces_with_the_same_api_names_and_navbars_render_together(corpus_url: str) -> None:
    with gr.Blocks() as demo:
        gr.Navbar(value=[("Ours", "https://example.com")])
        first = compose.Space(f"{corpus_url}/calculator").render()
        second = compose.Space(f"{corpus_url}/sentence_builder").render()
        navbar = compose.Space(f"{corpus_url}/navbar").render()
    assert first.api_names["/predict"] == "/predict"
    assert second.api_names["/predict"] == "/predict_1"  # gradio's next free name, reported
    assert navbar.pages == ["settings"] and navbar.api_names["/double"] == "/double"
    demo.validate_navbar_settings()  # one Navbar per page: ours on the home page, the remote's dropped there
    config = demo.get_config_file()
    navbars = [c for c in config["components"] if c["type"] == "navbar"]
    assert [n["props"]["value"] for n in navbars] == [[["Ours", "https://example.com"]]]


def _render_split() -> gr.Blocks:
    # gradio's demo/render_split, with the events a rendered part usually has: each word a Textbox and a Button
    # whose click updates a component outside the part; and a per-session count the part shows.
    with gr.Blocks() as remote:
        words = gr.Textbox(label="Words", value="hello there")
        count = gr.State(0)
        used = gr.Textbox(label="Used")

        @gr.render(inputs=[words, count])
        def split(text: str, n: int) -> None:
            gr.Markdown(f"bumped {n} times")
            for word in text.split():
                with gr.Row():
                    box = gr.Textbox(value=word, label="word")
                    gr.Button(f"Use {word}").click(lambda w: f"used {w}", box, used)

        gr.Button("Bump").click(lambda n: n + 1, count, count, api_name="bump")
    return remote


def _completed(events: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    done = [msg for _, msg in events if msg.get("msg") == "process_completed"]
    assert done and done[0]["success"], events
    return dict(done[0]["output"])


def test_a_part_built_by_gr_render_is_built_per_user_and_its_events_reach_the_remote() -> None:
    # A @gr.render part's components and events come with each run's answer, not in the config: the outer app
    # runs the remote's render function for the user whose page asks, builds what it made, and wires its events
    # to the remote's (kept in that user's upstream session). Driven as a browser drives it: the render event by
    # its id, then an event of the part it made.
    with serve(_render_split()) as url:
        space = compose.Space(url)
        with gr.Blocks() as demo:
            whole = space.render()
        with serve(demo) as outer_url:
            config = httpx.get(f"{outer_url}/config").json()
            (render,) = [d["id"] for d in config["dependencies"] if d.get("render_id") is not None]
            for _ in range(2):
                raw_events(outer_url, whole.api_names["/bump"], [None], session="ada")
            part = _completed(raw_events(outer_url, render, ["x y z", None], session="ada"))["render_config"]
            comps = {c["id"]: c for c in part["components"]}
            shown = [c["props"].get("value") for c in part["components"] if c["type"] in ("markdown", "textbox")]
            assert shown == ["bumped 2 times", "x", "y", "z"]  # her own session's count
            button = next(i for i, c in comps.items() if c["props"].get("value") == "Use y")
            (click,) = [d for d in part["dependencies"] if [button, "click"] in d["targets"]]
            assert _completed(raw_events(outer_url, click["id"], ["why"], session="ada"))["data"] == ["used why"]
            other = _completed(raw_events(outer_url, render, ["p", None], session="bob"))["render_config"]
            assert [c["props"].get("value") for c in other["components"] if c["type"] in ("markdown", "textbox")] \
                == ["bumped 0 times", "p"]
            # Ada's part still answers after Bob's run: each user's events live in their own upstream session.
            assert _completed(raw_events(outer_url, click["id"], ["again"], session="ada"))["data"] == ["used again"]
        space.close()


def _file_urls(config: dict[str, Any], label: str) -> list[tuple[str, Any]]:
    """(url, caption or None) of each file in the value of the (first) component labelled `label`."""
    comp = next(c for c in config["components"] if c["props"].get("label") == label)  # the first one
    value = comp["props"].get("samples" if comp["type"] == "dataset" else "value")  # an examples table: its samples
    items = value if isinstance(value, list) else [value]
    items = [x for row in items for x in row] if comp["type"] == "dataset" else items
    found = []
    for item in items:
        if isinstance(item, dict) and "image" in item:  # a Gallery's {"image": FileData, "caption": ...}
            found.append((item["image"]["url"], item.get("caption")))
        elif isinstance(item, dict) and item.get("url"):
            found.append((item["url"], None))
    return found


def test_the_remote_layouts_own_files_are_fetched_and_served_by_the_outer_app(tmp_path: Any) -> None:
    # A banner image, a document offered for download, a gallery with captions, an examples table's pictures: part
    # of the app's layout (their values are in its config), shown through compose as on the remote, each file
    # served by the outer app. And in a @gr.render part, an image it shows.
    doc = tmp_path / "guide.txt"
    doc.write_text("read me first")
    example = tmp_path / "example.png"
    Image.fromarray(np.full((8, 8, 3), 30, dtype=np.uint8)).save(example)
    with gr.Blocks() as remote:
        banner = gr.Image(value=np.full((6, 6, 3), 200, dtype=np.uint8), label="banner")
        gr.Examples([[str(example)]], inputs=banner, label="pictures")
        gr.Button().click(lambda image: image.shape[0], banner, gr.Number(), api_name="height")
        gr.File(value=str(doc), label="guide")
        gr.Gallery(value=[(np.zeros((3, 3, 3), dtype=np.uint8), "black"), (np.full((3, 3, 3), 255, np.uint8), "white")],
                   label="swatches")
        shade = gr.Number(value=77, label="shade")

        @gr.render(inputs=shade)
        def swatch(level: float) -> None:
            gr.Image(value=np.full((5, 5, 3), int(level), dtype=np.uint8), label="swatch")

    with serve(remote) as url:
        space = compose.Space(url)
        with gr.Blocks() as demo:
            space.render()
            single = space.endpoint("/height").render()  # its input starts with the remote's picture too
        with serve(demo) as outer_url:
            theirs, ours = httpx.get(f"{url}/config").json(), httpx.get(f"{outer_url}/config").json()
            (preloaded,) = [c for c in ours["components"] if c["id"] == single.inputs[0]._id]
            (remote_banner, _), = _file_urls(theirs, "banner")
            assert preloaded["props"]["value"]["url"].startswith(f"{outer_url}/")
            assert httpx.get(preloaded["props"]["value"]["url"]).content == httpx.get(remote_banner).content
            for label in ("banner", "guide", "swatches", "pictures"):
                remote_files, outer_files = _file_urls(theirs, label), _file_urls(ours, label)
                assert [c for _, c in outer_files] == [c for _, c in remote_files] and outer_files, label
                for (remote_at, _), (outer_at, _) in zip(remote_files, outer_files, strict=True):
                    assert outer_at.startswith(f"{outer_url}/")  # served here, never a link to the remote
                    assert httpx.get(outer_at).content == httpx.get(remote_at).content, label
            render = next(d["id"] for d in ours["dependencies"] if d.get("render_id") is not None)
            part = _completed(raw_events(outer_url, render, [120]))["render_config"]
            (image,) = [c for c in part["components"] if c["type"] == "image"]
            assert image["props"]["value"]["url"].startswith(f"{outer_url}/")
            shown = Image.open(io.BytesIO(httpx.get(image["props"]["value"]["url"]).content)).convert("RGB")
            assert all(abs(channel - 120) <= 2 for channel in shown.getpixel((2, 2)))  # the shade this run asked for
        space.close()


def test_a_file_in_the_remote_layout_is_fetched_from_the_remote_never_read_from_our_disk(tmp_path: Any) -> None:
    # A remote config whose file value names a path that exists on our disk: what the outer app shows is what the
    # remote serves at that path, never our file.
    secret = tmp_path / "secret.txt"
    secret.write_text("ours")
    with gr.Blocks() as app:
        shown = gr.File(label="doc")
    shown.value = {"path": str(secret), "url": None, "orig_name": "secret.txt", "meta": {"_type": "gradio.FileData"}}
    with FaultServer(app=app) as server:
        server.files[str(secret)] = b"theirs"
        space = compose.Space(server.url)
        with gr.Blocks() as demo:
            space.render()
        with serve(demo) as outer_url:
            (url, _), = _file_urls(httpx.get(f"{outer_url}/config").json(), "doc")
            assert url.startswith(f"{outer_url}/") and httpx.get(url).content == b"theirs"
        space.close()


def test_a_gr_render_run_making_too_many_components_is_refused() -> None:
    # Bounded as a schema is (Limits.max_endpoints, 10× that many components): the outer app would build every
    # component a run lists, for every run of every user.
    with serve(_render_split()) as url:
        space = compose.Space(url, limits=compose.Limits(max_endpoints=2))
        with gr.Blocks() as demo:
            space.render()
        with serve(demo) as outer_url:
            config = httpx.get(f"{outer_url}/config").json()
            (render,) = [d["id"] for d in config["dependencies"] if d.get("render_id") is not None]
            few = _completed(raw_events(outer_url, render, ["a b", None]))["render_config"]
            assert len(few["components"]) < 30
            events = raw_events(outer_url, render, [" ".join(["w"] * 20), None])
            (done,) = [msg for _, msg in events if msg.get("msg") == "process_completed"]
            error = done["output"]["error"]
            assert not done["success"] and "@gr.render made 20 dependencies, over the limit of 2" in error
        space.close()


def test_a_gr_render_part_that_cannot_be_mirrored_shows_a_notice_and_calls_nothing() -> None:
    # Its input is a component the outer app does not have (here: left out of the config), so no local render
    # function can run it: a notice stands in its place and nothing is wired into it.
    with serve(_render_split()) as url:
        space = compose.Space(url)
        config = copy.deepcopy(space.schema.config)
        (dep,) = [d for d in config["dependencies"] if d.get("render_id") is not None]
        config["components"] = [c for c in config["components"] if c["id"] != dep["inputs"][0]]
        with gr.Blocks() as demo:
            made = build(config, [None] * len(config["dependencies"]))
        container = made.blocks[dep["outputs"][0]]
        with serve(demo) as outer_url:
            outer = httpx.get(f"{outer_url}/config").json()
            comps = {c["id"]: c for c in outer["components"]}
            layout = [n for n in _nodes(outer["layout"]) if n["id"] == container._id]
            assert [comps[c["id"]]["props"]["value"] for c in layout[0]["children"]] == [DYNAMIC_NOTICE]
            assert not [d for d in outer["dependencies"] if container._id in d["outputs"]]
        space.close()


def _nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    return [tree, *(n for child in tree.get("children", []) for n in _nodes(child))]
