"""One replica of a Space restarting (issue 11): only the users whose upstream session lived on it lose their state
and are told so (SessionLost, then a fresh session); the users on the other replica keep counting.

Each replica is its own Gradio process with its own app id, behind the emulated edge's cookie affinity
(compose.testing): a Space-wide baseline took the other replica's app id for a restart, and a restart of one for
everyone's.
"""

from __future__ import annotations

import uuid

import httpx

import compose
import compose.testing
from compose.testing.edge import AFFINITY_COOKIE

SPACE = "owner/restartable"


def test_one_replica_restarting_resets_only_the_users_it_held(edge: compose.testing.Hub) -> None:
    # Every call asks the app for its app id (with the caller's cookies): the restart is found at each user's very
    # next call, whichever connection it takes.
    space = compose.Space(SPACE, limits=compose.Limits(schema_check_every=0))
    increment, seen = space.endpoint("/increment"), space.endpoint("/seen")
    run = uuid.uuid4().hex[:8]

    def count(user: str) -> int | str:
        with compose.identity(session=user):
            try:
                return int(increment.predict())
            except compose.SessionLost:
                return "lost"

    def replica_of(user: str) -> int:
        with compose.identity(session=user):
            cookie = seen.predict()["cookie"]  # what reached the app: the edge's affinity cookie names the replica
        return int(cookie.split(f"{AFFINITY_COOKIE}=", 1)[1].split(".")[0])

    where: dict[str, int] = {}
    while min(list(where.values()).count(r) for r in (0, 1)) < 2:  # users on both replicas
        assert len(where) < 16, f"the edge put every user on one replica: {where}"
        user = f"{run}-{len(where)}"
        assert [count(user), count(user)] == [1, 2]
        where[user] = replica_of(user)
        if len(where) % 2:
            httpx.get(f"https://{SPACE.replace('/', '-')}.hf.space/config")  # another visitor: the edge balances
    users = list(where)
    held, survivors = [u for u in users if where[u] == 0], [u for u in users if where[u] == 1]

    edge.restart_replica(SPACE, 0)

    after = {u: count(u) for u in users}
    assert [after[u] for u in survivors] == [3] * len(survivors)  # nothing happened to them
    assert [after[u] for u in held] == ["lost"] * len(held)  # each told, nothing silently started over
    # The users who lost their state start over in fresh sessions; the others go on where they were.
    assert [count(u) for u in held] == [1] * len(held)
    assert [count(u) for u in survivors] == [4] * len(survivors)
    space.close()
