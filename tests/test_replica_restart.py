"""One replica of a Space restarting (issue 11): only the users whose upstream session lived on it lose their state
and are told so (SessionLost, then a fresh session); the users on the other replica keep counting.

Each replica is its own Gradio process with its own app id, behind the emulated edge's cookie affinity
(compose.testing): a Space-wide baseline took the other replica's app id for a restart, and a restart of one for
everyone's.
"""

from __future__ import annotations

import time
import uuid

import httpx

import compose
import compose.testing
from compose.testing.edge import AFFINITY_COOKIE

SPACE = "owner/restartable"


class Users:
    """Users of one Space's stateful counter, spread over its two replicas by the edge."""

    def __init__(self, space: compose.Space) -> None:
        self.increment, self.seen = space.endpoint("/increment"), space.endpoint("/seen")
        run = uuid.uuid4().hex[:8]
        where: dict[str, int] = {}
        while min(list(where.values()).count(r) for r in (0, 1)) < 2:  # users on both replicas
            assert len(where) < 16, f"the edge put every user on one replica: {where}"
            user = f"{run}-{len(where)}"
            assert [self.count(user), self.count(user)] == [1, 2]
            where[user] = self.replica_of(user)
            if len(where) % 2:
                httpx.get(f"https://{SPACE.replace('/', '-')}.hf.space/config")  # another visitor: the edge balances
        self.all = list(where)
        self.held = [u for u in self.all if where[u] == 0]  # the users of replica 0, which the tests restart
        self.survivors = [u for u in self.all if where[u] == 1]

    def count(self, user: str) -> int | str:
        with compose.identity(session=user):
            try:
                return int(self.increment.predict())
            except compose.SessionLost:
                return "lost"

    def replica_of(self, user: str) -> int:
        with compose.identity(session=user):
            cookie = self.seen.predict()["cookie"]  # what reached the app: the edge's affinity cookie names the replica
        return int(cookie.split(f"{AFFINITY_COOKIE}=", 1)[1].split(".")[0])


def test_one_replica_restarting_resets_only_the_users_it_held(edge: compose.testing.Hub) -> None:
    # Every call asks the app for its app id (with the caller's cookies): the restart is found at each user's very
    # next call, whichever connection it takes.
    space = compose.Space(SPACE, limits=compose.Limits(schema_check_every=0))
    users = Users(space)
    held, survivors, count = users.held, users.survivors, users.count

    edge.restart_replica(SPACE, 0)

    after = {u: count(u) for u in users.all}
    assert [after[u] for u in survivors] == [3] * len(survivors)  # nothing happened to them
    assert [after[u] for u in held] == ["lost"] * len(held)  # each told, nothing silently started over
    # The users who lost their state start over in fresh sessions; the others go on where they were.
    assert [count(u) for u in held] == [1] * len(held)
    assert [count(u) for u in survivors] == [4] * len(survivors)
    space.close()


def test_a_restart_is_found_though_the_other_replicas_users_had_just_checked(edge: compose.testing.Hub) -> None:
    # The redeploy check runs when its window has passed: for a stateful call, the window of the caller's replica.
    # With one Space-wide window, a busy replica's users kept it fresh, and the restarted replica's users, never
    # checked, silently got fresh state.
    window = 1.0
    space = compose.Space(SPACE, limits=compose.Limits(schema_check_every=window))
    users = Users(space)

    edge.restart_replica(SPACE, 0)
    time.sleep(window)  # the scenario, not a synchronisation: the window passes for every replica

    assert users.count(users.survivors[0]) == 3  # checked through replica 1, which kept running
    # At once (well within the window of that check): replica 0's user is checked through replica 0 all the same.
    assert users.count(users.held[0]) == "lost"
    assert users.count(users.held[0]) == 1  # a fresh session, knowingly
    # Their neighbours on replica 0 are told at their next call, however soon.
    assert [users.count(u) for u in users.held[1:]] == ["lost"] * (len(users.held) - 1)
    assert [users.count(u) for u in users.survivors[1:]] == [3] * (len(users.survivors) - 1)
    space.close()
