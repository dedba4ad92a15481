"""The Gradio side: remote endpoints as local components and handlers, live and per user, through a real hop.

Real servers on 127.0.0.1 everywhere: the upstream apps from spaces/, an outer app built with compose, and end
users simulated with gradio_client (or a raw queue client where a test needs each message's arrival time).
"""

from __future__ import annotations

import collections
import concurrent.futures
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError as ClientAppError
from jobs import wait_for_state
from outer import raw_events, serve

import compose
from compose import sessions
from compose.apps.processes import free_port


@pytest.fixture(scope="module")
def outer(urls: dict[str, str]) -> Iterator[str]:
    """One outer app wiring handlers and rendered endpoints of several upstream Spaces."""
    dg, st = compose.Space(urls["diagnostics"], forward_headers=("x-ip-token",)), compose.Space(urls["streaming"])
    calc, tr, md = compose.Space(urls["calculator"]), compose.Space(urls["translator"]), compose.Space(urls["media"])
    with gr.Blocks() as demo:
        tok, sess = gr.Textbox(), gr.Textbox()
        gr.Button().click(dg.endpoint("/whoami").handler(), None, [tok, sess], api_name="whoami")
        count = gr.Number()
        gr.Button().click(dg.endpoint("/increment").handler(), None, count, api_name="increment")
        n, delay, counted = gr.Number(), gr.Number(), gr.Textbox()
        gr.Button().click(st.endpoint("/count_up").handler(), [n, delay], counted, api_name="count_up")
        seconds, done = gr.Number(), gr.Textbox()
        gr.Button().click(st.endpoint("/long_job").handler(), seconds, done, api_name="long_job")
        calc.endpoint("/calculate").render()
        tr.endpoint("/translate").render()
        md.endpoint("/invert").render()
        md.endpoint("/file_info").render()
        md.endpoint("/totals").render()
        md.endpoint("/add_days").render()
        md.endpoint("/chat").render()
    with serve(demo) as url:
        yield url


def user(url: str, token: str | None = None) -> Client:
    return Client(url, headers={"x-ip-token": token} if token else None, verbose=False)


def test_each_users_token_reaches_the_upstream_and_no_one_elses(outer: str) -> None:
    alice, bob, carol = user(outer, "tok-alice"), user(outer), user(outer, "tok-carol")
    seen = {name: c.predict(api_name="/whoami")[0] for name, c in (("a", alice), ("b", bob), ("c", carol))}
    assert seen == {"a": "tok-alice", "b": "", "c": "tok-carol"}
    # And again in the other order: nothing stuck from a previous caller.
    assert bob.predict(api_name="/whoami")[0] == ""


def test_counters_are_per_user(outer: str) -> None:
    alice, bob = user(outer), user(outer)
    assert [alice.predict(api_name="/increment") for _ in range(3)] == [1, 2, 3]
    assert bob.predict(api_name="/increment") == 1
    assert alice.predict(api_name="/increment") == 4


def test_streamed_outputs_arrive_one_by_one(outer: str) -> None:
    events = raw_events(outer, "/count_up", [4, 0.3])
    outputs = [(t, m) for t, m in events if m.get("msg") == "process_generating"]
    assert len(outputs) >= 4
    first, last = outputs[0][0], outputs[-1][0]
    # 4 steps 0.3 s apart: spread over ~0.9 s, not bunched at the end.
    assert last - first > 0.6


def test_progress_reaches_the_caller(outer: str) -> None:
    events = raw_events(outer, "/long_job", [1.0])
    progress = [m for _, m in events if m.get("msg") == "progress"]
    assert progress, "no progress message reached the outer caller"
    unit = progress[-1]["progress_data"][0]
    assert unit["desc"] == "Working" and unit["length"] == 10


def test_cancelling_from_the_outer_side_stops_the_upstream_job(outer: str, streaming: compose.Space) -> None:
    marker = 7.25  # a duration no other test uses, to find this job in the upstream's log
    client = user(outer)
    job = client.submit(marker, api_name="/long_job")
    assert wait_for_state(streaming, marker, "running", limit=15) == "running"
    job.cancel()
    assert wait_for_state(streaming, marker, "cancelled", limit=15) == "cancelled"


