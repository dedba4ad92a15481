"""A deliberately misbehaving Gradio 6 look-alike for fault-injection tests.

It is a plain ASGI app served by uvicorn on 127.0.0.1 (a free port) in a background thread, and speaks just enough
of Gradio 6 for compose to call its one endpoint, `/echo(text) -> "echo: <text>"`:

    GET  /config                       a real config's shape (version, api_prefix, app_id, protocol "sse_v3", ...)
    GET  /gradio_api/info              named_endpoints with parameters and returns
    POST /gradio_api/queue/join        {"event_id": ...}, or the injected fault
    GET  /gradio_api/queue/data        the session's SSE data stream, scripted per join
    POST /gradio_api/cancel            recorded, then answered as Gradio does (the event completes, stream closes)

Every request is recorded (method, path, lower-cased headers, body, monotonic time) so tests can assert what
reached the server; `started`, `cancelled` and `closed_stream` are threading.Events and `wait_joins(n)` waits for
the n-th join, so tests wait on what happened instead of sleeping.

After a join, its event's messages are scripted: estimation and process_starts, then the join's script (one per
join from `scripts`, else `[stream_mode]`). Script items: "ok" (the result), "stall" (heartbeats only), "silent"
(nothing), "drop" (the socket closes mid-stream), "end" (the stream ends without a result), "lost" (the session is
forgotten before the stream opens), "endless" (a message whose line never ends), or a threading.Event the stream
waits for before going on.

An app of one's own: `FaultServer(app=blocks)` serves a real `gr.Blocks`' config and API info (built by gradio
itself, never launched), and `server.answer(api_name, data)` gives an "ok" result's output data. Script items may
also be message dicts, where the value "$event" stands for the join's event id. Other knobs: `files` (served at
`/gradio_api/file=`, with `file_mode` "ok", "reset" or "trickle"), `uploads` (what POST /upload received),
`config_faults` (statuses for the next GET /config: an app still starting), `config_pad` / `extra_endpoints` (a
huge schema), `config_patch` / `info_patch` (a schema of another shape), `join_answers` / `upload_answer` (answers
of another shape), `endless` (paths whose answer never ends), `echo_headers` (a
500 or gr.Error that repeats the request's headers), `redeploy(app)` (a new app_id and schema, as after a
redeploy), and `max_pending` (the most events pending at once).

Usage:
    with FaultServer() as server:
        server.join_faults = [(429, {"retry-after": "1"})]     # the first join is refused, the next succeeds
        server.stream_mode = "stall"                            # or "ok", "silent", "drop", "end", "lost"
        ... compose.Space(server.url) ...
        assert server.cancelled.wait(5)
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

import uvicorn

__all__ = ["FaultServer", "Recorded", "StreamMode"]

StreamMode = Literal["ok", "stall", "silent", "drop", "end", "lost"]
_Step = dict[str, Any] | str | threading.Event  # a message to send, a scripted fault, or a gate to wait for
Scope = dict[str, Any]

API_PREFIX = "/gradio_api"
_UNSET: Any = object()
_TICK = 0.05  # how often a stalled stream looks up (heartbeat pacing, shutdown): the server's clock, not the test's


class _Drop(Exception):
    """Raised inside a response that has started: uvicorn then closes the socket mid-body, as a dying server does."""


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


def _config(app_id: int) -> dict[str, Any]:
    """The built-in one-endpoint app's config."""
    textbox = {"type": "text", "lines": 1, "show_label": True, "container": True, "visible": True}
    return {
        "version": "6.31.0",
        "api_prefix": API_PREFIX,
        "mode": "blocks",
        "app_id": app_id,
        "dev_mode": False,
        "analytics_enabled": False,
        "connect_heartbeat": True,
        "title": "Fault server",
        "space_id": None,
        "enable_queue": True,
        "show_error": True,
        "max_file_size": None,
        "protocol": "sse_v3",
        "components": [
            {"id": 1, "type": "textbox", "props": {**textbox, "label": "text", "name": "textbox"},
             "skip_api": False, "api_info": {"type": "string"}, "api_info_as_input": {"type": "string"},
             "api_info_as_output": {"type": "string"}, "example_inputs": "Hello!!", "key": None},
            {"id": 2, "type": "textbox", "props": {**textbox, "label": "echo", "name": "textbox"},
             "skip_api": False, "api_info": {"type": "string"}, "api_info_as_input": {"type": "string"},
             "api_info_as_output": {"type": "string"}, "example_inputs": "Hello!!", "key": None},
            {"id": 3, "type": "button", "props": {"value": "Echo", "visible": True, "name": "button"},
             "skip_api": True, "key": None},
        ],
        "dependencies": [
            {"id": 0, "targets": [[3, "click"]], "inputs": [1], "outputs": [2], "backend_fn": True, "js": None,
             "queue": True, "api_name": "echo", "api_description": None, "batch": False, "max_batch_size": 4,
             "cancels": [], "types": {"generator": False, "cancel": False}, "collects_event_data": False,
             "trigger_after": None, "trigger_only_on_success": False, "trigger_only_on_failure": False,
             "trigger_mode": "once", "api_visibility": "public", "rendered_in": None, "render_id": None,
             "connection": "sse", "time_limit": None, "stream_every": 0.5, "event_specific_args": None,
             "component_prop_inputs": [], "js_implementation": None},
        ],
    }


