"""A TLS-terminating delay proxy on 127.0.0.1: an emulated wide-area link in front of a local Gradio app.

Every byte waits half the round-trip time in each direction, in order. TLS ends at the proxy (a throwaway trustme
CA), so the handshake itself crosses no delay: a new connection's first bytes wait two more round trips instead,
what TCP's handshake and TLS 1.3's cost on a real link (the request then still travels its half round trip). The
result: an exchange on an open connection costs one RTT, on a new connection three, as on the internet.

The proxy runs in a process of its own (its CPU is not the measured client's), and logs every connection, every
request line and every response's status line and Gradio message kind with the time the client sent or received it,
so a benchmark can count connections and see where the round trips of a call go (`events`).

Usage:
    with DelayProxy(upstream="http://127.0.0.1:7860", rtt=0.05) as proxy:
        t0 = time.monotonic()
        compose.Space(proxy.url, verify=proxy.ca_file)    # https://127.0.0.1:PORT, 50 ms away
        print(proxy.events(since=t0))
    python -m bench.wan.proxy http://127.0.0.1:7860 0.05  # alone: prints {"port": …, "ca": …}, then reads commands
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

__all__ = ["DelayProxy", "Event", "opened"]

_HANDSHAKES = 2  # round trips a new connection costs before its first request can leave: TCP, then TLS 1.3
_REQUEST = re.compile(rb"^(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH) (\S+) HTTP/1\.[01]\r\n")
_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")
_MSG = re.compile(rb'"msg": ?"(\w+)"')


@dataclass(frozen=True)
class Event:
    """One thing the link carried, timed as the client saw it (`time.monotonic()`, the same clock in every process).

    kind: "open" (a new connection), "request" (what: "GET /path"), "status" (what: "200"), "message" (what: a Gradio
    data-stream message kind, e.g. "process_completed"), "close". `conn` numbers the proxy's client connections.
    """

    at: float
    conn: int
    kind: str
    what: str = ""


class DelayProxy:
    """See the module docstring. The proxy process lives as long as the `with` block."""

    def __init__(self, upstream: str, rtt: float) -> None:
        self.upstream, self.rtt = upstream, rtt
        self.url = ""
        self.ca_file = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> DelayProxy:
        self._process = subprocess.Popen([sys.executable, "-m", "bench.wan.proxy", self.upstream, str(self.rtt)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                         cwd=Path(__file__).resolve().parents[2])
        hello = json.loads(self._readline())
        self.url, self.ca_file = f"https://127.0.0.1:{hello['port']}", hello["ca"]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                assert self._process.stdin is not None
                self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)

    def _readline(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the delay proxy exited")
        return line

    def _ask(self, command: dict[str, Any]) -> Any:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        return json.loads(self._readline())

    def set_rtt(self, rtt: float) -> None:
        """Change the link's round-trip time (for what comes next; open connections too)."""
        self._ask({"rtt": rtt})
        self.rtt = rtt

    def events(self, since: float = 0.0) -> list[Event]:
        """What the link carried since `since` (a `time.monotonic()`), oldest first."""
        return [Event(*e) for e in self._ask({"events": since})]

    def connections(self, since: float = 0.0) -> int:
        """How many connections clients opened since `since` (see `opened`)."""
        return opened(self.events(since))


def opened(events: list[Event]) -> int:
    """Connections opened among `events`, but for gradio_client's heartbeat streams: a Client holds one open in a
    thread of its own, and reopens it when it will, whichever client is being measured."""
    new = {e.conn for e in events if e.kind == "open"}
    first: dict[int, str] = {}
    for e in events:
        if e.kind == "request" and e.conn in new:
            first.setdefault(e.conn, e.what)
    return sum(1 for conn in new if "/heartbeat/" not in first.get(conn, ""))


# --- the proxy process ------------------------------------------------------------------------------------------


class _Link:
    def __init__(self, upstream: str, rtt: float) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rtt = rtt
        self.log: list[tuple[float, int, str, str]] = []
        self.count = 0

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count += 1
        conn = self.count
        opened = time.monotonic()
        self.log.append((opened, conn, "open", ""))
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        # The first request bytes leave as if after TCP's and TLS's handshakes on the delayed link.
        with contextlib.suppress(asyncio.CancelledError):  # the proxy stopping with the connection open
            await asyncio.gather(self._pipe(conn, reader, up_writer, opened + _HANDSHAKES * self.rtt, upward=True),
                                 self._pipe(conn, up_reader, writer, 0.0, upward=False), return_exceptions=True)
        self.log.append((time.monotonic(), conn, "close", ""))

    def _note(self, conn: int, chunk: bytes, at: float, upward: bool) -> None:
        if upward:
            m = _REQUEST.match(chunk)
            if m:
                self.log.append((at, conn, "request", f"{m[1].decode()} {m[2].decode('latin-1')[:200]}"))
            return
        m = _STATUS.match(chunk)
        if m:
            self.log.append((at, conn, "status", m[1].decode()))
        for kind in _MSG.findall(chunk):
            if kind != b"heartbeat":
                self.log.append((at, conn, "message", kind.decode()))

    async def _pipe(self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, not_before: float,
                    *, upward: bool) -> None:
        """Copy reader → writer, each chunk delivered half an RTT after it was read (after `not_before`), in
        order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, chunk = await queue.get()
                wait = at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof() if writer.can_write_eof() else writer.close()
                    return
                writer.write(chunk)
                with contextlib.suppress(OSError):
                    await writer.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                try:
                    chunk = await reader.read(65536)
                except (OSError, ssl.SSLError):
                    chunk = b""
                now = time.monotonic()
                half = self.rtt / 2
                at = max(now, not_before) + half
                if chunk:
                    # Timed as the client sees it: a request when it leaves the client, an answer when it arrives.
                    self._note(conn, chunk, now if upward else at, upward)
                queue.put_nowait((at, chunk))
                if not chunk:
                    break
            await sender
        finally:
            sender.cancel()
            with contextlib.suppress(Exception):
                writer.close()


async def _serve(upstream: str, rtt: float, out: IO[str]) -> None:
    import trustme

    link = _Link(upstream, rtt)
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with tempfile.TemporaryDirectory(prefix="compose-wan-") as folder:
        ca_file = str(Path(folder) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        server = await asyncio.start_server(link.client, "127.0.0.1", 0, ssl=context)
        out.write(json.dumps({"port": server.sockets[0].getsockname()[1], "ca": ca_file}) + "\n")
        out.flush()
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[str] = asyncio.Queue()
        loop.add_reader(sys.stdin.fileno(), lambda: commands.put_nowait(sys.stdin.readline()))
        while line := await commands.get():
            command = json.loads(line)
            if "rtt" in command:
                link.rtt = float(command["rtt"])
                answer: Any = "ok"
            else:
                answer = [e for e in link.log if e[0] >= command["events"]]
            out.write(json.dumps(answer) + "\n")
            out.flush()
        loop.remove_reader(sys.stdin.fileno())
        server.close()


def main() -> None:
    serve = _serve(sys.argv[1], float(sys.argv[2]), sys.stdout)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve)
    else:
        uvloop.run(serve)  # the proxy's own CPU cost kept low: less of a distortion on a loaded machine


if __name__ == "__main__":
    main()
