"""Round trips, seen at a relay in front of a real Gradio app (spaces/translator): what compose sends before an
answer comes back, and which connections it opens.

The relay (`HoldingRelay`) forwards bytes as they come, but holds the answer to a chosen request until the client
has sent another chosen request (or until HOLD seconds pass). A client that sends both at once is never held; one
that waits for the first answer before sending the second is held the whole time, and the relay says so. Nothing
is timed: the tests read what the relay saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

import compose
from compose.schema import _cache_path

HOLD = 5.0  # how long the relay holds an answer waiting for the other request (the bound of a sequential client)
WAIT = 30.0

Relays = Callable[[str], "HoldingRelay"]
Spaces = Callable[..., compose.Space]

_REQUEST = re.compile(rb"^(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH) (\S+) HTTP/1\.[01]\r\n")


@dataclass
class HoldingRelay:
    """A plain-HTTP relay that holds the answer to a request matching `hold` until a request matching `until` has
    come in (on any connection), or HOLD seconds passed (`held_out` counts those)."""

    upstream: tuple[str, int]
    hold: str = "^$"
    until: str = "^$"
    requests: list[str] = field(default_factory=list)
    connections: int = 0
    held_out: int = 0
    url: str = ""
    _seen: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        self._server.close()

    def expect(self, hold: str, until: str) -> None:
        self.hold, self.until, self._seen = hold, until, asyncio.Event()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        pending: list[str] = []  # request lines of this connection whose answers have not gone back yet

        async def upward() -> None:
            while chunk := await reader.read(65536):
                m = _REQUEST.match(chunk)
                if m:
                    line = f"{m[1].decode()} {m[2].decode()}"
                    self.requests.append(line)
                    pending.append(line)
                    if re.search(self.until, line):
                        self._seen.set()
                up_writer.write(chunk)
                await up_writer.drain()
            up_writer.close()

        async def downward() -> None:
            while chunk := await up_reader.read(65536):
                if chunk.startswith(b"HTTP/1.") and pending:
                    line = pending.pop(0)
                    if re.search(self.hold, line) and not self._seen.is_set():
                        try:
                            await asyncio.wait_for(self._seen.wait(), HOLD)
                        except TimeoutError:
                            self.held_out += 1
                writer.write(chunk)
                await writer.drain()
            writer.close()

        with contextlib.suppress(OSError, asyncio.CancelledError):
            await asyncio.gather(upward(), downward())


@pytest.fixture
async def relay(urls: dict[str, str]) -> AsyncIterator[Callable[[str], HoldingRelay]]:
    made: list[HoldingRelay] = []

    def make(name: str) -> HoldingRelay:
        host, port = urls[name].removeprefix("http://").rstrip("/").split(":")
        made.append(HoldingRelay((host, int(port))))
        return made[-1]

    yield make
    for r in made:
        await r.close()


async def test_a_warm_call_sends_its_join_and_its_data_stream_at_once(relay: Relays, make_space: Spaces) -> None:
    link = relay("translator")
    await link.start()
    space = make_space(link.url, schema_ttl=0)
    await asyncio.wait_for(space.aload(), WAIT)  # (the relay runs on this loop: nothing here may block it)
    ep = space.endpoint("/translate")
    with compose.identity(session="warm-one-trip"):
        assert await asyncio.wait_for(ep.call("hello", "French"), WAIT) == "bonjour"  # the session's first call
        for _ in range(3):
            # The join's answer is held until the session's data stream is asked for: a client that opens the
            # stream only after the join has answered waits out the hold each time.
            link.expect(hold=r"^POST .*/queue/join$", until=r"^GET .*/queue/data\?")
            connections = link.connections
            assert await asyncio.wait_for(ep.call("hello", "French"), WAIT) == "bonjour"
            assert link.connections == connections  # on pooled connections: none opened for a warm call
    assert link.held_out == 0


async def test_a_cold_schema_is_fetched_at_once(relay: Relays, make_space: Spaces) -> None:
    link = relay("translator")
    await link.start()
    # /config's answer is held until /info is asked for, and /info's until the MCP schema is.
    link.expect(hold=r"^GET /config$", until=r"^GET /gradio_api/mcp/schema$")
    space = make_space(link.url, schema_ttl=0)
    await asyncio.wait_for(space.aload(), WAIT)  # (the relay runs on this loop: nothing here may block it)
    assert await asyncio.wait_for(space.endpoint("/translate").call("hello", "French"), WAIT) == "bonjour"
    assert link.held_out == 0
    fetched = [r for r in link.requests if not r.startswith(("POST", "GET /gradio_api/queue/"))]
    # Nothing asked twice, and no redeploy check for a schema just read.
    assert sorted(fetched) == ["GET /config", "GET /gradio_api/info", "GET /gradio_api/mcp/schema"]


# --- a schema the app confirmed within schema_check_every is trusted, by a later Space (process) too -------------


def _after_loading(requests: list[str]) -> list[str]:
    return [r.split("?")[0] for r in requests]


def _age_disk_entry(url: str, seconds: float) -> None:
    """Make the app's last confirmation of `url`'s disk cache entry `seconds` old (negative: in the future)."""
    path = _cache_path(url)
    assert path.exists()
    when = time.time() - seconds
    os.utime(path, (when, when))


async def _first_call(space: compose.Space, user: str) -> None:
    with compose.identity(session=user):
        assert await asyncio.wait_for(space.endpoint("/translate").call("hello", "French"), WAIT) == "bonjour"


JOIN_AND_STREAM = ["POST /gradio_api/queue/join", "GET /gradio_api/queue/data"]
CHECKED = ["GET /gradio_api/app_id", *JOIN_AND_STREAM]


async def test_a_schema_confirmed_within_the_window_is_trusted_by_a_new_space(relay: Relays, make_space: Spaces
                                                                               ) -> None:
    link = relay("translator")
    await link.start()
    window = compose.Limits(schema_check_every=3600)
    await asyncio.wait_for(make_space(link.url, schema_ttl=0, limits=window).aload(), WAIT)  # fetched: confirmed
    sent = len(link.requests)
    # A new Space (as a restarted process would) reads that schema from disk and trusts it: its first call is the
    # join and the data stream, nothing before.
    await _first_call(make_space(link.url, limits=window), "trusted-from-disk")
    assert _after_loading(link.requests[sent:]) == JOIN_AND_STREAM


async def test_a_schema_confirmed_before_the_window_is_checked_and_the_check_confirms_it_again(
        relay: Relays, make_space: Spaces) -> None:
    link = relay("translator")
    await link.start()
    window = compose.Limits(schema_check_every=60)
    await asyncio.wait_for(make_space(link.url, schema_ttl=0, limits=window).aload(), WAIT)
    _age_disk_entry(link.url, 61)  # confirmed a minute and a second ago
    sent = len(link.requests)
    await _first_call(make_space(link.url, limits=window), "checked-outside-the-window")
    assert _after_loading(link.requests[sent:]) == CHECKED
    # That check answered the schema's app id: the disk entry was confirmed again, so the next Space trusts it.
    sent = len(link.requests)
    await _first_call(make_space(link.url, limits=window), "trusted-after-the-check")
    assert _after_loading(link.requests[sent:]) == JOIN_AND_STREAM


@pytest.mark.parametrize(("limits", "age"), [
    # "Confirmed" ten minutes from now (a clock set back, a copied cache): not trusted, however long the window.
    pytest.param(compose.Limits(schema_check_every=3600), -600, id="confirmation-in-the-future"),
    # Confirmed 3 s ago, past the default 2 s window: checked.
    pytest.param(compose.Limits(), 3, id="default-window"),
])
async def test_a_disk_schema_not_confirmed_within_the_window_is_checked_first(
        relay: Relays, make_space: Spaces, limits: compose.Limits, age: float) -> None:
    link = relay("translator")
    await link.start()
    await asyncio.wait_for(make_space(link.url, schema_ttl=0, limits=limits).aload(), WAIT)
    _age_disk_entry(link.url, age)
    sent = len(link.requests)
    await _first_call(make_space(link.url, limits=limits), f"checked-{age}")
    assert _after_loading(link.requests[sent:]) == CHECKED


async def test_a_stateful_call_after_idle_asks_the_app_id_once(relay: Relays, make_space: Spaces) -> None:
    # After an idle spell (every pooled connection gone) a stateful call's join goes on a connection that carried
    # no join, which is when compose asks whether the app restarted. The redeploy check made by the same call
    # moments before, with the same cookies, on connections still open, answered that already: no second app id
    # request after the join (it cost a round trip).
    link = relay("diagnostics")
    await link.start()
    space = make_space(link.url, schema_ttl=0, limits=compose.Limits(schema_check_every=0))  # a check every call
    await asyncio.wait_for(space.aload(), WAIT)
    increment = space.endpoint("/increment")
    with compose.identity(session="idle-stateful"):
        assert await asyncio.wait_for(increment.call(), WAIT) == 1
        assert await asyncio.wait_for(increment.call(), WAIT) == 2
        await space.upstream.transport.aclose()  # the pool's connections closed, as after an idle spell
        sent = len(link.requests)
        assert await asyncio.wait_for(increment.call(), WAIT) == 3
    after = _after_loading(link.requests[sent:])
    assert after[0] == "GET /gradio_api/app_id" and after.count("GET /gradio_api/app_id") == 1, after
    assert sorted(after[1:]) == ["GET /gradio_api/queue/data", "POST /gradio_api/queue/join"]
