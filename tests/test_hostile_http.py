"""compose's HTTP stack against hostile upstreams: each misbehaviour ends in a typed compose error (or the right
value), within a deadline compose itself enforces, and at a bounded cost in memory.

The servers are raw sockets in threads, scripted byte by byte. No HTTP is mocked. Time bounds here are the
generous deadlines compose is configured with (a few seconds), never a measure of the machine's speed; memory is
the peak of what the process allocated during the request (tracemalloc, tests/memory.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from memory import peak_mib
from raw_server import RawSocketServer, Script, json_answer, read_request

from compose.aiohttp_backend import AiohttpBackend
from compose.errors import UpstreamDisconnected, UpstreamTimeout
from compose.transport import Transport

WAIT = 10.0
MB = 2**20
# What compose may hold of a refused answer: a few socket reads (measured: about 0.3 MiB). Accepting 100,000 header
# lines or a 10 MiB value would hold several times this.
HEADER_PEAK_MIB = 4.0


def _answer(n: int) -> bytes:
    return json_answer({"n": n})


FORGED = _answer(666)


@pytest.fixture
def hostile() -> Iterator[Callable[[Script], RawSocketServer]]:
    made: list[RawSocketServer] = []

    def make(script: Script) -> RawSocketServer:
        made.append(RawSocketServer(script))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture
async def transport_to() -> AsyncIterator[Callable[..., Transport]]:
    made: list[Transport] = []

    def make(url: str, **backend: Any) -> Transport:
        made.append(Transport(url, space="hostile", backend=AiohttpBackend(**backend)))
        return made[-1]

    yield make
    for t in made:
        await t.aclose()


# What the servers send is built once, before any measurement: the test server runs in this process, and its own
# bytes must not count as compose's.
FLOOD_LINES = (b"x-flood: " + b"a" * 20 + b"\r\n") * 1000
ENDLESS_CHUNK = b"a" * 65536
HUGE_ANSWER = b"HTTP/1.1 200 OK\r\nx-huge: " + b"a" * (10 * MB) + b"\r\ncontent-length: 2\r\n\r\n{}"


def _flood(conn: socket.socket, lines: int) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(lines // 1000):
        conn.sendall(FLOOD_LINES)
    conn.sendall(b"content-length: 2\r\n\r\n{}")


async def test_a_header_flood_is_refused(hostile: Callable[[Script], RawSocketServer],
                                         transport_to: Callable[..., Transport]) -> None:
    """100,000 header lines: refused once past the header-count limit, the connection dropped."""
    server = hostile(lambda conn, _: _flood(conn, 100_000))
    transport = transport_to(server.url)
    with peak_mib() as peak, pytest.raises(UpstreamDisconnected, match="refused"):
        await transport.send("POST", "/gradio_api/queue/join", headers={}, json={}, read_timeout=WAIT)
    assert peak[0] < HEADER_PEAK_MIB  # compose held no more than a few socket reads of what it refused


async def test_an_endless_header_is_cut_off(hostile: Callable[[Script], RawSocketServer],
                                            transport_to: Callable[..., Transport]) -> None:
    """A header value that never ends (the server writes as long as the client reads): refused at the field
    size limit, without buffering what the server keeps sending."""

    def endless(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nx-endless: ")
        while True:  # until the client hangs up (sendall raises)
            conn.sendall(ENDLESS_CHUNK)

    server = hostile(endless)
    transport = transport_to(server.url)
    with peak_mib() as peak, pytest.raises(UpstreamDisconnected, match="refused"):
        await transport.send("GET", "/config", headers={}, read_timeout=WAIT)
    assert peak[0] < HEADER_PEAK_MIB  # compose held no more than a few socket reads of what it refused


async def test_a_10_mb_header_value_is_refused(hostile: Callable[[Script], RawSocketServer],
                                               transport_to: Callable[..., Transport]) -> None:
    def huge(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(HUGE_ANSWER)

    server = hostile(huge)
    transport = transport_to(server.url)
    with peak_mib() as peak, pytest.raises(UpstreamDisconnected, match="refused"):
        await transport.send("GET", "/config", headers={}, read_timeout=WAIT)
    assert peak[0] < HEADER_PEAK_MIB  # compose held no more than a few socket reads of what it refused


async def test_an_upload_the_server_never_reads_times_out(hostile: Callable[[Script], RawSocketServer],
                                                          transport_to: Callable[..., Transport]) -> None:
    """The server accepts the connection and never reads: the upload stalls once the socket buffers are full,
    and compose's write deadline (2 s here) ends it with UpstreamTimeout instead of hanging forever."""
    stop = threading.Event()
    server = hostile(lambda conn, _: stop.wait(WAIT * 3))
    transport = transport_to(server.url, write_timeout=2.0)
    produced = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal produced
        chunk = b"x" * (256 * 1024)
        for _ in range(400):  # 100 MB if anyone read it
            produced += len(chunk)
            yield chunk

    try:
        with peak_mib() as peak, pytest.raises(UpstreamTimeout, match="stopped reading"):
            await transport.send("POST", "/gradio_api/upload", headers={}, content=body(), read_timeout=WAIT)
    finally:
        stop.set()
    assert produced < 50 * MB  # the body is pulled only as fast as the socket takes it
    assert peak[0] < 16, peak  # and not kept: at most a few chunks (256 KiB each) in flight


