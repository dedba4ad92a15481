"""A TLS-terminating delay proxy on 127.0.0.1: an emulated wide-area link in front of a local Gradio app.

Every byte waits half the round-trip time in each direction, in order. TLS ends at the proxy (a throwaway trustme
CA), so the handshake itself crosses no delay: a new connection's first bytes wait two more round trips instead,
what TCP's handshake and TLS 1.3's cost on a real link. The result: an exchange on an open connection costs one
RTT, a new connection two more, as on the internet.

Usage:
    with DelayProxy(upstream="http://127.0.0.1:7860", rtt=0.05) as proxy:
        compose.Space(proxy.url, verify=proxy.ca_file)    # https://127.0.0.1:PORT, 50 ms away
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["DelayProxy"]

_HANDSHAKES = 2  # round trips a new connection costs before its first request: TCP, then TLS 1.3


class DelayProxy:
    """See the module docstring. `connections` counts the client connections accepted."""

    def __init__(self, upstream: str, rtt: float) -> None:
        import trustme

        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rtt = rtt
        self.connections = 0
        ca = trustme.CA()
        self._server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self._server_ctx)
        self._dir = tempfile.TemporaryDirectory(prefix="compose-wan-")
        self.ca_file = str(Path(self._dir.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wan-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.url = ""

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self._server_ctx), self._loop).result(10)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._dir.cleanup()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        opened = time.monotonic()
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        half = self.rtt / 2
        # The first request bytes arrive as if after TCP's and TLS's handshakes on the delayed link.
        first = opened + _HANDSHAKES * self.rtt
        await asyncio.gather(self._pipe(reader, up_writer, half, first), self._pipe(up_reader, writer, half, 0.0),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float,
                    not_before: float) -> None:
        """Copy reader → writer, each chunk delivered `delay` seconds after it was read (and not before
        `not_before`), in order."""
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
                queue.put_nowait((max(time.monotonic() + delay, not_before), chunk))
                if not chunk:
                    break
            await sender
        finally:
            sender.cancel()
            with contextlib.suppress(Exception):
                writer.close()
