"""A raw-socket HTTP server for tests that need control over every byte an answer carries (what uvicorn would never
send: a header flood, two answers in one write, a connection dropped at a chosen moment, a request never read).

Each accepted connection runs `script(conn, number)` in its own thread (`number` counts connections from 1); the
helpers read one request and build a small JSON answer. Used by tests/test_wire.py (compose's HTTP layer) and
tests/test_hostile_http.py (hostile answers). No HTTP is mocked: compose's real client talks to a real socket.

Usage:
    def script(conn: socket.socket, number: int) -> None:
        request, rest = read_request(conn)
        conn.sendall(json_answer({"n": number}))

    server = RawSocketServer(script)       # server.url, server.connections; server.close() when done
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RawSocketServer", "Script", "json_answer", "read_request", "recv"]

Script = Callable[[socket.socket, int], object]  # (connection, its number) -> serve it (what it returns is ignored)


def recv(conn: socket.socket) -> bytes:
    """The next bytes from the client; a closed peer raises instead of spinning on empty reads."""
    chunk = conn.recv(65536)
    if not chunk:
        raise ConnectionError("the client closed the connection")
    return chunk


def read_request(conn: socket.socket, buffer: bytes = b"") -> tuple[bytes, bytes]:
    """One request (its head, a blank line and its body, a chunked body decoded) and the bytes read past it.

    `buffer` holds bytes already read from `conn` (the `rest` of the previous request on a kept-alive connection).
    """
    while b"\r\n\r\n" not in buffer:
        buffer += recv(conn)
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body, buffer = _chunked(conn, buffer)
    else:
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(buffer) < length:
            buffer += recv(conn)
        body, buffer = buffer[:length], buffer[length:]
    return head + b"\r\n\r\n" + body, buffer


def _chunked(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes]:
    """A chunked request body, decoded; and what follows it."""
    body = b""
    while True:
        while b"\r\n" not in buffer:
            buffer += recv(conn)
        size_line, _, buffer = buffer.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(buffer) < size + 2:
            buffer += recv(conn)
        body, buffer = body + buffer[:size], buffer[size + 2:]
        if size == 0:
            return body, buffer


def json_answer(value: Any, *, extra_headers: bytes = b"", head_only: bool = False) -> bytes:
    """A whole `200 OK` answer with `value` as its JSON body (its length announced; no body for a HEAD)."""
    body = json.dumps(value).encode()
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
            % (len(body), extra_headers, b"" if head_only else body))


class RawSocketServer:
    """Listens on 127.0.0.1 (a free port) and runs `script` on each connection, in its own thread. With `tls`, it
    speaks HTTPS with that server-side context (a client that refuses the certificate just ends the connection).
    A script's socket has a `timeout` per read, and OSErrors (the client hung up) end it quietly."""

    def __init__(self, script: Script, *, tls: ssl.SSLContext | None = None, timeout: float = 30.0) -> None:
        self.script, self.tls, self.timeout = script, tls, timeout
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True, name=f"raw-server-{self.url}").start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(conn, self.connections), daemon=True).start()

    def _run(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(self.timeout)
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):  # the client refused our certificate
                conn.close()
                return
        with conn, contextlib.suppress(OSError):  # the client hung up (ConnectionError is an OSError)
            self.script(conn, number)

    def close(self) -> None:
        self.sock.close()