async def test_a_handler_called_with_keywords_binds_them_by_name(urls: dict[str, str]) -> None:
    """Called directly (or by a wrapper) with keywords and an optional one left out, each value reaches its own
    remote parameter: b must not slide into the skipped operation's place."""
    handler = compose.Space(urls["calculator"]).endpoint("/calculate").handler()
    assert await handler(a=6, b=3) == 9  # operation falls back to the remote default, "add"
    assert await handler(6, operation="multiply", b=3) == 18


def test_remote_error_message_and_title_are_identical(outer: str) -> None:
    with pytest.raises(ClientAppError) as info:
        user(outer).predict(1, "divide", 0, api_name="/calculate")
    assert info.value.message == "Cannot divide by zero."
    assert info.value.title == "Math error"


def test_outer_api_shows_the_remote_parameter_names(outer: str) -> None:
    api = user(outer).view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in api["/calculate"]["parameters"]] == ["a", "operation", "b"]
    assert [p["parameter_name"] for p in api["/count_up"]["parameters"]] == ["n", "delay"]
    assert [p["parameter_name"] for p in api["/translate"]["parameters"]] == ["text", "target_language"]


def _components(url: str, api_name: str, side: str) -> list[dict[str, Any]]:
    config = httpx.get(f"{url}/config").json()
    dep = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
    by_id = {c["id"]: c for c in config["components"]}
    return [by_id[i] for i in dep[side] if by_id[i]["type"] != "state"]


@pytest.mark.parametrize(("space", "api_name", "keys"), [
    ("calculator", "calculate", ["label", "choices", "value"]),
    ("media", "totals", ["label", "headers", "datatype", "type"]),
    ("media", "add_days", ["label", "include_time", "type"]),
    ("media", "chat", ["label"]),
    ("media", "file_info", ["label", "type", "file_count"]),
    ("media", "invert", ["label", "type", "image_mode"]),
])
def test_rendered_components_match_the_remote(outer: str, urls: dict[str, str], space: str, api_name: str,
                                              keys: list[str]) -> None:
    compared: set[str] = set()
    for side in ("inputs", "outputs"):
        remote, local = _components(urls[space], api_name, side), _components(outer, api_name, side)
        assert [c["type"] for c in local] == [c["type"] for c in remote]
        for r, c in zip(remote, local, strict=True):
            for key in keys:
                if key in r["props"]:
                    compared.add(key)
                    assert c["props"].get(key) == r["props"][key], (side, r["type"], key)
    assert compared == set(keys)  # every listed setting was really there to compare


def test_render_wires_components_the_app_already_has(urls: dict[str, str]) -> None:
    with gr.Blocks() as demo:
        text = gr.Textbox(label="Phrase", value="good night")
        language = gr.Dropdown(["French", "German"], value="German", label="Into")
        result = gr.Textbox(label="Result")
        ui = compose.Space(urls["translator"]).endpoint("/translate").render(inputs=[text, language],
                                                                             outputs=[result], button="Go")
    assert ui.inputs == [text, language] and ui.outputs == [result]  # none made: these are wired
    with serve(demo) as url:
        assert user(url).predict("good night", "German", api_name="/translate") == "gute Nacht"


def test_files_go_through_the_hop_and_are_served_by_the_outer_app(outer: str, local_spaces: dict[str, Any],
                                                                    tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (6, 4), (255, 0, 0)).save(tmp_path / "red.png")
    image, size = user(outer).predict(handle_file(str(tmp_path / "red.png")), api_name="/invert")
    assert size == "6x4"  # the local upload reached the remote
    r, g, b = Image.open(image).convert("RGB").getpixel((0, 0))
    assert r < 10 and g > 245 and b > 245  # and its result came back inverted (webp: nearly exact)
    # A raw payload the browser did not upload is refused, so nothing of the outer's disk leaks upstream.
    forged = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}, "orig_name": "hostname"}
    events = raw_events(outer, "/file_info", [forged])
    done = [m for _, m in events if m.get("msg") == "process_completed"][-1]
    assert done["success"] is False
    # What the user is told (gradio's own check of raw inputs speaks first; compose's is the second line).
    assert re.search(r"not (a file this user )?uploaded", done["output"]["error"])
    leaked = [p for p in local_spaces["media"].temp_dir.rglob("*") if p.is_file() and p.name == "hostname"]
    assert leaked == []  # and nothing of the outer's disk reached the upstream


