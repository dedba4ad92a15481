"""compose's HTTP layer (compose.transport over the aiohttp backend), its one header builder, and the data-stream
parser, against small misbehaving servers.

The servers are plain blocking sockets in a thread: they answer exactly as scripted, so a test can make a
server drop an idle keep-alive connection, or play a proxy, at a known moment. No HTTP is mocked.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from raw_server import RawSocketServer, json_answer, read_request

import compose
from compose.errors import ConfigError, SpaceUnavailable
from compose.headers import request_headers
from compose.streams import EventParser
from compose.transport import Transport

WAIT = 10.0


@dataclass
class RawServer:
    """Answers each request `200 {"n": <request number>}` on a kept-alive connection, recording what it read.

    With `drop_after_answer`, it closes each connection once the test sets `drop` (as uvicorn does with an idle
    keep-alive connection) and sets `dropped` when the socket is gone.
    """

    drop_after_answer: bool = False
    extra_headers: bytes = b""
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server-side context
    requests: list[bytes] = field(default_factory=list)
    drop: threading.Event = field(default_factory=threading.Event)
    dropped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.server = RawSocketServer(self._serve_requests, tls=self.tls, timeout=WAIT)
        self.url = self.server.url

    @property
    def connections(self) -> int:
        return self.server.connections

    def _serve_requests(self, conn: socket.socket, _: int) -> None:
        rest = b""
        while True:
            request, rest = read_request(conn, rest)
            self.requests.append(request)
            conn.sendall(json_answer({"n": len(self.requests)}, extra_headers=self.extra_headers,
                                     head_only=request.startswith(b"HEAD ")))
            if self.drop_after_answer:
                self.drop.wait(WAIT)
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
                self.dropped.set()
                return

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def servers() -> Iterator[Callable[..., RawServer]]:
    """`servers(**options)`: a RawServer, closed after the test."""
    made: list[RawServer] = []

    def make(**options: Any) -> RawServer:
        made.append(RawServer(**options))
        return made[-1]

    yield make
    for server in made:
        server.drop.set()
        server.close()


@pytest.fixture
async def transports() -> AsyncIterator[Callable[[str], Transport]]:
    """`transports(url)`: compose's Transport to `url`, closed after the test."""
    made: list[Transport] = []

    def make(url: str) -> Transport:
        made.append(Transport(url, space="raw"))
        return made[-1]

    yield make
    for transport in made:
        await transport.aclose()


Servers = Callable[..., RawServer]
Transports = Callable[[str], Transport]


async def test_a_keep_alive_connection_the_server_dropped_is_not_reused(servers: Servers, transports: Transports
                                                                       ) -> None:
    """A join is never sent twice, so it must not go out on a connection the server has closed while it idled:
    the next call opens a new connection and succeeds instead of failing with "server disconnected"."""
    server = servers(drop_after_answer=True)
    transport = transports(server.url)
    first = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={"a": 1})
    assert first.json() == {"n": 1}
    server.drop.set()
    assert await asyncio.to_thread(server.dropped.wait, WAIT)
    second = await transport.send("POST", "/gradio_api/queue/join", headers={"x-ip-token": "t"}, json={"a": 2})
    assert second.json() == {"n": 2}
    assert server.connections == 2
    assert b"x-ip-token: t" in server.requests[1]
    assert server.requests[1].endswith(b'{"a":2}')


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="from Python 3.12 aiohttp writes a request's bytes as it "
                    "sends it: no turn of the loop between taking a connection and writing on it")
