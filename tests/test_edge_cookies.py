"""Cookies per upstream session (compose/cookies.py) on an emulated Space with two replicas behind cookie affinity:
each user's join, data stream and uploads stay on one replica, no cookie crosses users, and what is kept is bounded
and dropped when a session is reset or its user leaves."""

from __future__ import annotations

import asyncio
import uuid

import compose
import compose.testing
from compose import cookies, sessions
from compose.testing.edge import AFFINITY_COOKIE

USERS, ROUNDS = 50, 4


def test_fifty_users_on_two_replicas_keep_their_sessions_and_their_own_cookies(edge: compose.testing.Hub) -> None:
    space = compose.Space("owner/replicated")
    increment, seen = space.endpoint("/increment"), space.endpoint("/seen")
    run = uuid.uuid4().hex[:8]

    async def user(i: int) -> tuple[list[int], set[str]]:
        counts: list[int] = []
        cookies_seen: set[str] = set()
        async with compose.identity(session=f"{run}-{i}"):
            for r in range(ROUNDS):
                counts.append(await increment.call())
                if r in (0, ROUNDS - 1):  # the cookie the app saw, early and late
                    cookies_seen.add((await seen.call())["cookie"])
        return counts, cookies_seen

    async def everyone() -> list[tuple[list[int], set[str]]]:
        return await asyncio.gather(*(user(i) for i in range(USERS)))

    results = asyncio.run(everyone())
    # No "session not found", no lost state: every user counted 1..ROUNDS in their own session.
    assert [counts for counts, _ in results] == [list(range(1, ROUNDS + 1))] * USERS
    # Each user carried one affinity cookie throughout, and no two users carried the same one.
    mine = [cookie_set for _, cookie_set in results]
    assert all(len(c) == 1 and AFFINITY_COOKIE in next(iter(c)) for c in mine)
    assert len({next(iter(c)) for c in mine}) == USERS
    # Both replicas served: the balancing is real, and the sessions held anyway.
    replicas = {next(iter(c)).split("=", 1)[1].split(".")[0] for c in mine}
    assert replicas == {"0", "1"}


def test_a_reset_or_a_departed_user_drops_the_sessions_cookies(edge: compose.testing.Hub) -> None:
    space = compose.Space("owner/replicated")
    user = f"leaving-{uuid.uuid4().hex[:8]}"
    with compose.identity(session=user):
        space.endpoint("/increment").predict()
        first = space.upstream_session()
        assert space.cookies.header(first)
        space.reset_session()
        assert space.cookies.header(first) is None  # gone with the old session
        space.endpoint("/increment").predict()
        assert space.cookies.header(space.upstream_session())
    sessions.forget(user)  # what forget_on_unload does when the user's page closes
    with compose.identity(session=user):
        assert space.cookies.header(space.upstream_session()) is None


def test_cookies_kept_stay_bounded_after_ten_thousand_departed_users() -> None:
    jars = cookies.CookieJars(max_sessions=1000)
    answer = [f"{AFFINITY_COOKIE}=1.abc; Path=/; Secure; HttpOnly", "other=x" * 1]
    for i in range(10_000):
        jars.update(f"session-{i}", answer, user=f"user-{i}")
        cookies.forget(f"user-{i}")
    assert len(jars) == 0
    for i in range(10_000):  # users who never say goodbye: the least recently used go first
        jars.update(f"session-{i}", answer, user=f"user-{i}")
    assert len(jars) == 1000
    assert jars.header("session-9999") == f"{AFFINITY_COOKIE}=1.abc; other=x"
    assert jars.header("session-0") is None


def test_departed_users_leave_nothing_behind_in_the_space(edge: compose.testing.Hub) -> None:
    """Many visitors each call a two-replica Space once and leave (their page closes): compose then holds no
    cookies and no data-stream state for any of them, so what it keeps does not grow with departed users."""
    from compose.loop import run_sync

    space = compose.Space("owner/replicated")
    increment = space.endpoint("/increment")
    streams = space.upstream.streams
    run, crowd = uuid.uuid4().hex[:8], 300
    held_before = streams.sessions_held

    async def visit(i: int, gate: asyncio.Semaphore) -> int:
        async with gate, compose.identity(session=f"{run}-{i}"):
            return int(await increment.call())

    async def everyone() -> list[int]:
        gate = asyncio.Semaphore(50)
        return await asyncio.gather(*(visit(i, gate) for i in range(crowd)))

    assert asyncio.run(everyone()) == [1] * crowd
    assert len(space.cookies) >= crowd  # each visitor's affinity cookie was kept, in their own jar
    for i in range(crowd):
        sessions.forget(f"{run}-{i}")  # what forget_on_unload does when a visitor's page closes
    assert len(space.cookies) == 0
    run_sync(streams.settle(20))  # each data stream ends once its session has nothing pending
    assert streams.sessions_held <= held_before
