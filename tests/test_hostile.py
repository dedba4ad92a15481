"""A hostile or broken remote Space, and bad input: every case is refused or fails typed, for its own call only,
within compose's own deadlines and memory bounds (issue 10; SECURITY.md lists the promises these tests hold).

Every upstream here is a real server on 127.0.0.1 (tests/fault_server.py, serving real gr.Blocks schemas); nothing
is mocked. Time bounds are compose's own deadlines; the generous HANG only turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from fault_server import API_PREFIX, FaultServer
from memory import peak_mib
from outer import raw_events, serve

import compose
from compose.files import FILE_META, map_file_data
from compose.schema import _cache_path

HANG = 20.0


def blocks(**endpoints: Callable[[], tuple[list[Any], list[Any]]]) -> gr.Blocks:
    """A real gr.Blocks whose schema the fault server serves: api_name -> a function making (inputs, outputs).

    The remote function's parameters are named after the inputs' labels, as a real app's would be.
    """
    with gr.Blocks() as demo:
        for name, make in endpoints.items():
            inputs, outputs = make()
            params = ", ".join(str(c.label) for c in inputs)
            fn = eval(f"lambda {params}: None")
            gr.Button().click(fn, inputs, outputs, api_name=name)
    return demo


@pytest.fixture
def make_space(make_space: Callable[..., compose.Space]) -> Callable[..., compose.Space]:
    """conftest's make_space, with no schema cache: each test's server has its own schema and a port may be reused."""

    def make(url: str, **options: Any) -> compose.Space:
        options.setdefault("schema_ttl", 0)
        return make_space(url, **options)

    return make


def file_data(path: str, name: str = "report.txt") -> dict[str, Any]:
    return {"path": path, "orig_name": name, "meta": dict(FILE_META)}


# --- a remote FileData naming a file on OUR host -----------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "outer-app-secret.env"
    content = b"OPENAI_API_KEY=sk-outer-app-secret-" + os.urandom(8).hex().encode()
    path.write_bytes(content)
    return path, content


@pytest.fixture
def disclosing(secret: tuple[Path, bytes]) -> Iterator[FaultServer]:
    """A Space whose /file and /chat answers name the outer app's secret file as their FileData path."""
    app = blocks(file=lambda: ([gr.Textbox(label="text")], [gr.File(label="report")]),
                 chat=lambda: ([gr.Textbox(label="text")], [gr.Chatbot(label="chat")]))
    with FaultServer(app=app) as server:
        path = str(secret[0])
        server.files[path] = b"the remote's own file"  # what the Space itself serves under that name

        def answer(api_name: str, data: list[Any]) -> list[Any]:
            if api_name == "/file":
                return [file_data(path)]
            return [[{"role": "assistant", "metadata": None, "options": None,
                      "content": [{"type": "file", "file": file_data(path)}]}]]

        server.answer = answer
        yield server