async def test_a_join_whose_pooled_connection_closed_before_it_went_out_is_sent_again_once(
        servers: Servers, transports: Transports, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server closes a pooled keep-alive connection right as the next join takes it: after the pool's checks
    (aiohttp's, and compose's poll of the socket) found it open, its FIN arrives, and the loop handles it (closing
    the transport) in the turn before the join's bytes are written (a task of its own on Python 3.11). Nothing of
    the join left, so compose sends it again on a new connection: the call succeeds, and exactly one join reached
    the app (a join is never sent twice)."""
    import select

    import compose.aiohttp_backend as backend

    server = servers(drop_after_answer=True)
    transport = transports(server.url)
    assert (await transport.send("POST", "/gradio_api/queue/join", headers={}, json={"a": 1})).json() == {"n": 1}
    polled = backend._stirred

    def closed_right_after_the_poll(protocol: Any) -> bool:
        if polled(protocol):
            return True
        # The poll found nothing; now the server closes the connection, and its FIN arrives ...
        server.drop.set()
        assert server.dropped.wait(WAIT)
        sock = protocol.transport.get_extra_info("socket")
        assert select.select([sock.fileno()], [], [], WAIT)[0]
        # ... and the loop's next turn handles it (an end of file closes the transport) before the join's write.
        asyncio.get_running_loop().call_soon(protocol.transport.close)
        return False

    monkeypatch.setattr(backend, "_stirred", closed_right_after_the_poll)
    second = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={"a": 2}, retry=True)
    assert second.json() == {"n": 2}
    assert len(server.requests) == 2 and server.requests[1].endswith(b'{"a":2}')  # one join, not two
    assert server.connections == 2


async def test_warm_calls_reuse_one_connection(servers: Servers, transports: Transports) -> None:
    server = servers()
    transport = transports(server.url)
    for i in range(1, 6):
        response = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={"i": i})
        assert response.json() == {"n": i}
    got = await transport.send("GET", "/config", headers={})
    assert got.json() == {"n": 6}
    assert server.connections == 1


@pytest.mark.parametrize("value", ["t\r\nx-admin: 1", "t\nx-admin: 1", "t\x00", "t\x01", "t\x7f", "t\x1b[31m"])
def test_a_header_value_with_a_control_character_is_refused_and_nothing_is_sent(servers: Servers, value: str
                                                                                ) -> None:
    """A static or forwarded value can never smuggle a second header or a control character: the request is
    refused (naming the Space, never echoing the value) before any connection."""
    server = servers()
    space = compose.Space(server.url, headers={"x-api-key": value})
    with pytest.raises(ConfigError, match="x-api-key") as caught:
        space.load()
    assert value not in str(caught.value)
    assert server.connections == 0
    with pytest.raises(ConfigError, match="control characters"):
        request_headers({"x-ip-token": value})


def test_each_header_goes_out_once(servers: Servers) -> None:
    """Static headers that name a header compose also sets (Host, Accept) replace it instead of doubling it."""
    server = servers()
    space = compose.Space(server.url, headers={"Host": "example.org", "Accept": "application/json",
                                               "X-Trace": "1", "x-trace": "2"})
    with pytest.raises(ConfigError, match="does not look like a Gradio app"):
        space.load()  # RawServer answers {"n": 1}: not a config, but the request is what this test reads
    head = server.requests[0].split(b"\r\n\r\n")[0].lower().split(b"\r\n")[1:]
    names = [line.split(b":")[0] for line in head]
    assert sorted(names) == sorted(set(names)), head
    assert b"host: example.org" in head and b"accept: application/json" in head and b"x-trace: 2" in head


async def test_the_data_stream_asks_for_events_once(servers: Servers, transports: Transports) -> None:
    server = servers()
    transport = transports(server.url)
    async with transport.stream("/gradio_api/queue/data?session_hash=s",
                                request_headers({}, accept="text/event-stream")) as reply:
        assert reply.status == 200
        assert b"".join([c async for c in reply.chunks()]) == b'{"n": 1}'
    head = server.requests[0].lower()
    assert head.count(b"\r\naccept:") == 1 and b"accept: text/event-stream" in head


async def test_a_cookie_one_answer_sets_is_never_sent_on_later_requests(servers: Servers, transports: Transports
                                                                        ) -> None:
    """The pool is shared by every end user: a cookie the Space set during one user's request must not ride along
    with the next user's."""
    server = servers(extra_headers=b"set-cookie: session=alice; Path=/\r\n")
    transport = transports(server.url)
    await transport.send("GET", "/config?user=alice", headers={})
    await transport.send("GET", "/gradio_api/info?user=bob", headers={})
    response = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={})
    assert response.headers.get_all("set-cookie") == ["session=alice; Path=/"]  # the caller still sees it
    assert len(server.requests) == 3
    assert not any(b"cookie" in r.lower().replace(b"set-cookie", b"") for r in server.requests)


async def test_an_upload_of_unknown_length_goes_out_chunked_and_whole(servers: Servers, transports: Transports) -> None:
    server = servers()
    transport = transports(server.url)

    async def parts() -> AsyncIterator[bytes]:
        for i in range(3):
            yield b"part%d;" % i

    response = await transport.send("POST", "/gradio_api/upload", headers={}, content=parts())
    assert response.json() == {"n": 1}
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"part0;part1;part2;"
    # The connection is still good for the next request.
    assert (await transport.send("GET", "/config", headers={})).json() == {"n": 2}
    assert server.connections == 1


async def test_a_head_request_does_not_wait_for_a_body(servers: Servers, transports: Transports) -> None:
    transport = transports(servers().url)
    response = await asyncio.wait_for(transport.send("HEAD", "/config", headers={}), WAIT)
    assert response.status_code == 200 and response.content == b""
    assert (await transport.send("GET", "/config", headers={})).json() == {"n": 2}


async def test_a_spare_connection_is_opened_once_and_the_next_request_uses_it(servers: Servers,
                                                                               transports: Transports) -> None:
    """preconnect() opens one connection ahead of need when the pool has no idle one (a call's join and data stream
    then find two open, instead of paying a new connection's handshakes), and none while one is idle."""
    server = servers()
    transport = transports(server.url)
    await transport.preconnect()  # the spare is in the pool (the server counting its accept is not enough)
    await asyncio.to_thread(_wait_for, lambda: server.connections == 1)
    response = await transport.send("GET", "/config", headers={})
    assert response.json() == {"n": 1} and not response.new_connection  # it went out on the spare
    transport.preconnect()  # an idle connection is in the pool: nothing to open
    await asyncio.sleep(0)  # a turn of the loop, not a wait: the preconnect looks at the pool now
    assert (await transport.send("GET", "/config", headers={})).json() == {"n": 2}
    assert server.connections == 1