async def test_an_unsolicited_answer_on_a_pooled_connection_is_never_read_as_the_next_one(
        hostile: Callable[[Script], RawSocketServer], transport_to: Callable[..., Transport]) -> None:
    """After answering, the server writes a forged answer on the idle keep-alive connection. The next request
    must get its own answer (on a fresh connection), never the forged one."""
    forged_sent = threading.Event()

    def script(conn: socket.socket, number: int) -> None:
        rest = read_request(conn)[1]
        conn.sendall(_answer(number))
        if number == 1:
            conn.sendall(FORGED)  # nobody asked
            forged_sent.set()
            with contextlib.suppress(ConnectionError):
                read_request(conn, rest)
                conn.sendall(FORGED)  # if the client did reuse it, answer with the forgery again

    server = hostile(script)
    transport = transport_to(server.url)
    first = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={})
    assert first.json() == {"n": 1}
    assert await asyncio.to_thread(forged_sent.wait, WAIT)
    second = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={})
    assert second.json() == {"n": 2}
    assert server.connections == 2


async def test_two_answers_in_one_write_are_not_merged_or_reused(hostile: Callable[[Script], RawSocketServer],
                                                                 transport_to: Callable[..., Transport]) -> None:
    """The server writes its answer and a second one in one packet: the first is the answer (not merged into one
    body), and the second is never handed to the next request."""

    def script(conn: socket.socket, number: int) -> None:
        rest = read_request(conn)[1]
        conn.sendall(_answer(number) + (FORGED if number == 1 else b""))
        with contextlib.suppress(ConnectionError):
            read_request(conn, rest)
            conn.sendall(FORGED)

    server = hostile(script)
    transport = transport_to(server.url)
    first = await transport.send("GET", "/config", headers={})
    assert first.content == b'{"n": 1}'
    second = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={})
    assert second.json() == {"n": 2}


async def test_a_join_is_never_sent_on_a_connection_the_server_closed_while_our_loop_was_busy(
        hostile: Callable[[Script], RawSocketServer], transport_to: Callable[..., Transport]) -> None:
    """uvicorn closes a keep-alive connection after 5 idle seconds. An app whose loop is busy (the soak's outer app
    under load) has not yet handled that close when its next join takes the connection from the pool; the join,
    never re-sent, was lost ("Server disconnected"). The pool asks the socket itself before reusing it."""
    close_now, closed = threading.Event(), threading.Event()

    def script(conn: socket.socket, number: int) -> None:
        rest = read_request(conn)[1]
        conn.sendall(_answer(number))
        if number == 1:  # the first connection: answered, then closed by the server while the client idles
            close_now.wait(WAIT)
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            closed.set()
            return
        while True:
            rest = read_request(conn, rest)[1]
            conn.sendall(_answer(number))

    server = hostile(script)
    transport = transport_to(server.url)
    assert (await transport.send("POST", "/gradio_api/queue/join", headers={}, json={"a": 1})).json() == {"n": 1}
    close_now.set()
    # This loop is blocked (a busy app) until the server has closed the idle connection: aiohttp has not seen the
    # close when the next join asks the pool for a connection.
    assert closed.wait(WAIT)
    second = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={"a": 2})
    assert second.json() == {"n": 2}
    assert server.connections == 2


async def test_the_aiohttp_internal_compose_overrides_is_still_there() -> None:
    """compose.aiohttp_backend._Connector overrides TCPConnector._get (pooled-connection checkout) to drop a
    connection holding unread bytes; this pins that aiohttp still has it, with the signature compose calls."""
    import inspect

    params = list(inspect.signature(aiohttp.TCPConnector._get).parameters)
    assert params == ["self", "key", "traces"]
    # A spare connection (preconnect) and a connection about to come back (Reply.ending) use these too.
    assert list(inspect.signature(aiohttp.TCPConnector._create_connection).parameters) == [
        "self", "req", "traces", "timeout"]
    release = inspect.signature(aiohttp.TCPConnector._release).parameters
    assert list(release) == ["self", "key", "protocol", "should_close"]
    assert release["should_close"].kind is inspect.Parameter.KEYWORD_ONLY
    connector = aiohttp.TCPConnector()
    assert isinstance(connector._conns, dict)
    await connector.close()
    assert isinstance(aiohttp.client_proto.ResponseHandler.should_close, property)
