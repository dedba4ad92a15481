"""One live SSE data stream per upstream session, shared by all of that session's running calls.

Gradio's `queue/data?session_hash=…` stream carries the messages of every event of a session, and a client that
disconnects from it makes the server drop every pending event of that session. So two concurrent calls of one user
must share one stream: each call subscribes its event id, the stream routes each message to its event's queue,
and the stream is left to the server to close (it does, after the session's last event completes).

Usage (inside compose's I/O loop):
    `box = hub.subscribe(session, event_id, headers, opener=transport.stream, path=data_route)`
    `msg = await box.get(timeout=60)`
"""

from __future__ import annotations

import asyncio
import collections
import os
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from . import redact
from .http import HTTPFailure, Reply
from .messages import HEARTBEAT

__all__ = ["DISCONNECTED", "MAX_EVENT", "EventParser", "EventTooLarge", "Mailbox", "StreamHub", "hub_for"]

log = redact.logger("compose.streams")  # never a token in a log line

_MAX_WARM = 10_000

# Sentinel message put on every subscriber's queue when the stream broke before their event completed.
DISCONNECTED: dict[str, Any] = {"msg": "__disconnected__"}


class Mailbox:
    """The messages of one event, in order, for the one call that reads them.

    An `asyncio.Queue` without what a single reader never needs (size bounds, several getters, task accounting),
    and with its own timeout on `get`: this runs for every message of every call.

    Usage: `box.put(msg)`; `msg = await box.get(timeout=60)` (TimeoutError when nothing came in time).
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: collections.deque[dict[str, Any]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, msg: dict[str, Any]) -> None:
        self._items.append(msg)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def take(self) -> dict[str, Any]:
        """The next message, which must be there (`empty()` is False)."""
        return self._items.popleft()

    async def get(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message, waiting up to `timeout` seconds (None: for ever) for one."""
        if self._items:
            return self._items.popleft()
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(max(0.0, timeout), _wake, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        if not self._items:
            raise TimeoutError(f"no message within {timeout:g} s")
        return self._items.popleft()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass
class _Session:
    queues: dict[str, Mailbox] = field(default_factory=dict)
    subscribed: set[str] = field(default_factory=set)  # events a call waits on that have not completed yet
    finished: set[str] = field(default_factory=set)  # events with nothing more to come (completed, or cut off)
    released: set[str] = field(default_factory=set)  # events whose call left before their completion came
    unclaimed: set[str] = field(default_factory=set)  # events that completed before their call subscribed
    joins: int = 0  # joins sent whose call has not subscribed yet: the only events a message may come early for
    early_bytes: dict[str, int] = field(default_factory=dict)  # bytes kept per event no call has subscribed to
    fns: dict[str, int] = field(default_factory=dict)  # the endpoint (fn_index) of each event a call waits on
    started: set[str] = field(default_factory=set)  # events that are running upstream (process_starts came)
    task: asyncio.Task[None] | None = None
    answered: bool = False  # the current stream request got a response (so a failure now is mid-stream)
    early: bool = False  # opened ahead of its join (`prepare`), and nothing routed yet
    closing: bool = False  # the current stream sent close_stream: its body ends now
    again: bool = False  # a join is on its way (`prepare`): open the next stream as soon as the closing one ends
    # How the next stream is opened: the latest caller's headers, opener (its Space's pool) and path. A stream
    # reopened for a later call goes through that call's Space, never an earlier one's that may be gone (a Space
    # dropped without close() has its pool closed when it is collected; Spaces of one URL share this hub).
    source: tuple[Headers, Opener, str] | None = None

    def idle(self) -> bool:
        """No call waits here, no join is on its way, and no message is kept for a call whose join has not
        answered yet."""
        return not self.subscribed and not self.joins and all(q.empty() for q in self.queues.values())


Headers = Mapping[str, str]
Opener = Callable[[str, Headers], AbstractAsyncContextManager[Reply]]

# Live hubs by app URL, held weakly: a hub lives as long as a Space of that URL does, and goes with the last one.
_hubs: weakref.WeakValueDictionary[tuple[str, int], StreamHub] = weakref.WeakValueDictionary()


def hub_for(url: str) -> StreamHub:
    """The hub of one app, shared by this process's live Space objects of that URL: for one user they share an
    upstream session, so they must share its one data stream (two readers would steal each other's messages, and
    either one leaving makes Gradio drop the other's events). Keyed by pid too: a forked child gets its own."""
    key = (url, os.getpid())
    hub = _hubs.get(key)
    if hub is None:
        hub = StreamHub()
        _hubs[key] = hub
    return hub


class StreamHub:
    """The open data streams of one Space, keyed by upstream session hash (transient: only while calls run)."""

    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # Sessions whose data stream Gradio has answered: it keeps their message queue (an LRU of sessions), so a
        # stream opened for one waits for its next events. Bounded; a forgotten one only costs the sequential order.
        self._warm: collections.OrderedDict[str, None] = collections.OrderedDict()

    def _session(self, session_hash: str) -> tuple[_Session, asyncio.AbstractEventLoop]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new I/O loop (a forked child's): streams and queues of the old one can never be read here.
            self._sessions, self._loop, self._warm = {}, loop, collections.OrderedDict()
        return self._sessions.setdefault(session_hash, _Session()), loop

    def prepare(self, session_hash: str, headers: Headers, *, opener: Opener, path: str) -> bool:
        """Before a join: for a session Gradio already knows, open its data stream now, concurrently with the join,
        so a warm call takes one round trip instead of two. True if a stream was opened (the caller must `unprepare`
        it if the join fails). A session Gradio has forgotten answers session_not_found on this early stream; that
        answer is not passed on, and the stream is opened again once the join has answered.
        """
        if session_hash not in self._warm:
            return False
        s, loop = self._session(session_hash)
        if s.task is not None and not s.task.done():
            if not s.closing and (s.early or s.subscribed):
                return False  # a stream serving the session's other calls is open: this join's events come on it
            # The previous call's stream is ending: it sent close_stream, or it will (its events have all completed,
            # so Gradio closes it right after; the caller returned at process_completed). The next one opens right
            # after it, on the connection it gives back, still before this join has answered.
            s.again, s.source = True, (headers, opener, path)
            return True
        s.early = True
        s.source = (headers, opener, path)
        s.task = loop.create_task(self._read(session_hash, s))
        return True

    def unprepare(self, session_hash: str) -> None:
        """The join after `prepare` failed: close the early stream if no call waits on it."""
        s = self._sessions.get(session_hash)
        if s is None:
            return
        if s.again:
            s.again = False  # not opened yet: it will not be
        elif s.early and not s.subscribed and s.task is not None and not s.task.done():
            s.task.cancel()

    def subscribe(self, session_hash: str, event_id: str, headers: Headers, *, opener: Opener, path: str,
                  fn_index: int | None = None) -> Mailbox:
        """The mailbox of `event_id`, opening the session's stream if none is open.

        A stream is opened with `opener(path, headers)` (the calling Space's pool: it GETs `path`, the app's data
        route, and yields the status and the body's chunks).
        """
        s, loop = self._session(session_hash)
        s.joins = max(0, s.joins - 1)
        s.early_bytes.pop(event_id, None)
        if fn_index is not None:
            s.fns[event_id] = fn_index
        if not s.joins:
            self._drop_early(s, keep=event_id)
        q = s.queues.get(event_id)
        if q is None:
            q = s.queues[event_id] = Mailbox()
        s.again = False  # the join has answered: a stream for its events is open, or opened below
        s.unclaimed.discard(event_id)
        if event_id in s.finished:
            return q  # everything for it came in before its join answered: no stream to read for it
        s.subscribed.add(event_id)
        s.source = (headers, opener, path)
        if s.task is None or s.task.done():
            s.task = loop.create_task(self._read(session_hash, s))
        return q

    def joining(self, session_hash: str) -> None:
        """A join of this session is about to go out: until its call subscribes (or `join_failed`), messages for
        an event nobody waits on yet may be its own, and are kept. At no other time: an upstream sending messages
        for events nobody joined filled memory with them for as long as the Space lived."""
        s, _ = self._session(session_hash)
        s.joins += 1

    def join_failed(self, session_hash: str) -> None:
        """The join announced by `joining` failed: no call will subscribe for it."""
        s = self._sessions.get(session_hash)
        if s is None:
            return
        s.joins = max(0, s.joins - 1)
        if not s.joins:
            self._drop_early(s)
        self._forget_if_done(session_hash, s)

    @staticmethod
    def _drop_early(s: _Session, keep: str | None = None) -> None:
        """No join is on its way any more: what was kept for events no call subscribed to is nobody's (a cancelled
        call's last messages, or an upstream's made-up events)."""
        for event_id in [e for e in s.queues if e not in s.subscribed and e != keep]:
            del s.queues[event_id]
            s.unclaimed.discard(event_id)
        s.early_bytes.clear()

    def release(self, session_hash: str, event_id: str) -> None:
        """Forget `event_id`; the stream itself stays until the server closes it."""
        s = self._sessions.get(session_hash)
        if s is None:
            return
        s.subscribed.discard(event_id)
        if event_id not in s.finished:
            s.released.add(event_id)  # gone before its end (timed out, cancelled): its completion may still come
        s.finished.discard(event_id)
        s.unclaimed.discard(event_id)
        s.queues.pop(event_id, None)
        s.fns.pop(event_id, None)
        s.started.discard(event_id)
        self._forget_if_done(session_hash, s)

    def _forget_if_done(self, session_hash: str, s: _Session) -> None:
        """Drop the session once nothing waits, nothing is kept and its stream has ended."""
        if s.idle() and (s.task is None or s.task.done()):
            self._sessions.pop(session_hash, None)

    def running(self, session_hash: str, fn_index: int, *, but: str) -> set[str]:
        """The session's events of endpoint `fn_index` that are running upstream now (process_starts came), but
        `but`."""
        s = self._sessions.get(session_hash)
        if s is None:
            return set()
        return {e for e in s.subscribed if e != but and s.fns.get(e) == fn_index and e in s.started}

    def stopped_with(self, session_hash: str, events: set[str]) -> None:
        """`events` were running when another call of their endpoint was cancelled upstream. Gradio's /cancel stops
        every running task of the session's endpoint, not that event alone: they ended with it, and would wait
        for messages that never come. They are told now (those that completed meanwhile are not)."""
        s = self._sessions.get(session_hash)
        if s is None:
            return
        why = ("Gradio stopped this call too: cancelling one call stops every running call of the same endpoint "
               "in the same upstream session (this end user's); nothing more will come")
        for other in events & s.subscribed:
            q = s.queues.get(other)
            if q is not None:
                q.put({**DISCONNECTED, "why": why})
            s.subscribed.discard(other)
            s.finished.add(other)

    async def aclose(self) -> None:
        """Stop every data stream (their calls end with UpstreamDisconnected): the pool under them is closing, and
        a stream whose connection is closed under it would wait forever."""
        tasks = [s.task for s in self._sessions.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        if tasks and tasks[0].get_loop() is asyncio.get_running_loop():
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def open_streams(self) -> int:
        """How many data streams are open now (for tests and benchmarks)."""
        return sum(1 for s in self._sessions.values() if s.task is not None and not s.task.done())

    @property
    def sessions_held(self) -> int:
        """How many upstream sessions the hub keeps anything for: a stream, or messages not yet taken."""
        return len(self._sessions)

    async def settle(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for the open streams to end (their server closes each once its session has
        nothing pending); returns how many are still open."""
        tasks = [s.task for s in self._sessions.values() if s.task is not None and not s.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return self.open_streams

    async def _read(self, session_hash: str, s: _Session) -> None:
        broke = False
        why: str | None = None  # what the waiting calls are told, when it is more than "the connection closed"
        retries = 2
        try:
            while True:
                try:
                    assert s.source is not None  # set by whoever started this task
                    closed_by_server = await self._read_once(session_hash, s, *s.source)
                except HTTPFailure:
                    # The stream request itself failed before anything arrived (a pooled connection the server had
                    # just closed): asking again is harmless, a GET starts nothing. A stream that broke after it
                    # had started is a real disconnection: Gradio has dropped the session's events by then.
                    if retries == 0 or s.answered:
                        raise
                    retries -= 1
                    continue
                # The server closes the stream once no event of the session is pending. A call that joined just
                # after that close still needs a stream, so reopen while anyone is waiting on an unfinished event,
                # or a join is on its way (`prepare`; an early stream again: the session is known) unless that
                # join's events all came already (an event completed before its call subscribed: the server held
                # the stream open for it, e.g. for a cancelled call's completion). Reopened then, it would wait
                # for nothing (the server holds it open), and subscribe() opens one anyway for a call that
                # still needs it.
                if not (closed_by_server and (s.subscribed or (s.again and not s.unclaimed))):
                    break
                if s.again and not s.subscribed:
                    s.early = True
                s.again = False
        except asyncio.CancelledError:
            raise
        except Exception as e:  # network failure: every waiting call learns at once, none hangs
            log.debug("data stream for a session broke: %r", e)
            broke = True
            if isinstance(e, ValueError):  # EventTooLarge, or a message that is not JSON: compose hung up
                why = f"the Space's data stream was unreadable ({e}); compose closed it and abandoned this call"
        finally:
            if broke or s.subscribed:
                end = DISCONNECTED if why is None else {**DISCONNECTED, "why": why}
                for q in s.queues.values():
                    q.put(end)
                # Calls still to subscribe find their end here; a new stream would wait for nothing.
                s.finished.update(s.queues)
            # Keep the session while it holds messages for a call whose join has not answered yet (a fast job of
            # a second concurrent call): dropping them made that call wait for messages that never came.
            if s.idle():
                self._sessions.pop(session_hash, None)

    async def _read_once(self, session_hash: str, s: _Session, headers: Headers, opener: Opener, path: str
                         ) -> bool:
        """Read one stream until it ends; True if the server closed it cleanly (close_stream)."""
        s.answered = s.closing = False
        target = f"{path}?session_hash={quote(session_hash, safe='')}"
        async with opener(target, headers) as reply:
            s.answered = True
            status = reply.status
            if s.early and status == 404:
                return self._forgotten(session_hash, s)
            if status != 200:
                msg = {"msg": "unexpected_error", "message": f"data stream answered {status}",
                       "session_not_found": status == 404}
                for q in s.queues.values():
                    q.put(msg)
                return False
            self._warm[session_hash] = None
            self._warm.move_to_end(session_hash)
            while len(self._warm) > _MAX_WARM:
                self._warm.popitem(last=False)
            closed = False
            events = EventParser()
            # Read on to the end of the body (the server ends it right after close_stream), so the connection goes
            # back to the pool instead of being closed: 0 new connections per warm call.
            forgotten = False
            async for chunk in reply.chunks():
                for data in events.feed(chunk):
                    msg = orjson.loads(data)
                    if s.early and isinstance(msg, dict) and msg.get("session_not_found"):
                        forgotten = True  # read on to the end: leaving early would make Gradio drop the session
                    if not forgotten and self._route(s, msg, len(data)):
                        # close_stream: only the body's last bytes are to come; a request that finds no idle
                        # connection meanwhile may wait for this one (compose.http.Reply.ending).
                        closed = s.closing = True
                        reply.ending()
            return self._forgotten(session_hash, s) if forgotten else closed

    def _forgotten(self, session_hash: str, s: _Session) -> bool:
        """An early stream found the session unknown (Gradio forgot it, or the join has not reached it yet): not
        news for any call. Returns True so the stream is opened again, the usual way, for whoever waits."""
        self._warm.pop(session_hash, None)
        s.early = False
        return True

    def _route(self, s: _Session, msg: dict[str, Any], size: int = 0) -> bool:
        """Hand one message to its event's queue; True for close_stream."""
        if not isinstance(msg, dict):
            log.debug("dropped a data-stream message that is not an object: %.200r", msg)
            return False  # nobody's: it names no event
        kind = msg.get("msg")
        if kind != "heartbeat":
            s.early = False
        if kind == "close_stream":
            return True
        if kind == "heartbeat":
            # The upstream is alive: each waiting call hears it (once; it only needs to know), so a long job that
            # reports nothing is not taken for a stalled one.
            for waiting in s.subscribed:
                q = s.queues.get(waiting)
                if q is not None and q.empty():
                    q.put(HEARTBEAT)
            return False
        event_id = msg.get("event_id")
        if event_id is not None and not isinstance(event_id, str):
            # Gradio's event ids are strings: this one names no call (a list or dict could not even be looked up).
            log.debug("dropped a %r message with a malformed event id: %.100r", kind, event_id)
            return False
        if event_id in s.released:
            # Its call has gone (e.g. the completion Gradio sends after a cancel): drop it, not keep it.
            if kind == "process_completed":
                s.released.discard(event_id)
            return False
        if event_id is None and kind != "unexpected_error":
            # Only an error is session-wide news; anything else without an event id (a process_completed, say)
            # belongs to no call, and taking it as one call's result would hand a job's answer to the wrong caller.
            log.debug("dropped a %r message with no event id", kind)
            return False
        if event_id is None:
            # Session-wide news (the server stopping): everyone on this stream hears it.
            for q in s.queues.values():
                q.put(msg)
            return False
        # Messages can arrive before the joining call has subscribed (the race is its join's answer against the
        # stream's first messages): keep them for it, while a join is on its way, up to MAX_EARLY bytes. With no
        # join on its way the event is nobody's.
        if event_id not in s.subscribed:
            kept = sum(s.early_bytes.values())
            if not s.joins or kept + size > MAX_EARLY:
                log.debug("dropped a %r message for an event no call waits on", kind)
                return False
            s.early_bytes[event_id] = s.early_bytes.get(event_id, 0) + size
        q = s.queues.get(event_id)
        if q is None:
            q = s.queues[event_id] = Mailbox()
        q.put(msg)
        if kind == "process_starts":
            s.started.add(event_id)
        if kind == "process_completed":
            s.started.discard(event_id)
            if event_id not in s.subscribed:
                s.unclaimed.add(event_id)  # its join has not answered yet (see `_read`)
            # Done upstream: the stream must not be reopened for it. Its call may not have released it yet when
            # close_stream follows in the same read; counting it still made `_read` reopen a stream the server
            # had no reason to close again, and it stayed open after the call ended.
            s.subscribed.discard(event_id)
            s.finished.add(event_id)
        return False


MAX_EVENT = 64 * 2**20  # bytes of one data-stream event (or line), as much as a whole answer's body may be
MAX_EARLY = 64 * 2**20  # bytes kept per session for events whose join has not answered yet


class EventTooLarge(ValueError):
    """A data-stream event (or a line of one) grew past `EventParser.max_event` bytes without ending."""


class EventParser:
    """Server-sent events from body chunks: yields each event's data (its `data:` lines joined).

    Gradio's data stream uses only `data:` fields; others (`event:`, `id:`, comments) are skipped. Lines may end
    in CRLF, LF or CR, as the SSE spec allows, and may be split anywhere between chunks. An event or line longer
    than `max_event` bytes raises `EventTooLarge` (a Space that never ends a line must not fill our memory), and
    an unfinished line is kept in pieces, so a line arriving in many small chunks costs linear time, not quadratic.

    Usage: `for data in parser.feed(chunk): handle(json.loads(data))`.
    """

    def __init__(self, max_event: int = MAX_EVENT) -> None:
        self.max_event = max_event
        self._tail: list[bytes] = []  # the unfinished last line, in the pieces it came in
        self._tail_size = 0
        self._data: list[bytes] = []
        self._data_size = 0
        self._after_cr = False  # the last chunk ended in CR: an LF starting the next one belongs to it

    def feed(self, chunk: bytes) -> list[bytes]:
        if (not self._tail and not self._data and not self._after_cr and chunk.endswith(b"\n\n")
                and b"\r" not in chunk):
            return self._whole(chunk)
        if self._after_cr and chunk:
            self._after_cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if b"\n" not in chunk and b"\r" not in chunk:
            self._tail.append(chunk)  # still the same line: nothing to split yet
            self._tail_size += len(chunk)
            self._check(self._tail_size)
            return []
        text = b"".join([*self._tail, chunk])
        lines = text.splitlines(keepends=True)
        tail = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        self._tail, self._tail_size = ([tail], len(tail)) if tail else ([], 0)
        if not tail and text.endswith(b"\r"):
            self._after_cr = True
        out: list[bytes] = []
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if self._data:
                    out.append(b"\n".join(self._data))
                    self._data, self._data_size = [], 0
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
                self._data_size += len(value)
                self._check(self._data_size)
        self._check(self._data_size + self._tail_size)
        return out

    def _whole(self, chunk: bytes) -> list[bytes]:
        """The usual chunk (whole events, LF line ends, nothing pending): split by blank lines, not line by line."""
        out: list[bytes] = []
        for block in chunk.split(b"\n\n"):
            if not block:
                continue
            self._check(len(block))
            if b"\n" not in block:
                if block.startswith(b"data:"):
                    value = block[5:]
                    out.append(value[1:] if value.startswith(b" ") else value)
                continue
            data = [line[6:] if line.startswith(b"data: ") else line[5:] for line in block.split(b"\n")
                    if line.startswith(b"data:")]
            if data:
                out.append(b"\n".join(data))
        return out

    def _check(self, size: int) -> None:
        if size > self.max_event:
            raise EventTooLarge(f"a data-stream event over {self.max_event} bytes")