def file_datas(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    map_file_data(value, found.append)
    return found


async def test_a_remote_file_data_is_never_read_from_our_disk_by_a_call(disclosing, make_space, secret):
    path, _content = secret
    space = make_space(disclosing.url)
    # A file output is downloaded from the Space's origin: the remote's bytes, never our file of the same name.
    local = await asyncio.wait_for(space.endpoint("/file").call("x"), HANG)
    assert Path(local).read_bytes() == b"the remote's own file" and Path(local) != path
    # A FileData inside a Chatbot message is downloaded too (and stays FileData): the remote's bytes, not ours.
    chat = await asyncio.wait_for(space.endpoint("/chat").call("x"), HANG)
    (ref,) = file_datas(chat)
    assert Path(ref["path"]).read_bytes() == b"the remote's own file" and Path(ref["path"]) != path
    # With downloads off, the file output is a link too.
    raw = make_space(disclosing.url, download_files=False)
    (ref,) = file_datas(await asyncio.wait_for(raw.endpoint("/file").call("x"), HANG))
    assert ref["path"].startswith(disclosing.url) and str(path) not in ref["path"].split("file=")[0]


@pytest.mark.parametrize("wiring", ["handler", "ep.render", "space.render"])
def test_a_remote_file_data_is_never_served_by_the_outer_app(disclosing, make_space, secret, wiring):
    path, content = secret
    space = make_space(disclosing.url)
    with gr.Blocks() as demo:
        if wiring == "handler":
            text, chat, report = gr.Textbox(), gr.Chatbot(), gr.File()
            gr.Button().click(space.endpoint("/chat").handler(), text, chat, api_name="chat")
            gr.Button().click(space.endpoint("/file").handler(), text, report, api_name="file")
            names = {"/chat": "/chat", "/file": "/file"}
        elif wiring == "ep.render":  # mirrored components, remote payloads passed through as they are
            names = {**space.endpoint("/chat").render().api_names, **space.endpoint("/file").render().api_names}
        else:
            names = space.render().api_names
    with serve(demo) as url:
        for api_name in ("/chat", "/file"):
            events = raw_events(url, names[api_name], ["x"])
            done = [m for _, m in events if m.get("msg") == "process_completed"][-1]
            assert done["success"], done
            refs = file_datas(done["output"]["data"])
            assert refs, done
            for ref in refs:
                # What the browser is told to load: the Space's own file (a link to it, or a downloaded copy).
                target = ref["url"] if ref["url"].startswith("http") else url + ref["url"]
                assert httpx.get(target).content == b"the remote's own file", ref
        # And the outer app does not serve our file under any name it was told about.
        served = httpx.get(f"{url}{API_PREFIX}/file={path}")
        assert content not in served.content


def markup_blocks() -> gr.Blocks:
    """A remote app whose one endpoint's outputs render raw markup and run its JS, and whose event carries JS."""
    with gr.Blocks() as demo:
        text = gr.Textbox(label="text")
        outputs = [gr.Chatbot(label="chat", sanitize_html=False), gr.Markdown(label="md", sanitize_html=False),
                   gr.HTML(label="html", js_on_load="window.__pwned = 1;")]
        text.submit(lambda t: None, text, outputs, api_name="show", js="(t) => { window.__pwned = 2; return t; }")
    return demo


def test_ep_render_runs_no_remote_markup_or_js(make_space):
    with FaultServer(app=markup_blocks()) as server:
        space = make_space(server.url)
        with gr.Blocks() as demo:
            space.endpoint("/show").render()
        config = demo.get_config_file()
    comps = config["components"]
    assert {c["type"] for c in comps} >= {"chatbot", "markdown"}
    assert all(c["props"]["sanitize_html"] for c in comps if c["type"] in ("markdown", "chatbot"))
    assert not [c for c in comps if c["props"].get("js_on_load") or c["type"] == "html"]
    assert not [d for d in config["dependencies"] if d.get("js")]
    assert "__pwned" not in str(config)


def test_a_tool_gets_the_remote_file_not_ours(disclosing, make_space, secret):
    _path, content = secret
    space = make_space(disclosing.url)
    result = space.endpoint("/file").tool()(text="x")
    assert Path(result).read_bytes() == b"the remote's own file"
    assert content not in Path(result).read_bytes()


# --- the owner's (and the visitor's) credentials in error text ------------------------------------------------------

KEY = "k3y-" + os.urandom(12).hex()  # a credential in no known shape: only remembering what was sent catches it
HF = "hf_" + os.urandom(16).hex()
IP_TOKEN = "ip-" + os.urandom(12).hex()


@pytest.fixture
def echoing() -> Iterator[FaultServer]:
    with FaultServer() as server:
        server.echo_headers = True
        yield server


def credentials_space(make_space: Callable[..., compose.Space], url: str, **options: Any) -> compose.Space:
    # Static headers go to any origin the developer names (a self-hosted app's key); the visitor's X-IP-Token is
    # forwarded because this Space was given forward_headers explicitly.
    return make_space(url, headers={"x-api-key": KEY, "authorization": f"Bearer {HF}"},
                      forward_headers=["x-ip-token"], retries=0, **options)


def assert_clean(text: str) -> None:
    for secret in (KEY, HF, IP_TOKEN):
        assert secret not in text, text
    assert "[redacted]" in text, text


async def test_a_500_echoing_the_request_headers_never_shows_a_credential(echoing, make_space):
    echoing.join_fault_forever = (500, {})
    space = credentials_space(make_space, echoing.url)
    with compose.identity(session="visitor", headers={"x-ip-token": IP_TOKEN}), \
            pytest.raises(compose.SpaceUnavailable) as info:
        await asyncio.wait_for(space.endpoint("/echo").call("hi"), HANG)
    assert KEY in str(echoing.joins[0].headers)  # it was sent, and echoed...
    assert_clean(str(info.value))  # ...but never shown
    assert_clean(info.value.message)


async def test_a_gr_error_echoing_the_request_headers_never_shows_a_credential(echoing, make_space):
    echoing.stream_mode = "error"  # type: ignore[assignment]
    space = credentials_space(make_space, echoing.url)
    with compose.identity(session="visitor", headers={"x-ip-token": IP_TOKEN}), \
            pytest.raises(compose.AppError) as info:
        await asyncio.wait_for(space.endpoint("/echo").call("hi"), HANG)
    assert_clean(str(info.value))
    assert_clean(info.value.message)
    assert info.value.title is not None and HF not in info.value.title  # the title echoed the Authorization too
    # The same through a tool, as the model (and whoever reads its transcript) would see it.
    with compose.identity(session="visitor", headers={"x-ip-token": IP_TOKEN}), \
            pytest.raises(Exception) as tool_info:
        space.endpoint("/echo").tool()(text="hi")
    assert_clean(str(tool_info.value))
    # And through a handler: the gr.Error an end user would read.
    handler = space.endpoint("/echo").handler()
    with pytest.raises(gr.Error) as shown:
        await asyncio.wait_for(handler("hi"), HANG)
    for secret in (KEY, HF):
        assert secret not in str(shown.value.message)


def test_a_password_in_the_spaces_url_is_in_no_error_repr_name_or_folder() -> None:
    # str(error) was redacted, but repr(error) and error.args (what a traceback's last line and most loggers show),
    # error.space, repr(space) and the download folder's name carried "user:password@" as given.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    password = "pw-" + os.urandom(8).hex()
    space = compose.Space(f"http://alice:{password}@127.0.0.1:{port}", retries=0, max_wait=1)
    with pytest.raises(compose.SpaceUnavailable) as info:
        space.endpoint("/x")
    error = info.value
    for shown in (str(error), repr(error), str(error.args), error.space, error.message, repr(space), space.name,
                  str(space.upstream.download_dir)):
        assert password not in shown, shown
    assert f"127.0.0.1:{port}" in str(error)  # still says where


def test_compose_logs_never_carry_a_credential(caplog: pytest.LogCaptureFixture) -> None:
    from compose import redact

    redact.remember({"x-api-key": KEY})
    log = redact.logger("compose.calls")
    with caplog.at_level("DEBUG", logger="compose.calls"):
        log.debug("upstream said %s and %s", f"key={KEY}", f"Authorization: Bearer {HF}")
    (record,) = [r for r in caplog.records if r.name == "compose.calls"]
    assert KEY not in record.getMessage() and HF not in record.getMessage()


# --- heartbeats: alive is not stalled; the overall deadline still holds ---------------------------------------------


async def until(condition: Callable[[], bool], timeout: float = HANG) -> None:
    """Wait (off this loop) until `condition()` holds, polling what the server recorded; fail if it never does."""
    def poll() -> bool:
        ends = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > ends:
                return False
            threading.Event().wait(0.02)
        return True

    assert await asyncio.to_thread(poll), "the condition never held"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


async def test_a_long_job_that_only_sends_heartbeats_is_waited_for(server, make_space):
    done = threading.Event()
    server.scripts = [["stall", done, "ok"]]  # alive but silent, until the test lets it finish
    # The server beats every 50 ms; the idle deadline leaves room for a loaded machine's hiccups.
    space = make_space(server.url, idle_timeout=2.0)
    call = asyncio.ensure_future(space.endpoint("/echo").call("long"))
    # Heartbeats for over three idle deadlines: a job taken for stalled would have been cancelled by now.
    await until(lambda: server.heartbeats >= 130 or call.done())
    assert not call.done(), call
    done.set()
    assert await asyncio.wait_for(call, HANG) == "echo: long"
    assert server.cancels == []


async def test_heartbeats_do_not_outlive_the_overall_deadline(server, make_space):
    server.stream_mode = "stall"  # heartbeats forever
    space = make_space(server.url, idle_timeout=30, limits=compose.Limits(max_duration=1.0))
    with pytest.raises(compose.UpstreamTimeout, match="max_duration"):
        await asyncio.wait_for(space.endpoint("/echo").call("x"), HANG)
    assert server.heartbeats > 0
    assert await asyncio.to_thread(server.cancelled.wait, HANG), "the job was not cancelled upstream"


async def test_real_silence_still_times_out_at_the_idle_deadline(server, make_space):
    server.stream_mode = "silent"
    space = make_space(server.url, idle_timeout=0.5)
    with pytest.raises(compose.UpstreamTimeout, match="no progress"):
        await asyncio.wait_for(space.endpoint("/echo").call("x"), HANG)
    assert await asyncio.to_thread(server.cancelled.wait, HANG)


# --- malformed messages fail their own call, typed; other calls go on ------------------------------------------------

MALFORMED = {
    "progress of strings": {"msg": "progress", "event_id": "$event", "progress_data": ["50%", "of", "it"]},
    "output not an object": {"msg": "process_completed", "event_id": "$event", "success": True,
                             "output": ["not", "an", "object"]},
    "data not a list": {"msg": "process_generating", "event_id": "$event", "success": True,
                        "output": {"data": "nope"}},
    "diff out of range": [{"msg": "process_generating", "event_id": "$event", "success": True,
                           "output": {"data": ["abc"]}},
                          {"msg": "process_generating", "event_id": "$event", "success": True,
                           "output": {"data": [[["replace", [7, 3], "x"]]]}}],
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_message_fails_its_own_call_typed_and_others_go_on(server, make_space, case):
    steps = MALFORMED[case]
    release = threading.Event()
    # Call 1 (user a) waits until call 2 (user b, same Space) has been sent its malformed message.
    server.scripts = [[release, "ok"], [*(steps if isinstance(steps, list) else [steps]), "silent"]]
    space = make_space(server.url, idle_timeout=30)

    async def call(user: str, text: str) -> Any:
        with compose.identity(session=user):
            return await asyncio.wait_for(space.endpoint("/echo").call(text), HANG)

    first = asyncio.ensure_future(call("a", "fine"))
    assert await asyncio.to_thread(server.wait_joins, 1, HANG)
    with pytest.raises(compose.UpstreamDisconnected, match="malformed"):  # typed, and long before idle_timeout
        await call("b", "bad")
    release.set()
    assert await first == "echo: fine"


async def test_a_message_that_never_ends_is_cut_off_typed_and_bounded(server, make_space):
    from compose.streams import MAX_EVENT

    server.scripts = [["endless"]]  # after process_starts: `data: {"msg": "progress", "x": "xxxx…` for ever
    # Bytes keep coming, so only the message cap can end this call before its idle deadline (past HANG).
    space = make_space(server.url, idle_timeout=HANG * 3)
    with peak_mib() as peak, pytest.raises(compose.UpstreamDisconnected, match="unreadable") as info:
        await asyncio.wait_for(space.endpoint("/echo").call("x"), HANG)
    assert str(MAX_EVENT) in str(info.value)
    assert peak[0] < MAX_EVENT / 2**20 + 48, f"peak {peak[0]:.0f} MiB"  # the cap, and no copy of it


async def test_a_completion_with_no_event_id_is_nobodys_result(server, make_space):
    release = threading.Event()
    orphan = {"msg": "process_completed", "success": True, "output": {"data": ["not yours"]}}
    server.scripts = [[orphan, release, "ok"]]
    space = make_space(server.url, idle_timeout=30)
    call = asyncio.ensure_future(space.endpoint("/echo").call("mine"))
    await until(lambda: server.started.is_set())
    release.set()
    assert await asyncio.wait_for(call, HANG) == "echo: mine"


async def test_messages_for_events_nobody_joined_are_not_kept(server, make_space):
    # 40 MiB of progress for made-up events, then messages whose event id is no string, then the call's own result.
    # compose kept every one of them in a mailbox for as long as the Space lived (+311 MiB for 300 of them), and
    # an unhashable event id broke the stream for every call of the session.
    pad = "x" * 2**20
    junk = [{"msg": "progress", "event_id": f"nobody-{i}", "progress_data": None, "pad": pad} for i in range(40)]
    odd = [{"msg": "progress", "event_id": ["$event"]}, {"msg": "progress", "event_id": {"id": 1}},
           {"msg": "progress", "event_id": 5}]
    server.scripts = [[*junk, *odd, "ok"]]
    space = make_space(server.url)
    with peak_mib() as peak:
        assert await asyncio.wait_for(space.endpoint("/echo").call("hi"), HANG) == "echo: hi"
        await space.upstream.streams.settle(HANG)
    assert space.upstream.streams.sessions_held == 0
    assert peak[0] < 24, f"peak {peak[0]:.0f} MiB"  # what one message is, not all of them


# --- answers of the wrong shape: typed, for that call, at once ------------------------------------------------------


@pytest.mark.parametrize("where, patch", [
    ("config", {"dependencies": "x"}), ("config", {"dependencies": [1, 2]}), ("config", {"components": None}),
    ("info", {"named_endpoints": None}), ("info", {"named_endpoints": {"/echo": "x"}}),
], ids=["dependencies-text", "dependencies-numbers", "components-null", "endpoints-null", "endpoint-text"])
async def test_a_schema_of_another_shape_is_a_config_error(server, make_space, where, patch):
    # Valid JSON, but not a Gradio app's: a bare AttributeError/TypeError from deep inside the parser before.
    setattr(server, f"{where}_patch", patch)
    with pytest.raises(compose.ConfigError, match="not shaped as a Gradio app's"):
        await asyncio.wait_for(make_space(server.url).aload(), HANG)


@pytest.mark.parametrize("status, answer, error, words", [
    (200, {"event_id": None}, compose.SpaceUnavailable, "without an event id"),  # it waited out idle_timeout
    (200, {"event_id": {"id": 1}}, compose.SpaceUnavailable, "without an event id"),
    (400, [1], compose.APIChanged, "[1]"),  # AttributeError: 'list' object has no attribute 'get'
    (422, "abc", compose.AppError, "abc"),
])
async def test_a_join_answer_of_another_shape_is_typed_at_once(server, make_space, status, answer, error, words):
    server.join_answers = [(status, answer)]
    space = make_space(server.url, idle_timeout=HANG * 3, retries=0)
    with pytest.raises(error) as caught:
        await asyncio.wait_for(space.endpoint("/echo").call("x"), HANG)
    assert words in str(caught.value)
    assert await asyncio.wait_for(space.endpoint("/echo").call("y"), HANG) == "echo: y"  # and the next call works


@pytest.mark.parametrize("answer", [{"a": 1}, [], None, [{"x": 1}], "<html>"], ids=str)
def test_an_upload_answer_of_another_shape_is_typed(server, make_space, tmp_path, answer):
    # Gradio answers the list of the files' paths; a dict was sent upstream as the file's path, the rest raised
    # KeyError, IndexError, TypeError or a JSON error.
    server.redeploy(blocks(files=lambda: ([gr.File(label="doc")], [gr.Textbox(label="n")])))
    server.upload_answer = answer
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    with pytest.raises(compose.SpaceUnavailable, match="without a file path"):
        make_space(server.url).endpoint("/files").predict(compose.file(doc))


@pytest.mark.parametrize("message, error", [
    ({"msg": "unexpected_error", "event_id": "$event", "message": ["not", "text"]}, compose.UpstreamDisconnected),
    ({"msg": "process_completed", "event_id": "$event", "success": False,
      "output": {"error": ["not text"], "title": ["nor this"]}}, compose.AppError),
    ({"msg": "process_completed", "event_id": "$event", "success": True, "output": {"data": []}},
     compose.UpstreamDisconnected),  # a success without the value: None before
    ({"msg": "process_completed", "event_id": "$event", "success": True}, compose.UpstreamDisconnected),
], ids=["error-message-list", "error-title-list", "success-no-values", "success-no-output"])
async def test_a_message_of_another_shape_fails_its_call_typed(server, make_space, message, error):
    server.scripts = [[message]]
    space = make_space(server.url)
    with pytest.raises(error):
        await asyncio.wait_for(space.endpoint("/echo").call("x"), HANG)
    assert await asyncio.wait_for(space.endpoint("/echo").call("y"), HANG) == "echo: y"


async def test_a_file_name_of_another_type_is_no_name(file_server, make_space, tmp_path):
    file_server.answer = lambda api_name, data: [{**file_data("/remote/big.bin"), "orig_name": ["x"]}]
    space = make_space(file_server.url, download_dir=tmp_path / "dl")
    local = await asyncio.wait_for(space.endpoint("/file").call("x"), HANG)  # AttributeError from the name before
    assert Path(local).read_bytes() == BIG and Path(local).name == "big.bin"  # named after its remote path


# --- limits: uploads per call, in-flight calls per Space, the circuit breaker, schema size ---------------------------


def test_one_file_referenced_a_thousand_times_is_uploaded_once(server, make_space, tmp_path):
    app = blocks(files=lambda: ([gr.JSON(label="refs")], [gr.Textbox(label="n")]))
    server.redeploy(app)
    server.answer = lambda api_name, data: [str(len(data[0]))]
    one = tmp_path / "one.bin"
    one.write_bytes(os.urandom(1024))
    space = make_space(server.url)
    refs = [compose.file(one)] * 1000
    assert space.endpoint("/files").predict(refs) == "1000"
    assert server.uploads == [one.read_bytes()]  # one upload, referenced 1,000 times


def test_the_per_call_upload_budget_refuses_before_sending_more(server, make_space, tmp_path):
    app = blocks(files=lambda: ([gr.JSON(label="refs")], [gr.Textbox(label="n")]))
    server.redeploy(app)
    server.answer = lambda api_name, data: [str(len(data[0]))]
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"f{i}.bin")
        paths[-1].write_bytes(os.urandom(1024))
    space = make_space(server.url, limits=compose.Limits(max_uploads=3, max_upload_total=10 * 1024))
    with pytest.raises(compose.UnsafeInput, match="max_uploads"):
        space.endpoint("/files").predict([compose.file(p) for p in paths])
    assert len(server.uploads) == 3 and server.joins == []  # refused before the job was sent
    bytes_cap = make_space(server.url, limits=compose.Limits(max_upload_total=2 * 1024 + 10))
    before = len(server.uploads)
    with pytest.raises(compose.UnsafeInput, match="max_upload_total"):
        bytes_cap.endpoint("/files").predict([compose.file(p) for p in paths])
    assert sum(map(len, server.uploads[before:])) <= 2 * 1024 + 10 and server.joins == []  # no byte past the cap
    # Each call has its own budget: a call within it goes through.
    assert space.endpoint("/files").predict([compose.file(p) for p in paths[:3]]) == "3"


async def test_in_flight_calls_per_space_are_capped(server, make_space):
    release = threading.Event()
    server.scripts = [[release, "ok"] for _ in range(12)]
    space = make_space(server.url, idle_timeout=30, limits=compose.Limits(max_in_flight=4))

    async def call(i: int) -> Any:
        with compose.identity(session=f"user-{i}"):
            return await asyncio.wait_for(space.endpoint("/echo").call(str(i)), HANG)

    calls = [asyncio.ensure_future(call(i)) for i in range(12)]
    assert await asyncio.to_thread(server.wait_joins, 4, HANG)
    await until(lambda: space.gate.in_flight == 4)
    assert len(server.joins) == 4  # the other 8 wait their turn here, not in the Space's queue
    release.set()
    assert await asyncio.gather(*calls) == [f"echo: {i}" for i in range(12)]
    assert server.max_pending <= 4


async def test_a_dead_host_is_remembered_and_later_calls_fail_fast_saying_so(make_space):
    from compose.apps.processes import free_port

    space = make_space(f"http://127.0.0.1:{free_port()}", retries=1, limits=compose.Limits(breaker_cooldown=60))
    with pytest.raises(compose.SpaceUnavailable, match="cannot reach") as first:
        await asyncio.wait_for(space.aload(), HANG)  # pays the retry budget once...
    assert "circuit breaker" not in str(first.value)
    for _ in range(3):  # ...and every later call within the cooldown fails at once, saying why
        with pytest.raises(compose.SpaceUnavailable, match="circuit breaker") as fast:
            await asyncio.wait_for(space.aload(), HANG)
        assert "unreachable" in str(fast.value)


@pytest.mark.parametrize(("knob", "value", "message", "bound"), [
    # 50 MB announced: refused from its length, before a byte of the body is read
    ("config_pad", 50 * 2**20, "max_schema_bytes", 16),
    # 50,000 endpoints would be refused for its size already; 5,000 (5 MB) are read, and refused for their count
    ("extra_endpoints", 5_000, "max_endpoints", 120),
])
async def test_a_huge_schema_is_refused_with_a_clear_error_and_bounded_memory(server, make_space, knob, value,
                                                                            message, bound):
    setattr(server, knob, value)
    space = make_space(server.url)
    with peak_mib() as peak, pytest.raises(compose.ConfigError, match=message) as info:
        await asyncio.wait_for(space.aload(), HANG)
    assert server.url in str(info.value)
    assert peak[0] < bound, f"peak {peak[0]:.0f} MiB"


@pytest.mark.parametrize("path", ["/config", f"{API_PREFIX}/info"])
async def test_an_endless_schema_is_cut_off_at_the_cap_with_a_clear_error(server, make_space, path):
    server.endless = {path}  # 200, no length, 1 MiB after 1 MiB for as long as anyone reads
    cap = 4 * 2**20
    space = make_space(server.url, limits=compose.Limits(max_schema_bytes=cap))
    with peak_mib() as peak, pytest.raises(compose.ConfigError, match="max_schema_bytes") as info:
        await asyncio.wait_for(space.aload(), HANG)
    assert f"{server.url}{path}" in str(info.value)
    # Reading stopped at the cap: what this process held at its peak (both ends of the socket, since the server
    # runs here too) is a few times the 4 MiB cap, not the transport's 64 MiB body limit.
    assert peak[0] < 24, f"peak {peak[0]:.0f} MiB"


# --- downloads: typed, bounded, and never a partial file -------------------------------------------------------------

BIG = os.urandom(50_000)


@pytest.fixture
def file_server() -> Iterator[FaultServer]:
    with FaultServer(app=blocks(file=lambda: ([gr.Textbox(label="text")], [gr.File(label="report")]))) as server:
        server.files["/remote/big.bin"] = BIG
        server.answer = lambda api_name, data: [file_data("/remote/big.bin", "big.bin")]
        yield server


def kept(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def test_a_download_reset_midway_is_typed_and_leaves_no_partial_file(file_server, make_space, tmp_path):
    file_server.file_mode = "reset"
    space = make_space(file_server.url, download_dir=tmp_path / "dl")
    with pytest.raises(compose.UpstreamDisconnected, match=r"big\.bin"):
        await asyncio.wait_for(space.endpoint("/file").call("x"), HANG)
    assert kept(tmp_path / "dl") == []
    assert file_server.file_gets == 3  # asked again twice (a cut-off body may be a moment's race), then given up
    file_server.file_mode = "ok"  # and a good download is whole
    local = await asyncio.wait_for(space.endpoint("/file").call("x"), HANG)
    assert Path(local).read_bytes() == BIG and kept(tmp_path / "dl") == [Path(local)]


async def test_a_download_cut_off_once_is_asked_again_and_arrives_whole(file_server, make_space, tmp_path):
    # Two calls returning the same picture at once: Gradio rewrites the cache file one of them is being served
    # (a body cut short, seen 10 times in 40 calls with 8 at once). A GET may be asked again.
    file_server.file_mode = "reset_once"
    space = make_space(file_server.url, download_dir=tmp_path / "dl")
    local = await asyncio.wait_for(space.endpoint("/file").call("x"), HANG)
    assert Path(local).read_bytes() == BIG and kept(tmp_path / "dl") == [Path(local)]
    assert file_server.file_gets == 2


async def test_a_trickling_download_is_cut_at_the_total_deadline(file_server, make_space, tmp_path):
    file_server.file_mode = "trickle"  # 16 bytes every 50 ms: never idle, done in minutes
    space = make_space(file_server.url, download_dir=tmp_path / "dl", idle_timeout=3,
                       limits=compose.Limits(download_timeout=1.0))
    with pytest.raises(compose.UpstreamTimeout, match="download_timeout"):
        await asyncio.wait_for(space.endpoint("/file").call("x"), HANG)
    assert kept(tmp_path / "dl") == []


async def test_a_cancelled_call_leaves_no_partial_download(file_server, make_space, tmp_path):
    file_server.file_mode = "trickle"
    space = make_space(file_server.url, download_dir=tmp_path / "dl")
    job = space.endpoint("/file").submit("x")
    await until(lambda: any(p.name.endswith(".part") for p in kept(tmp_path / "dl")))  # mid-download
    job.cancel()
    await until(job.done)
    await until(lambda: kept(tmp_path / "dl") == [])


# --- a redeploy that swaps two parameters ----------------------------------------------------------------------------


def two(order: tuple[str, str]) -> gr.Blocks:
    return blocks(two=lambda: ([gr.Textbox(label=order[0]), gr.Textbox(label=order[1])], [gr.Textbox(label="out")]))


@pytest.fixture
def redeploying() -> Iterator[FaultServer]:
    with FaultServer(app=two(("first", "second"))) as server:
        # The app answers what it received for each of its parameters, in its current order.
        server.answer = lambda api_name, data: [
            ",".join(f"{p['parameter_name']}={v}" for p, v in
                     zip(server.info()["named_endpoints"]["/two"]["parameters"], data, strict=True))]
        yield server


async def test_a_redeploy_that_swaps_parameters_binds_keywords_by_name_again(redeploying, make_space):
    space = make_space(redeploying.url, limits=compose.Limits(schema_check_every=0))
    ep = space.endpoint("/two")
    assert await asyncio.wait_for(ep.call(first="A", second="B"), HANG) == "first=A,second=B"
    redeploying.redeploy(two(("second", "first")))
    assert await asyncio.wait_for(ep.call(first="A", second="B"), HANG) == "second=B,first=A"
    assert [p.name for p in ep.parameters] == ["second", "first"]


async def test_a_redeploy_that_swaps_parameters_refuses_positional_arguments(redeploying, make_space):
    space = make_space(redeploying.url, limits=compose.Limits(schema_check_every=0))
    ep = space.endpoint("/two")
    assert await asyncio.wait_for(ep.call("A", "B"), HANG) == "first=A,second=B"
    redeploying.redeploy(two(("second", "first")))
    joins = len(redeploying.joins)
    with pytest.raises(compose.APIChanged, match=r"from \(first, second\) to \(second, first\)"):
        await asyncio.wait_for(ep.call("A", "B"), HANG)
    assert len(redeploying.joins) == joins  # nothing was sent with the old order


async def test_a_redeploy_that_changes_a_parameters_type_refuses_positional_arguments(redeploying, make_space):
    space = make_space(redeploying.url, limits=compose.Limits(schema_check_every=0))
    ep = space.endpoint("/two")
    assert await asyncio.wait_for(ep.call("A", "B"), HANG) == "first=A,second=B"
    # Same names, same order; `second` is now a number: "B" would reach a function that expects one.
    redeploying.redeploy(blocks(two=lambda: ([gr.Textbox(label="first"), gr.Number(label="second")],
                                             [gr.Textbox(label="out")])))
    joins = len(redeploying.joins)
    with pytest.raises(compose.APIChanged, match="parameters changed"):
        await asyncio.wait_for(ep.call("A", "B"), HANG)
    assert len(redeploying.joins) == joins


async def test_a_redeploy_is_looked_for_at_most_every_schema_check_every(redeploying, make_space):
    space = make_space(redeploying.url, limits=compose.Limits(schema_check_every=3600))
    ep = space.endpoint("/two")
    for _ in range(5):
        await asyncio.wait_for(ep.call(first="A", second="B"), HANG)
    # The first call read the schema from the app, so it had nothing to check (a round trip saved), and no call
    # asked within the hour after.
    assert len(redeploying.seen(f"{API_PREFIX}/app_id")) == 0


async def test_a_schema_read_from_disk_is_checked_by_its_first_call_once_its_window_passed(redeploying, make_space):
    limits = compose.Limits(schema_check_every=60)
    writer = make_space(redeploying.url, schema_ttl=3600, limits=limits)
    assert await asyncio.wait_for(writer.endpoint("/two").call("A", "B"), HANG) == "first=A,second=B"
    redeploying.redeploy(two(("second", "first")))  # after the schema went to disk
    # The app last confirmed that schema more than schema_check_every ago (as a process restarted a while later
    # finds it): it is not trusted.
    confirmed = time.time() - 61
    os.utime(_cache_path(redeploying.url), (confirmed, confirmed))
    reader = make_space(redeploying.url, schema_ttl=3600, limits=limits)  # reads that schema from disk
    with pytest.raises(compose.APIChanged, match=r"from \(first, second\) to \(second, first\)"):
        await asyncio.wait_for(reader.endpoint("/two").call("A", "B"), HANG)
    assert len(redeploying.seen(f"{API_PREFIX}/app_id")) == 1


# --- a signed-in user's OAuth token goes only where a gr.OAuthToken is declared --------------------------------------


def oauth_blocks() -> gr.Blocks:
    with gr.Blocks() as demo:
        text, out = gr.Textbox(label="text"), gr.Textbox(label="out")

        def with_token(text: str, token: gr.OAuthToken | None) -> str:
            return text

        def without(text: str) -> str:
            return text

        gr.Button().click(with_token, text, out, api_name="with_token")
        gr.Button().click(without, text, out, api_name="without")
    return demo


def test_the_oauth_token_goes_only_to_endpoints_that_declare_one(edge, make_space):
    from compose.testing import EmulatedSpace

    user_token = "hf_oauth" + os.urandom(12).hex()
    with FaultServer(app=oauth_blocks()) as server:
        # A Space on the emulated Hugging Face edge whose replica is the fault server: it records what arrives.
        edge.world.add_space(EmulatedSpace(id="owner/oauth-fault", backends=[server.url]))
        space = make_space("owner/oauth-fault", use_oauth_token=True)
        with compose.identity(session="signed-in", oauth_token=user_token):
            assert space.endpoint("/with_token").predict("a") == "echo: a"
            assert space.endpoint("/without").predict("b") == "echo: b"
        declared, undeclared = server.joins
        assert declared.json()["oauth_token"] == user_token
        assert "oauth_token" not in undeclared.json()
        assert user_token not in str(undeclared.headers) and user_token not in undeclared.body.decode()


async def test_a_visitors_ip_token_reaches_a_server_outside_hugging_face_only_when_the_space_says_so(server,
                                                                                                     make_space):
    visitor = "ip-" + os.urandom(8).hex()  # a ZeroGPU credential: it means something only to Hugging Face
    with compose.identity(session="visitor", headers={"x-ip-token": visitor}):
        assert await asyncio.wait_for(make_space(server.url).endpoint("/echo").call("a"), HANG) == "echo: a"
        sent = len(server.requests)
        assert sent and not [r for r in server.requests if visitor in str(r.headers)]  # not on any request
        # The developer opted this (loopback, self-hosted) app in: then it does go, on the calls.
        opted = make_space(server.url, forward_headers=["x-ip-token"])
        assert await asyncio.wait_for(opted.endpoint("/echo").call("b"), HANG) == "echo: b"
    assert server.joins[-1].headers.get("x-ip-token") == visitor


def test_space_render_calls_are_capped_in_flight_too(make_space):
    from concurrent.futures import ThreadPoolExecutor

    with FaultServer(app=blocks(echo=lambda: ([gr.Textbox(label="text")], [gr.Textbox(label="echo")]))) as server:
        rendered_calls_are_capped(server, make_space, ThreadPoolExecutor)


def rendered_calls_are_capped(server: FaultServer, make_space: Callable[..., compose.Space], executor: Any) -> None:
    release = threading.Event()
    server.scripts = [[release, "ok"] for _ in range(6)]
    space = make_space(server.url, idle_timeout=30, limits=compose.Limits(max_in_flight=2))
    with gr.Blocks() as demo:
        app = space.render()
    with serve(demo) as url, executor(6) as pool:
        outer = app.api_names["/echo"]
        calls = [pool.submit(raw_events, url, outer, [f"u{i}"]) for i in range(6)]
        assert server.wait_joins(2, HANG)
        ends = time.monotonic() + HANG
        while space.gate.in_flight < 2 and time.monotonic() < ends:
            threading.Event().wait(0.02)
        assert space.gate.in_flight == 2 and len(server.joins) == 2  # four wait in compose, not in the Space
        release.set()
        results = [c.result(HANG) for c in calls]
    finals = [[m for _, m in events if m.get("msg") == "process_completed"][-1] for events in results]
    assert all(f["success"] for f in finals), finals
    assert server.max_pending <= 2


async def test_a_new_app_id_with_the_same_api_resets_no_one(redeploying, make_space):
    # Replicas of one deploy (each has its own app_id) or a plain restart: the API is the same, so the check must
    # neither reset users' sessions nor keep re-reading the schema.
    space = make_space(redeploying.url, limits=compose.Limits(schema_check_every=0))
    ep = space.endpoint("/two")
    with compose.identity(session="alice"):
        for app_id in (1, 2, 1, 2, 1, 2):
            redeploying.redeploy(two(("first", "second")), app_id=app_id)  # same API, alternating ids
            assert await asyncio.wait_for(ep.call(first="A", second="B"), HANG) == "first=A,second=B"
    assert len({j.json()["session_hash"] for j in redeploying.joins}) == 1  # alice kept her session
    assert len(redeploying.seen("/config")) <= 3  # the first load, and one look per new app id


def test_stream_trace_shows_the_remote_file_not_ours(disclosing, make_space, secret):
    from scripted import ScriptedModel
    from smolagents import ToolCallingAgent

    path, content = secret
    space = make_space(disclosing.url)
    registry = compose.ToolRegistry()
    registry.add(space.endpoint("/file"), name="report")
    registry.add(space.endpoint("/chat"), name="chat")
    model = ScriptedModel([[("report", {"text": "x"})], [("chat", {"text": "y"})],
                           [("final_answer", {"answer": "done"})]])
    agent = ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0)
    messages = list(compose.stream_trace(agent, "go"))[-1]
    shown = repr(messages)
    assert "report" in shown and "done" in shown
    # Whatever the trace shows of either tool's result, no file of ours is named in it or read for it.
    assert content.decode() not in shown
    for message in messages:
        for ref in file_datas(getattr(message, "content", None)):
            assert str(path) != ref.get("path"), ref
