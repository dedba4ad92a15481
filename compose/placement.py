"""Which app process each upstream session lives on: how compose tells one replica's restart from another replica.

Gradio keeps a session's state (gr.State, its message queue) in the process that served it, and draws a new app id
at every launch; a Space with several replicas runs one process, one app id, per replica, and a balancer's
affinity cookie keeps each session on one. So whether a session lost its state is a question about that session:
is the app id its replica answers (asked with the session's own cookies) still the one it answered before?
One Space-wide baseline cannot answer it: another replica's app id looks like a restart, and a restart of one
replica would reset the users of all.

When a session finds its replica's app id changed to one never seen before, the process it lived on is gone (a
restart): every other session seen on that process lost its state too, and is told so at its next call. A session
that moved to a replica already known lost only its own.

Usage:
    watch = Placement()
    if watch.seen(session_hash, app_id): ...   # this session's state is gone
    if watch.lost(session_hash): ...           # found gone through another session of its process
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["Placement"]


class Placement:
    """The app id each upstream session was last seen on (bounded: least recently seen go first)."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._on: OrderedDict[str, str] = OrderedDict()  # session hash -> app id
        self._app_ids: OrderedDict[str, None] = OrderedDict()  # every app id seen: replicas, and restarts of them
        self._lost: set[str] = set()

    def __len__(self) -> int:
        return len(self._on)

    def seen(self, session: str, app_id: str) -> bool:
        """Record that `session`'s replica answered `app_id`; True if that is not the process it lived on before
        (its state is gone). A session seen for the first time sets its baseline."""
        before = self._on.pop(session, None)
        restarted = before is not None and app_id not in self._app_ids
        self._remember(session, app_id)
        if before is None or before == app_id:
            return False
        if restarted:
            # A new process where `before` was: everyone who lived there lost their state with it.
            self._lost.update(s for s, a in self._on.items() if a == before and s != session)
            if len(self._lost) > self.max_sessions:
                self._lost.clear()  # bounded; forgetting costs only the notice, not a session
        return True

    def baseline(self, session: str, app_id: str) -> None:
        """Set `session`'s baseline without comparing (an app id learnt another way, e.g. with the schema)."""
        self._on.pop(session, None)
        self._remember(session, app_id)

    def where(self, session: str) -> str | None:
        """The app id `session` was last seen on (None: not seen yet)."""
        return self._on.get(session)

    def known(self, app_id: str) -> bool:
        """True if some session was seen on a process with this app id (a replica compose knows)."""
        return app_id in self._app_ids

    def lost(self, session: str) -> bool:
        """True (once) if `session` lived on a process found restarted through another session's call."""
        if session not in self._lost:
            return False
        self._lost.discard(session)
        self._on.pop(session, None)
        return True

    def forget(self, session: str) -> None:
        """Drop what is known of `session` (it was reset: its successor starts a new baseline)."""
        self._on.pop(session, None)
        self._lost.discard(session)

    def clear(self) -> None:
        """Forget every session (a redeploy gave everyone new sessions)."""
        self._on.clear()
        self._lost.clear()

    def _remember(self, session: str, app_id: str) -> None:
        self._on[session] = app_id
        while len(self._on) > self.max_sessions:
            self._on.popitem(last=False)
        self._app_ids[app_id] = None
        self._app_ids.move_to_end(app_id)
        while len(self._app_ids) > 256:
            self._app_ids.popitem(last=False)