async def test_a_request_waits_for_a_connection_whose_answer_is_ending(transports: Transports) -> None:
    """A data stream whose last message is read (its body's last bytes on their way) is about to give its
    connection back: a request made meanwhile waits for it instead of opening a new connection (on a wide-area
    link, two round trips more)."""
    from raw_server import RawSocketServer

    finish = threading.Event()

    def script(conn: socket.socket, number: int) -> None:
        if number > 1:
            read_request(conn)
            conn.sendall(json_answer({"n": "a new connection"}))
            return
        _, rest = read_request(conn)
        last = b'data: {"msg": "close_stream"}\n\n'
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                     + b"%x\r\n%s\r\n" % (len(last), last))
        finish.wait(WAIT)
        conn.sendall(b"0\r\n\r\n")  # the body's end, after the next request has asked for a connection
        read_request(conn, rest)
        conn.sendall(json_answer({"n": "the stream's connection"}))

    server = RawSocketServer(script, timeout=WAIT)
    try:
        transport = transports(server.url)
        async with transport.stream("/gradio_api/queue/data?session_hash=s", {}) as reply:
            chunks = reply.chunks()
            assert b"close" in await anext(chunks)
            reply.ending()
            following = asyncio.ensure_future(transport.send("POST", "/gradio_api/queue/join", headers={},
                                                             json={}))
            await asyncio.sleep(0)  # a turn of the loop, not a wait: the request asks for its connection now
            finish.set()
            assert [c async for c in chunks] == []
        assert (await asyncio.wait_for(following, WAIT)).json() == {"n": "the stream's connection"}
        assert server.connections == 1
    finally:
        finish.set()
        server.close()


def _wait_for(condition: Callable[[], bool]) -> None:
    """Poll what a server recorded (in a thread, off the test's loop) until `condition()` holds, or fail."""
    ends = threading.Event()
    for _ in range(int(WAIT / 0.02)):
        if condition():
            return
        ends.wait(0.02)
    raise AssertionError("the server never saw it")


async def test_an_environment_proxy_is_honoured(servers: Servers, transports: Transports,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind HTTP_PROXY, requests go to the proxy (in absolute form), as aiohttp's trust_env would send them."""
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxy = servers()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    transport = transports("http://gradio.invalid:7860")  # its pool is made on first use, behind the proxy
    response = await transport.send("POST", "/gradio_api/queue/join", headers={}, json={"x": 1})
    assert response.json() == {"n": 1}
    assert proxy.requests[0].startswith(b"POST http://gradio.invalid:7860/gradio_api/queue/join HTTP/1.1")


async def test_https_is_verified_and_works_once_the_certificate_is_trusted(
        servers: Servers, transports: Transports, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compose's own pool speaks TLS with verification on: an untrusted certificate is refused before anything is
    sent; a CA trusted through SSL_CERT_FILE (as a company proxy's would be) works."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(served)
    server = servers(tls=served)
    url = server.url.replace("http://", "https://")
    untrusted, trusted = transports(url), transports(url)
    with pytest.raises(SpaceUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await untrusted.send("POST", "/gradio_api/queue/join", headers={}, json={"a": 1})
    assert server.requests == []
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    first = await trusted.send("POST", "/gradio_api/queue/join", headers={}, json={"a": 1})
    second = await trusted.send("GET", "/config", headers={})
    assert (first.json(), second.json()) == ({"n": 1}, {"n": 2})
    assert server.requests[0].startswith(b"POST /gradio_api/queue/join HTTP/1.1")


MESSAGES = [{"msg": "estimation", "rank": 0}, {"msg": "process_generating", "output": {"data": ["a\nb"]}},
            {"msg": "process_completed", "success": True}, {"msg": "close_stream"}]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_stream_messages_survive_any_chunking_and_line_ending(newline: bytes) -> None:
    """Every message arrives once and whole, however the server's bytes are split between reads."""
    body = b"".join(b"data: " + json.dumps(m).encode() + newline * 2 for m in MESSAGES)
    body = b": a comment" + newline + b"event: heartbeat" + newline + b"data: {}" + newline * 2 + body
    expected = [{}, *MESSAGES]
    for size in (1, 2, 3, 7, len(body)):
        parser = EventParser()
        got = [json.loads(d) for i in range(0, len(body), size) for d in parser.feed(body[i:i + size])]
        assert got == expected, (size, newline)


def test_a_multi_line_event_joins_its_data_lines() -> None:
    parser = EventParser()
    assert parser.feed(b"data: {\"a\":\ndata: 1}\n") == []
    assert parser.feed(b"\n") == [b'{"a":\n1}']