def test_file_result_urls_point_at_the_outer_app_only(outer: str, urls: dict[str, str], tmp_path: Path) -> None:
    uploaded = httpx.post(f"{outer}/gradio_api/upload", files={"files": ("notes.txt", b"hello hop\n")}).json()[0]
    payload = {"path": uploaded, "orig_name": "notes.txt", "meta": {"_type": "gradio.FileData"}}
    events = raw_events(outer, "/file_info", [payload])
    done = [m for _, m in events if m.get("msg") == "process_completed"][-1]
    assert done["success"], done
    report, summary = done["output"]["data"]
    assert summary == "notes.txt: 10 bytes"
    upstream_port = urls["media"].rsplit(":", 1)[1]
    assert upstream_port not in (report.get("url") or "")
    assert report["url"].startswith(outer)
    assert httpx.get(report["url"]).text == "notes.txt: 10 bytes\n"


def test_dataframe_datetime_and_chatbot_pass_through(outer: str) -> None:
    client = user(outer)
    totals = client.predict({"headers": ["item", "quantity", "price"], "data": [["pear", 2, 1.5]]},
                            api_name="/totals")
    assert totals["data"][0][-1] == 3.0
    later = client.predict("2020-10-01 05:20:15", 2, api_name="/add_days")
    assert str(later).startswith("2020-10-03")
    chat = client.predict([{"role": "user", "content": [{"type": "text", "text": "hello"}]}], api_name="/chat")
    assert chat[-1]["content"][0]["text"] == "You said: hello"
    assert chat[-2]["metadata"]["title"] == "Thinking"


def test_sixty_four_concurrent_users_all_succeed_with_their_own_identity(outer: str) -> None:
    def one(i: int) -> tuple[int, str]:
        events = raw_events(outer, "/whoami", [], headers={"x-ip-token": f"tok-{i}"} if i % 2 else None)
        done = [m for _, m in events if m.get("msg") == "process_completed"][-1]
        assert done["success"], done
        return i, done["output"]["data"][0]

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(one, range(64)))
    assert all(token == (f"tok-{i}" if i % 2 else "") for i, token in results)


def test_whole_app_embedded_runs_every_event_through_compose(urls: dict[str, str]) -> None:
    with gr.Blocks() as demo:
        compose.Space(urls["diagnostics"], forward_headers=("x-ip-token",)).render()
    with serve(demo) as url:
        alice, bob = user(url, "tok-a"), user(url)
        assert [alice.predict(api_name="/increment") for _ in range(2)] == [1, 2]
        assert bob.predict(api_name="/increment") == 1
        assert alice.predict(api_name="/whoami")[0] == "tok-a"
        assert bob.predict(api_name="/whoami")[0] == ""


def test_whole_app_embedded_streams(urls: dict[str, str]) -> None:
    with gr.Blocks() as demo:
        compose.Space(urls["streaming"]).render()
    with serve(demo) as url:
        events = raw_events(url, "/count_up", [3, 0.3])
        times = [t for t, m in events if m.get("msg") == "process_generating"]
        assert len(times) >= 3 and times[-1] - times[0] > 0.4


