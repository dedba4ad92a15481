"""Is the schema compose binds arguments with still the app's? A redeployed Space may have swapped two parameters.

Before a call binds its arguments, compose asks the app for its `app_id` (a tiny `GET {prefix}/app_id`; Gradio
draws a new one at every launch) when it has not done so for `Limits.schema_check_every` seconds. An app_id other
than the schema's means a restart or a redeploy: the schema is read again, and then

- keyword arguments are bound by name against the new signature (what gradio_client users expect);
- positional arguments to an endpoint whose parameters changed (names, order or types) raise `APIChanged`: compose
  cannot know which value was meant for which parameter, so nothing is sent;
- an endpoint that is gone raises `APIChanged` naming the ones there are;
- a stateful call (its gr.State lived in the lost process) raises `SessionLost`, as a restart found any other way.

A new app_id with the same API (a plain restart, or another replica of the same deploy: each replica has its own)
changes nothing here; restarts and lost sessions are found by the restart check of `calls.py` as before.

Calls made while a check is under way wait for its answer, so none is sent with the old binding.

The check asks with the caller's session cookies, so on a Space with several replicas behind a balancer it asks the
caller's replica, and for a stateful call its answer also says whether that replica restarted (compose.placement).
So a stateful call of a pinned session goes by its replica's window, not the Space's: one replica's users calling
often would otherwise keep the window fresh while another replica restarted, and its users would silently get
fresh state. A session's replica is known by the app id it was last seen on (until then, by its own affinity
cookie: its second call, the first with a cookie, checks once); all of a replica's sessions share its window.

A schema the app confirmed within the last `schema_check_every` seconds is trusted, whether this process or an
earlier one confirmed it: the disk cache's entry (compose.schema) carries the wall-clock time the app last confirmed
it (its fetch, or a check that answered a known app id moves the file's modification time on: no rewrite), and a
new process that reads the schema from disk counts its first check from then. With the default 2 s that is rarely
the case, and a restarted process's first call pays the check's round trip; `Limits(schema_check_every=60)` spares
it for restarts within a minute of the last confirmation, and a redeploy in that minute goes unnoticed until the
next check, as within one process. A confirmation time in the future (a clock set back, a copied cache) is not
trusted.

Usage (inside compose's I/O loop): `schema = await current_schema(up, "/predict", positional=bool(args))`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING

from .errors import APIChanged, SessionLost
from .schema import EndpointSchema, SpaceSchema

if TYPE_CHECKING:
    from .upstream import Upstream

__all__ = ["current_schema", "signature"]


def signature(schema: EndpointSchema) -> tuple[tuple[str, str, str], ...]:
    """An endpoint's parameters as compared across deploys: name, component and JSON type, in order."""
    return tuple((p.name, p.component, json.dumps(p.json_schema, sort_keys=True, default=str))
                 for p in schema.parameters)


async def current_schema(up: Upstream, api_name: str, *, positional: bool, user: str | None = None
                         ) -> EndpointSchema:
    """The endpoint's schema to bind this call with, for end user `user`; see the module docstring."""
    gate = up.gate
    epoch = up.epoch
    sch = await up.load_schema()
    old = sch.endpoints.get(api_name)
    lost = False
    # Asked with the caller's session cookies: the answer is the app id of the replica that holds the session,
    # which for a stateful endpoint also tells whether that replica restarted (compose.placement). So a stateful
    # call of a pinned session goes by its replica's clock: other replicas' users checking often say nothing of
    # this one. (The hash is derived here only when needed: it costs CPU on every call.)
    stateful = old is not None and old.stateful
    session = up.session(user) if stateful and up.session_mode != "call" else None
    clock = up.check_clock(session) if session is not None else ""
    pending = gate.checking.get(clock)
    if pending is not None:
        await asyncio.shield(pending)  # another call is asking the same replica right now: its answer is ours
    elif time.monotonic() - gate.last_checked(clock) >= up.limits.schema_check_every:
        if session is None and up.session_mode != "call":
            session = up.session(user)
        done = gate.checking[clock] = asyncio.get_running_loop().create_future()
        # The call after this check needs two connections at once (its join and its data stream); after an idle
        # spell the pool is empty: open the second beside the check's, not after it (one round trip less).
        up.transport.preconnect()
        try:
            live = await _check(up, sch.api_prefix, sch.app_id, session, user)
        finally:
            now = gate.checked_at = time.monotonic()
            if clock:
                gate.replica_checked(clock, now)
            gate.checking.pop(clock, None)
            done.set_result(None)
        # Only a session its cookies pin to a replica: a cookie-less one's answer may come from any replica (and
        # on a balanced Space it is a first call, with nothing to lose yet); restarts of a single-process app are
        # found on the fresh connection a restart leaves (calls.py).
        lost = (session is not None and live is not None and stateful and up.pinned(session)
                and await up.seen(session, user, live))
        if stateful and session is not None and not lost and live is not None and up.pinned(session):
            # Seen now: the session's replica is known by its app id, whose clock all its sessions share.
            gate.replica_checked(up.check_clock(session), now)
    sch = await up.load_schema()
    new = sch.endpoints.get(api_name)
    if new is None and old is None:
        return up.endpoint_schema(api_name)  # never there: the ConfigError that lists what is
    if new is None:
        raise APIChanged(f"the Space was redeployed without this endpoint; it has: {', '.join(sch.endpoints)}",
                         space=up.name, api_name=api_name)
    if old is not None and new is not old and positional and signature(old) != signature(new):
        before = ", ".join(p.name for p in old.parameters)
        after = ", ".join(p.name for p in new.parameters)
        raise APIChanged(f"the Space was redeployed and this endpoint's parameters changed from ({before}) to "
                         f"({after}); nothing was sent: pass the arguments by name", space=up.name,
                         api_name=api_name)
    if new.stateful and (lost or up.epoch != epoch):
        raise SessionLost("the Space restarted and this user's upstream session (its gr.State) was lost; it has "
                          "been reset, call again to start over (nothing was sent)", space=up.name,
                          api_name=api_name)
    return new


async def _check(up: Upstream, prefix: str, schema_app_id: str, session: str | None, user: str | None
                 ) -> str | None:
    """Ask the app (with `session`'s cookies, if given) for its app id; if it is one not seen yet and the API
    changed, the redeploy bookkeeping. Returns the app id the app answered."""
    gate = up.gate
    live = await up.app_id(prefix, session, user)
    if live is None:
        return live
    if live == schema_app_id or live in gate.known_app_ids:
        up.confirmed()
        return live
    # An app id not seen yet: a restart, a redeploy, or another replica of the same deploy (each replica has its
    # own). Here only a changed API matters; which sessions a restart lost is compose.placement's.
    fresh = SpaceSchema.parse(up.url, *await up.fetch())
    current = await up.load_schema()
    if len(gate.known_app_ids) >= 64:  # bounded: a balancer may bring new replicas now and then
        gate.known_app_ids.clear()
    gate.known_app_ids.update({live, fresh.app_id, current.app_id})
    if _api(fresh) != _api(current):
        await up.redeployed()  # new sessions for everyone, the schema read again (and written to disk)
    else:
        up.confirmed()
    return live


def _api(schema: SpaceSchema) -> dict[str, tuple[tuple[str, str, str], ...]]:
    return {name: signature(ep) for name, ep in schema.endpoints.items()}