_INFO: dict[str, Any] = {
    "named_endpoints": {
        "/echo": {
            "parameters": [
                {"label": "text", "parameter_name": "text", "parameter_has_default": False,
                 "parameter_default": None, "type": {"type": "string"},
                 "python_type": {"type": "str", "description": ""}, "component": "Textbox",
                 "example_input": "Hello!!"},
            ],
            "returns": [
                {"label": "echo", "type": {"type": "string"}, "python_type": {"type": "str", "description": ""},
                 "component": "Textbox"},
            ],
            "api_visibility": "public",
            "description": "Echo the text back.",
        },
    },
    "unnamed_endpoints": {},
}


class _Session:
    """What Gradio keeps per session_hash: a message queue and the ids of its unfinished events."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[_Step] = asyncio.Queue()
        self.pending: set[str] = set()


class _Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


# Every port a fault server has had in this process. Each server gets a port none had before: every fault server
# has the same app id, and compose's disk cache (shared by the whole test run) keys schemas by URL, so a server on an
# earlier one's port would be taken for that app within Limits.schema_check_every and its schema never fetched
# (a clean-clone run failed that way). SO_REUSEADDR lets the kernel hand out a port still in TIME_WAIT, so reuse is
# not rare.
_ports_had: set[int] = set()


def _fresh_socket() -> socket.socket:
    held: list[socket.socket] = []  # kept bound until a fresh port turns up, so the kernel cannot offer them again
    try:
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port not in _ports_had:
                _ports_had.add(port)
                return sock
            held.append(sock)
    finally:
        for sock in held:
            sock.close()


class FaultServer:
    """A Gradio 6 look-alike whose faults each test sets; see the module docstring."""

    def __init__(self, *, app_id: int = 1234567890123, app: Any = None) -> None:
        self.app_id = app_id
        self._app_config: dict[str, Any] | None = None
        self._app_info: dict[str, Any] | None = None
        if app is not None:
            self.redeploy(app, app_id=app_id)
        self.answer: Callable[[str, list[Any]], list[Any]] | None = None  # an "ok" result's data, by api_name
        self.files: dict[str, bytes] = {}  # path -> content, served at /gradio_api/file=<path>
        # "reset_once": the first download is cut off, as when Gradio rewrites a cache file another event of the
        # same content made while it is served; the next ones are whole.
        self.file_mode: Literal["ok", "reset", "reset_once", "trickle"] = "ok"
        self.file_gets = 0
        self.uploads: list[bytes] = []  # the content of every file POSTed to /gradio_api/upload
        self.config_pad = 0  # bytes of padding added to /config (a 50 MB config)
        self.extra_endpoints = 0  # extra named endpoints in /gradio_api/info (50,000 endpoints)
        self.endless: set[str] = set()  # paths answered 200 with a JSON body that never ends (no length, chunked)
        self.endless_sent = 0  # bytes of endless bodies handed to the socket so far
        self.echo_headers = False  # join 500s and gr.Errors repeat the request's headers, as a careless app does
        self.max_pending = 0  # the most events pending at once, across sessions
        self.heartbeats = 0  # heartbeats sent so far
        # --- fault knobs (set by the test before the call) ---
        self.join_faults: list[tuple[int, dict[str, str]]] = []  # answered to the next joins, in order
        self.join_answers: list[tuple[int, Any]] = []  # (status, JSON body) answered verbatim to the next joins
        self.upload_answer: Any = _UNSET  # JSON answered to every upload instead of the files' paths
        self.config_patch: dict[str, Any] = {}  # top-level keys of /config replaced (a schema of another shape)
        self.info_patch: dict[str, Any] = {}  # and of /gradio_api/info
        self.join_fault_forever: tuple[int, dict[str, str]] | None = None  # answered to every join
        self.join_drop = False  # join: 200 headers, half a body, then the socket closes
        self.config_drops = 0  # the next N GET /config: 200 headers, half a body, then the socket closes
        self.config_faults: list[tuple[int, dict[str, str]]] = []  # answered to the next GET /config, in order
        self.redirects: dict[str, str] = {}  # path -> Location, answered 307 (a GET /config: 302)
        self.html: set[str] = set()  # paths answered 200 with an HTML page (a proxy's, a sleeping Space's)
        self.stream_mode: StreamMode = "ok"
        self.scripts: list[list[_Step]] = []  # per join, in order; then [stream_mode]
        self.join_answer_gates: list[threading.Event | None] = []  # per join: answer it only once this is set
        # --- what happened (read by the test) ---
        self.requests: list[Recorded] = []
        self.events: list[str] = []  # the event ids handed out by successful joins, in order
        self.cancels: list[dict[str, Any]] = []
        self.started = threading.Event()  # a process_starts message went out on a data stream
        self.cancelled = threading.Event()
        self.closed_stream = threading.Event()  # a close_stream message went out
        self._joins_changed = threading.Condition()
        # --- internals ---
        self._sessions: dict[str, _Session] = {}
        self._stopping = False
        self._sock = _fresh_socket()
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        config = uvicorn.Config(self, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self._server = _Uvicorn(config, self._ready)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"fault-server-{self.port}", daemon=True)

    def redeploy(self, app: Any, *, app_id: int | None = None) -> None:
        """Serve `app` (a gr.Blocks) from now on, under a new app_id: what a redeployed Space looks like."""
        config = app.get_config_file()
        self.app_id = app_id if app_id is not None else self.app_id + 1
        config["app_id"] = self.app_id
        self._app_config, self._app_info = config, app.get_api_info()

    def config(self) -> dict[str, Any]:
        config = dict(self._app_config) if self._app_config is not None else _config(self.app_id)
        return {**config, **self.config_patch}

    async def _padded_config(self, send: Any) -> None:
        """The config with `config_pad` bytes of CSS, its length announced, written 1 MiB at a time (never built
        whole here, so this process's memory shows what the client held)."""
        head, tail = json.dumps({**self.config(), "css": "@pad@"}).encode().split(b'"@pad@"')
        head, tail = head + b'"/*', b'*/"' + tail
        length = len(head) + self.config_pad + len(tail)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(length).encode())]})
        await send({"type": "http.response.body", "body": head, "more_body": True})
        chunk, left = b"x" * 2**20, self.config_pad
        while left > 0 and not self._stopping:
            await send({"type": "http.response.body", "body": chunk[:left], "more_body": True})
            left -= len(chunk[:left])
        await send({"type": "http.response.body", "body": tail})

    def info(self) -> dict[str, Any]:
        info = self._app_info if self._app_info is not None else _INFO
        if self.extra_endpoints:
            named = dict(info["named_endpoints"])
            template = next(iter(named.values()))
            named.update({f"/extra_{i}": template for i in range(self.extra_endpoints)})
            info = {**info, "named_endpoints": named}
        return {**info, **self.info_patch}

    def _api_name(self, fn_index: int) -> str:
        for dep in self.config()["dependencies"]:
            if dep["id"] == fn_index:
                return "/" + str(dep.get("api_name"))
        return "/echo"

    # --- lifecycle ------------------------------------------------------------------------------------------------

    def start(self) -> FaultServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def stop(self) -> None:
        self._stopping = True
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the tests read --------------------------------------------------------------------------------------

    def seen(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    @property
    def joins(self) -> list[Recorded]:
        return self.seen(f"{API_PREFIX}/queue/join")

    def wait_joins(self, n: int, timeout: float = 5.0) -> bool:
        """Block until the server has received `n` joins (False if the timeout passes first)."""
        with self._joins_changed:
            return self._joins_changed.wait_for(lambda: len(self.joins) >= n, timeout)

    # --- ASGI -----------------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = Recorded(method, path, scope.get("query_string", b"").decode(), headers, body)
        self.requests.append(request)

        if path in self.endless:
            await self._endless(receive, send)
        elif path in self.html:
            page = b"<!doctype html><title>Building</title><p>This Space is starting.</p>"
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/html"), (b"content-length", str(len(page)).encode())]})
            await send({"type": "http.response.body", "body": page})
        elif path in self.redirects:
            status = 302 if method == "GET" else 307
            await _respond(send, status, {"detail": "moved"}, {"location": self.redirects[path]})
        elif method == "GET" and path == "/config" and self.config_faults:
            status, fault_headers = self.config_faults.pop(0)  # an app still starting, say
            await _respond(send, status, {"detail": "starting"}, fault_headers)
        elif method == "GET" and path == "/config":
            if self.config_drops > 0:
                self.config_drops -= 1
                await _drop_mid_body(send)
            if self.config_pad:
                await self._padded_config(send)
            else:
                await _respond(send, 200, self.config())
        elif method == "GET" and path in ("/app_id", f"{API_PREFIX}/app_id"):
            await _respond(send, 200, {"app_id": self.app_id})
        elif method == "GET" and path == f"{API_PREFIX}/info":
            await _respond(send, 200, self.info())
        elif method == "GET" and path.startswith(f"{API_PREFIX}/file="):
            await self._file(unquote(path[len(f"{API_PREFIX}/file="):]), send)
        elif method == "POST" and path == f"{API_PREFIX}/upload":
            await self._upload(request, send)
        elif method == "POST" and path == f"{API_PREFIX}/queue/join":
            await self._join(request, send)
        elif method == "GET" and path == f"{API_PREFIX}/queue/data":
            await self._data(request, receive, send)
        elif method == "POST" and path == f"{API_PREFIX}/cancel":
            await self._cancel(request, send)
        else:
            await _respond(send, 404, {"detail": "Not Found"})

    async def _join(self, request: Recorded, send: Any) -> None:
        with self._joins_changed:
            self._joins_changed.notify_all()
        if self.join_answers:
            status, answer = self.join_answers.pop(0)
            await _respond(send, status, answer)
            return
        fault = self.join_faults.pop(0) if self.join_faults else self.join_fault_forever
        if fault is not None:
            status, headers = fault
            detail = f"injected {status}" + (f" for {request.headers}" if self.echo_headers else "")
            await _respond(send, status, {"detail": detail}, headers)
            return
        body = request.json()
        session_hash, event_id = body["session_hash"], uuid.uuid4().hex
        self.events.append(event_id)
        session = self._sessions.setdefault(session_hash, _Session())
        session.pending.add(event_id)
        self.max_pending = max(self.max_pending, sum(len(s.pending) for s in self._sessions.values()))
        data = body.get("data") or [""]
        text = data[0]
        script = self.scripts.pop(0) if self.scripts else [self.stream_mode]
        steps: list[_Step] = [
            {"msg": "estimation", "event_id": event_id, "rank": 0, "queue_size": 1, "rank_eta": None},
            {"msg": "process_starts", "event_id": event_id, "eta": None, "progress_data": None},
        ]
        for item in script:
            if item == "ok":
                api_name = self._api_name(int(body.get("fn_index", 0)))
                out = self.answer(api_name, data) if self.answer is not None else [f"echo: {text}"]
                steps.append({"msg": "process_completed", "event_id": event_id, "success": True, "title": None,
                              "output": {"data": out, "is_generating": False, "duration": 0.01,
                                         "average_duration": 0.01, "render_config": None, "changed_state_ids": []}})
            elif item == "error":
                message = f"failed for {request.headers}" if self.echo_headers else "failed"
                title = f"Error ({request.headers.get('authorization')})" if self.echo_headers else "Error"
                steps.append({"msg": "process_completed", "event_id": event_id, "success": False, "title": title,
                              "output": {"error": message, "title": title}})  # as Gradio sends a gr.Error
            elif isinstance(item, dict):
                steps.append({k: event_id if v == "$event" else v for k, v in item.items()})
            else:
                steps.append(item)
        for step in steps:
            session.messages.put_nowait(step)
        if "lost" in script:
            # The app forgot the session between the join and the stream (a restart, another replica).
            del self._sessions[session_hash]
        if self.join_drop:
            await _drop_mid_body(send)
        gate = self.join_answer_gates.pop(0) if self.join_answer_gates else None
        while gate is not None and not gate.is_set() and not self._stopping:
            await asyncio.sleep(_TICK)
        await _respond(send, 200, {"event_id": event_id})

    async def _cancel(self, request: Recorded, send: Any) -> None:
        body = request.json()
        self.cancels.append(body)
        session = self._sessions.get(body.get("session_hash", ""))
        event_id = body.get("event_id")
        if session is not None and event_id in session.pending:
            # As Gradio's /cancel does: complete the event so the session's stream can close.
            session.messages.put_nowait({"msg": "process_completed", "event_id": event_id, "success": True,
                                         "output": {}, "title": None})
        self.cancelled.set()
        await _respond(send, 200, {"success": True})

    async def _data(self, request: Recorded, receive: Any, send: Any) -> None:
        session_hash = dict(p.split("=", 1) for p in request.query.split("&") if "=" in p).get("session_hash", "")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        session = self._sessions.get(session_hash)
        if session is None:
            # Gradio answers an unknown session inside the stream, as an unexpected_error.
            await _sse(send, {"msg": "unexpected_error", "message": "404: Not Found", "session_not_found": True,
                              "success": False})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        gone, watcher = _watch_disconnect(receive)
        stall: str | None = None
        try:
            while not gone.is_set() and not self._stopping:
                try:
                    step = await asyncio.wait_for(session.messages.get(), _TICK)
                except asyncio.TimeoutError:
                    if stall == "stall":
                        await _sse(send, {"msg": "heartbeat"}, event="heartbeat")
                        self.heartbeats += 1
                    continue
                if isinstance(step, threading.Event):
                    while not step.is_set() and not gone.is_set() and not self._stopping:
                        await asyncio.sleep(_TICK)
                        if stall == "stall":  # a long job: alive (heartbeats), with nothing to report
                            await _sse(send, {"msg": "heartbeat"}, event="heartbeat")
                            self.heartbeats += 1
                    continue
                if step in ("stall", "silent"):
                    stall = str(step)
                    continue
                if step == "drop":
                    raise _Drop("the server died mid-stream")
                if step == "end":
                    break  # the response ends cleanly, without a completion or close_stream
                if step == "endless":  # a message that never ends: 1 MiB after 1 MiB, and never a line break
                    await send({"type": "http.response.body", "body": b'data: {"msg": "progress", "x": "',
                                "more_body": True})
                    chunk = b"x" * 2**20
                    while not gone.is_set() and not self._stopping:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                        self.endless_sent += len(chunk)
                    break
                assert isinstance(step, dict)
                await _sse(send, step)
                if step["msg"] == "process_starts":
                    self.started.set()
                if step["msg"] == "process_completed":
                    session.pending.discard(step.get("event_id", ""))
                    stall = None
                    if not session.pending:
                        await _sse(send, {"msg": "close_stream", "event_id": None})
                        self.closed_stream.set()
                        break
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()

    async def _endless(self, receive: Any, send: Any) -> None:
        """A 200 JSON answer with no length whose body never ends: 1 MiB after 1 MiB (each waits until the socket
        takes it), until the client hangs up or the server stops."""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        gone, watcher = _watch_disconnect(receive)
        chunk = b"x" * 2**20
        try:
            await send({"type": "http.response.body", "body": b'{"css": "', "more_body": True})
            while not gone.is_set() and not self._stopping:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.endless_sent += len(chunk)
            raise _Drop("the client hung up on an endless answer")
        finally:
            watcher.cancel()

    async def _file(self, path: str, send: Any) -> None:
        content = self.files.get(path)
        if content is None:
            await _respond(send, 404, {"detail": "Not Found"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/octet-stream"), (b"content-length", str(len(content)).encode())]})
        self.file_gets += 1
        if self.file_mode in ("reset", "reset_once"):
            if self.file_mode == "reset_once":
                self.file_mode = "ok"
            await send({"type": "http.response.body", "body": content[: len(content) // 2], "more_body": True})
            raise _Drop("the server died mid-download")
        if self.file_mode == "trickle":
            for i in range(0, len(content), 16):  # 16 bytes a tick: alive, and never done in any useful time
                if self._stopping:
                    raise _Drop("stopping")
                await send({"type": "http.response.body", "body": content[i:i + 16], "more_body": True})
                await asyncio.sleep(_TICK)
        await send({"type": "http.response.body", "body": content if self.file_mode == "ok" else b""})

    async def _upload(self, request: Recorded, send: Any) -> None:
        # Enough of multipart for one or more small files: each part's content after its blank line.
        boundary = request.headers.get("content-type", "").split("boundary=")[-1].encode()
        names = []
        for part in request.body.split(b"--" + boundary)[1:-1]:
            content = part.split(b"\r\n\r\n", 1)[1][:-2]
            self.uploads.append(content)
            names.append(f"/tmp/gradio/upload/{uuid.uuid4().hex}/file")
        await _respond(send, 200, names if self.upload_answer is _UNSET else self.upload_answer)


async def _respond(send: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": raw})


async def _drop_mid_body(send: Any) -> None:
    """Promise 100 bytes, send 10, then die: the client sees the connection close before the answer is complete."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")]})
    await send({"type": "http.response.body", "body": b'{"event_id', "more_body": True})
    raise _Drop("the server died mid-answer")


async def _sse(send: Any, message: dict[str, Any], event: str | None = None) -> None:
    text = (f"event: {event}\n" if event else "") + f"data: {json.dumps(message)}\n\n"
    await send({"type": "http.response.body", "body": text.encode(), "more_body": True})


def _watch_disconnect(receive: Any) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """An event set when the client hangs up, and the task that watches for it (cancel it when done)."""
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    return gone, asyncio.get_running_loop().create_task(watch())