def test_a_closed_tab_leaves_nothing_of_its_user(urls: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A user who reset their upstream session and then closed the tab: gradio's unload reaches compose, which
    drops the one thing it kept for them."""
    diagnostics = compose.Space(urls["diagnostics"])
    forgotten = threading.Event()
    original = sessions.forget

    tab = f"tab-{uuid.uuid4().hex[:8]}"

    def forget(user: str) -> None:  # observe the call for this tab (other apps' tabs may close meanwhile)
        original(user)
        if user == tab:
            forgotten.set()

    monkeypatch.setattr(sessions, "forget", forget)
    with gr.Blocks() as demo:
        diagnostics.endpoint("/increment").render()  # render() wires the unload hook
        gr.Button("Start over").click(lambda: diagnostics.reset_session(), None, None, api_name="start_over")
    with serve(demo) as url, httpx.Client(timeout=10) as client:
        with client.stream("GET", f"{url}/gradio_api/heartbeat/{tab}") as heartbeat:  # the open page
            alive = heartbeat.iter_lines()  # kept: dropping the iterator would close the connection, the page
            next(alive)
            events = raw_events(url, "/start_over", [], session=tab)
            done = [m for _, m in events if m.get("msg") == "process_completed"]
            assert done and done[-1]["success"], done
            assert sessions._reset_key(tab) in sessions._resets  # the reset marker compose keeps for this user
            assert not forgotten.is_set()
        # The page closed.
        assert forgotten.wait(10)
    assert sessions._reset_key(tab) not in sessions._resets


def test_nothing_of_ten_thousand_departed_users_lingers(monkeypatch: pytest.MonkeyPatch) -> None:
    # A map of its own: filling the real one to its cap would evict other tests' users' resets.
    monkeypatch.setattr(sessions, "_resets", collections.OrderedDict())
    for i in range(10_000):
        sessions.reset(space_key="http://example.invalid", user=f"u{i}")
        sessions.forget(f"u{i}")
    assert len(sessions._resets) == 0
    for i in range(20_000):
        sessions.reset(space_key="http://example.invalid", user=f"v{i}")
    assert len(sessions._resets) <= sessions._MAX_RESET_USERS


def test_oauth_tokens_are_opt_in_and_only_for_hugging_face(urls: dict[str, str]) -> None:
    from compose.identity import Identity

    def credentials(space: compose.Space) -> dict[str, str]:
        headers = space.upstream.headers(Identity(session="s", oauth_token="hf_user"))
        return {k: v for k, v in headers.items() if k in ("authorization", "x-hf-authorization")}

    hf = compose.Space("https://owner-private-space.hf.space", use_oauth_token=True)
    assert credentials(hf) == {"x-hf-authorization": "Bearer hf_user"}
    assert credentials(compose.Space("https://owner-private-space.hf.space")) == {}
    local = compose.Space(urls["diagnostics"], use_oauth_token=True)
    assert credentials(local) == {}
    # The handler takes the signed-in user's token without showing it as an API parameter.
    params = list(__import__("inspect").signature(local.endpoint("/whoami").handler()).parameters)
    assert "oauth_token" in params


@pytest.mark.parametrize("streams", [False, True])
def test_a_remote_info_and_warning_reach_the_handlers_caller(make_space: Any, streams: bool) -> None:
    # A remote that tells its user what it does (gr.Info, gr.Warning), as the remote's own page shows them.
    def classify(text: str) -> str:
        gr.Info(f"classifying {text}")
        gr.Warning("careful!")
        return text.upper()

    def classify_stream(text: str) -> Iterator[str]:
        yield classify(text)

    with serve(gr.Interface(classify_stream if streams else classify, "text", "text", api_name="classify")) as url:
        ep = make_space(url).endpoint("/classify")
        with gr.Blocks() as demo:
            text, out = gr.Textbox(), gr.Textbox()
            gr.Button().click(ep.handler(), text, out, api_name="classify")
        with serve(demo) as outer_url:
            events = [msg for _, msg in raw_events(outer_url, "/classify", ["cats"])]
    assert [(m.get("level"), m.get("log")) for m in events if m.get("msg") == "log"] == [
        ("info", "classifying cats"), ("warning", "careful!")]
    assert events[-1]["output"]["data"][0] == "CATS"


def test_clearing_your_chat_starts_a_remote_chat_interface_over_as_the_readme_says(make_space: Any) -> None:
    # A remote ChatInterface keeps its history in a gr.State (this user's upstream session), apart from yours.
    def echo(message: str, history: list[Any]) -> str:
        return f"echo({len(history)}): {message}"

    with serve(gr.ChatInterface(echo, api_name="chat", save_history=False)) as url:
        space = make_space(url)
        ep = space.endpoint("/chat")
        with gr.Blocks() as demo:
            chat = gr.ChatInterface(lambda message, history: ep.predict(message), api_name="mine")
            chat.chatbot.clear(lambda: space.reset_session(), api_name="cleared")
        with serve(demo) as outer_url:
            page = Client(outer_url, verbose=False)  # one visitor (one session)
            assert [page.predict(m, api_name="/mine") for m in "ab"] == ["echo(0): a", "echo(2): b"]
            page.predict(api_name="/cleared")
            assert page.predict("c", api_name="/mine") == "echo(0): c"


def test_a_rendered_stream_that_changes_a_state_keeps_its_last_output_and_runs_the_states_listeners(
        make_space: Any) -> None:
    # A generator that streams text and counts its runs in a gr.State, whose .change listener shows the count.
    with gr.Blocks() as remote:
        runs, text, seen = gr.State(0), gr.Textbox(label="text"), gr.Number(label="runs")

        def words(n: int) -> Iterator[tuple[str, int]]:
            for word in ("one", "two", "three"):
                yield word, n + 1

        gr.Button().click(words, runs, [text, runs], api_name="words")
        runs.change(lambda n: n, runs, seen, api_name="seen")

    with serve(remote) as url:
        with gr.Blocks() as demo:
            app = make_space(url).render()
        with serve(demo) as outer_url:
            messages = [m for _, m in raw_events(outer_url, app.api_names["/words"], [None, None])]
    outputs = [m["output"] for m in messages if m.get("msg") in ("process_generating", "process_completed")]
    assert outputs[0]["data"][0] == "one"
    # What the page shows last is the stream's last word: never blanked at the end (an update without a value
    # leaves it as it is).
    assert all(None not in diff for o in outputs[1:-1] for diff in o["data"][0]) and outputs[-2]["data"][0] != [
        ["replace", [], None]]
    final = outputs[-1]["data"][0]
    assert final == "three" or (isinstance(final, dict) and "value" not in final)
    # The event reports the State changed, so the page runs its .change listeners, as the remote's own page does.
    assert any(o.get("changed_state_ids") for o in outputs)


# --- whole-app render: events as a shared app needs them --------------------------------------------------------


def test_two_users_of_a_rendered_app_run_at_once_as_on_the_remote() -> None:
    # The remote lets its event run for several users at once (concurrency_limit=None). The render's own event got
    # Gradio's default limit of 1, across all users: the second user waited for the first. Here each call waits at a
    # barrier for the other, so the two succeed only if they run at the same time.
    barrier = threading.Barrier(2, timeout=15)

    def meet(name: str) -> str:
        barrier.wait()
        return f"hello {name}"

    with gr.Blocks() as remote:
        name, greeting = gr.Textbox(label="Name"), gr.Textbox(label="Greeting")
        gr.Button("Greet").click(meet, name, greeting, api_name="greet", concurrency_limit=None)
    with serve(remote) as url:
        with gr.Blocks() as demo:
            compose.Space(url).render()
        # Launched as a Space's app is, with Gradio's default queue (`serve` lifts its limits).
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
        try:
            outer_url = demo.local_url.rstrip("/")
            jobs = [Client(outer_url, verbose=False).submit(who, api_name="/greet") for who in ("ada", "bob")]
            assert [job.result(timeout=25) for job in jobs] == ["hello ada", "hello bob"]
        finally:
            demo.close()


def test_an_html_components_event_keeps_its_api_endpoint_when_the_html_is_shown_sanitised() -> None:
    with gr.Blocks() as remote:
        box = gr.Textbox(label="Text")
        card = gr.HTML("<b>click me</b>")
        card.click(lambda s: f"html clicked {s}", box, box, api_name="htmlclick")
    with serve(remote) as url:
        with gr.Blocks() as demo:
            rendered = compose.Space(url).render()
        assert "/htmlclick" in rendered.api_names
        with serve(demo) as outer_url:
            direct = Client(url, verbose=False).predict("a", api_name="/htmlclick")
            assert Client(outer_url, verbose=False).predict("a", api_name="/htmlclick") == direct == "html clicked a"


def test_a_remote_plot_reaches_an_outer_plot_through_a_handler_and_a_bokeh_one_never_runs_here() -> None:
    # A matplotlib figure comes over the wire as {"type", "plot"}; the handler passed that dict on, and gradio's
    # gr.Plot took it for a figure ("'dict' object has no attribute '__module__'"). A Bokeh document may carry
    # CustomJS: the remote's code, which must not run in the composing app's page.
    from gradio.components.plot import PlotData

    png = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
           "awAAAABJRU5ErkJggg==")
    bokeh_doc = '{"doc": {"roots": [{"type": "CustomJS", "attributes": {"code": "alert(1)"}}]}}'

    def draw(kind: str) -> Any:
        return PlotData(type="matplotlib", plot=png) if kind == "image" else PlotData(type="bokeh", plot=bokeh_doc)

    with gr.Blocks() as remote:
        kind, plot = gr.Textbox(label="Kind"), gr.Plot(label="Chart")
        gr.Button("Draw").click(draw, kind, plot, api_name="draw")
    with serve(remote) as url:
        ep = compose.Space(url).endpoint("/draw")
        with gr.Blocks() as demo:
            box, chart = gr.Textbox(), gr.Plot()
            gr.Button().click(ep.handler(), box, chart, api_name="draw")
        with gr.Blocks() as whole:
            compose.Space(url).render()
        with serve(demo) as outer_url, serve(whole) as whole_url:
            direct = Client(url, verbose=False).predict("image", api_name="/draw")
            assert direct["plot"] == png
            for served in (outer_url, whole_url):
                assert Client(served, verbose=False).predict("image", api_name="/draw") == direct
                assert Client(served, verbose=False).predict("bokeh", api_name="/draw") is None


def test_a_bokeh_plot_from_an_event_a_gr_render_part_made_is_shown_only_when_trusted() -> None:
    # The events a remote @gr.render function makes are wired when a user's run of it comes back; they dropped a
    # Bokeh result even under space.render(trust_remote_js=True). Driven as the browser does: run the render
    # function in a session, then the click its run made, by the id its render_config gave.
    from gradio.components.plot import PlotData

    bokeh_doc = '{"doc": {"roots": [{"type": "Plot", "attributes": {"title": "sales"}}]}}'
    with gr.Blocks() as remote:
        kind = gr.Textbox(label="Kind")

        @gr.render(inputs=kind)
        def part(k: str) -> None:
            chart = gr.Plot(label=f"Chart {k}")
            gr.Button("Draw").click(lambda: PlotData(type="bokeh", plot=bokeh_doc), None, chart)

    shown = {}
    with serve(remote) as url:
        for trust in (False, True):
            with gr.Blocks() as whole:
                compose.Space(url).render(trust_remote_js=trust)
            with serve(whole) as outer_url:
                config = httpx.get(f"{outer_url}/config", timeout=25).json()
                render = next(d["id"] for d in config["dependencies"] if d.get("render_id") is not None)
                session = uuid.uuid4().hex
                made = raw_events(outer_url, render, ["bars"], session=session)[-1][1]["output"]["render_config"]
                assert any(c.get("props", {}).get("label") == "Chart bars" for c in made["components"]), made
                click = next(d["id"] for d in made["dependencies"] if d.get("backend_fn"))
                shown[trust] = raw_events(outer_url, click, [], session=session)[-1][1]["output"]["data"][0]
    assert shown[False] is None
    assert shown[True] == {"type": "bokeh", "plot": bokeh_doc}
