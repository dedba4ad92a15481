"""One live SSE data stream per upstream session, shared by all of that session's running calls.

Gradio's `queue/data?session_hash=…` stream carries the messages of every event of a session, and a client that
disconnects from it makes the server drop every pending event of that session. So two concurrent calls of one user
must share one stream: each call subscribes its event id, the stream routes each message to its event's queue,
and the stream is left to the server to close (it does, after the session's last event completes).

Usage (inside compose's I/O loop): `q = hub.subscribe(session, event_id, headers); msg = await q.get()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource

__all__ = ["DISCONNECTED", "StreamHub", "hub_for"]

log = logging.getLogger("compose.streams")

# Sentinel message put on every subscriber's queue when the stream broke before their event completed.
DISCONNECTED: dict[str, Any] = {"msg": "__disconnected__"}


@dataclass
class _Session:
    queues: dict[str, asyncio.Queue[dict[str, Any]]] = field(default_factory=dict)
    subscribed: set[str] = field(default_factory=set)  # events a call waits on that have not completed yet
    finished: set[str] = field(default_factory=set)  # events with nothing more to come (completed, or cut off)
    released: set[str] = field(default_factory=set)  # events whose call left before their completion came
    task: asyncio.Task[None] | None = None
    answered: bool = False  # the current stream request got a response (so a failure now is mid-stream)

    def idle(self) -> bool:
        """No call waits here, and no message is kept for a call whose join has not answered yet."""
        return not self.subscribed and all(q.empty() for q in self.queues.values())


_hubs: dict[str, StreamHub] = {}


def hub_for(url: str, client: Callable[[], httpx.AsyncClient], data_url: Callable[[], str]) -> StreamHub:
    """The process-wide hub of one app: two Space objects for the same URL and user share an upstream session, so
    they must share its one data stream (two readers would steal each other's messages, and either one leaving
    makes Gradio drop the other's events)."""
    hub = _hubs.get(url)
    if hub is None:
        hub = _hubs[url] = StreamHub(client, data_url)
    return hub


class StreamHub:
    """The open data streams of one Space, keyed by upstream session hash (transient: only while calls run)."""

    def __init__(self, client: Callable[[], httpx.AsyncClient], url: Callable[[], str]) -> None:
        self._client, self._url = client, url
        self._sessions: dict[str, _Session] = {}

    def subscribe(self, session_hash: str, event_id: str, headers: dict[str, str]) -> asyncio.Queue[dict[str, Any]]:
        """The message queue of `event_id`, opening the session's stream if none is open."""
        s = self._sessions.setdefault(session_hash, _Session())
        q = s.queues.setdefault(event_id, asyncio.Queue())
        if event_id in s.finished:
            return q  # everything for it came in before its join answered: no stream to read for it
        s.subscribed.add(event_id)
        if s.task is None or s.task.done():
            s.task = asyncio.get_running_loop().create_task(self._read(session_hash, s, headers))
        return q

    def release(self, session_hash: str, event_id: str) -> None:
        """Forget `event_id`; the stream itself stays until the server closes it."""
        s = self._sessions.get(session_hash)
        if s is None:
            return
        s.subscribed.discard(event_id)
        if event_id not in s.finished:
            s.released.add(event_id)  # gone before its end (timed out, cancelled): its completion may still come
        s.finished.discard(event_id)
        s.queues.pop(event_id, None)
        if s.idle() and (s.task is None or s.task.done()):
            self._sessions.pop(session_hash, None)

    @property
    def open_streams(self) -> int:
        """How many data streams are open now (for tests and benchmarks)."""
        return sum(1 for s in self._sessions.values() if s.task is not None and not s.task.done())

    async def _read(self, session_hash: str, s: _Session, headers: dict[str, str]) -> None:
        broke = False
        retries = 2
        try:
            while True:
                try:
                    closed_by_server = await self._read_once(session_hash, s, headers)
                except (httpx.ConnectError, httpx.RemoteProtocolError):
                    # The stream request itself failed before anything arrived (a pooled connection the server had
                    # just closed): asking again is harmless, a GET starts nothing. A stream that broke after it
                    # had started is a real disconnection: Gradio has dropped the session's events by then.
                    if retries == 0 or s.answered:
                        raise
                    retries -= 1
                    continue
                # The server closes the stream once no event of the session is pending. A call that joined just
                # after that close still needs a stream, so reopen while anyone is waiting on an unfinished event.
                if not (closed_by_server and s.subscribed):
                    break
        except asyncio.CancelledError:
            raise
        except Exception as e:  # network failure: every waiting call learns at once, none hangs
            log.debug("data stream for a session broke: %r", e)
            broke = True
        finally:
            if broke or s.subscribed:
                for q in s.queues.values():
                    q.put_nowait(DISCONNECTED)
                # Calls still to subscribe find their end here; a new stream would wait for nothing.
                s.finished.update(s.queues)
            # Keep the session while it holds messages for a call whose join has not answered yet (a fast job of
            # a second concurrent call): dropping them made that call wait for messages that never came.
            if s.idle():
                self._sessions.pop(session_hash, None)

    async def _read_once(self, session_hash: str, s: _Session, headers: dict[str, str]) -> bool:
        """Read one stream until it ends; True if the server closed it cleanly (close_stream)."""
        request = self._client().build_request(
            "GET", self._url(), params={"session_hash": session_hash},
            headers={**headers, "accept": "text/event-stream"},
            timeout=httpx.Timeout(10.0, read=None),
        )
        s.answered = False
        response = await self._client().send(request, stream=True)
        s.answered = True
        closed = False
        try:
            if response.status_code != 200:
                await response.aread()
                msg = {"msg": "unexpected_error", "message": f"data stream answered {response.status_code}",
                       "session_not_found": response.status_code == 404}
                for q in s.queues.values():
                    q.put_nowait(msg)
                return False
            async for sse in EventSource(response).aiter_sse():
                if not sse.data:
                    continue
                msg = json.loads(sse.data)
                kind = msg.get("msg")
                if kind == "close_stream":
                    # Read on to the end of the body (the server ends it right after), so the connection goes
                    # back to the pool instead of being closed: 0 new connections per warm call.
                    closed = True
                    continue
                if kind == "heartbeat":
                    continue
                event_id = msg.get("event_id")
                if event_id in s.released:
                    # Its call has gone (e.g. the completion Gradio sends after a cancel): drop it, not keep it.
                    if kind == "process_completed":
                        s.released.discard(event_id)
                    continue
                if event_id is None:
                    # Session-wide news (the server stopping): everyone on this stream hears it.
                    for q in s.queues.values():
                        q.put_nowait(msg)
                    continue
                # Messages can arrive before the joining call has subscribed; keep them for it.
                s.queues.setdefault(event_id, asyncio.Queue()).put_nowait(msg)
                if kind == "process_completed":
                    # Done upstream: the stream must not be reopened for it. Its call may not have released it
                    # yet when close_stream follows in the same read; counting it still made `_read` reopen a
                    # stream the server had no reason to close again, and it stayed open after the call ended.
                    s.subscribed.discard(event_id)
                    s.finished.add(event_id)
            return closed
        finally:
            await response.aclose()
