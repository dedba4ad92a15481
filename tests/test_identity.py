"""Who is calling: per-user headers and upstream sessions through one shared Space, with no leaks between users."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import compose
from compose import sessions

USERS = 50
# Each round: one /whoami and one /increment → 50 × 6 × 2 = 600 calls. (1,000 took 30 s on a slow 2-core machine,
# where the app's own processing, one call at a time per event, is the bound; 600 interleave the same 50 users.)
ROUNDS = 6


@pytest.fixture
def run_id() -> str:
    """A prefix that makes this test's end users new to the upstream (their counters start at 0)."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def restore_secret() -> Iterator[None]:
    saved = sessions._secret
    yield
    sessions.set_secret(saved)


def whoami(space: compose.Space) -> tuple[str, str]:
    token, session = space.endpoint("/whoami").predict()
    return token, session


def increment(space: compose.Space) -> int:
    return int(space.endpoint("/increment").predict())


# --- the acceptance test -------------------------------------------------------------------------------------------


def test_identity_is_resolved_per_call_not_stored(diagnostics: compose.Space, run_id: str) -> None:
    # Cheap, and first in the file: it also brings the upstream apps up before the 1,000-call test below runs.
    with compose.identity(session=f"{run_id}-first", headers={"x-ip-token": "first"}):
        assert whoami(diagnostics)[0] == "first"
    assert whoami(diagnostics)[0] == ""  # nothing of that user stayed on the shared Space


async def test_fifty_users_six_hundred_interleaved_calls_no_leaks(diagnostics: compose.Space, run_id: str) -> None:
    """50 end users (distinct sessions; half with an x-ip-token, half without) make 600 interleaved concurrent
    calls through one shared Space: each call carries exactly its caller's token, each user's counter counts
    1, 2, 3 ... in that user's own upstream session."""
    who, inc = diagnostics.endpoint("/whoami"), diagnostics.endpoint("/increment")
    tokens = {i: (f"tok-{run_id}-{i}" if i % 2 == 0 else None) for i in range(USERS)}

    async def user(i: int) -> tuple[list[str], list[str], list[int]]:
        own = tokens[i]
        headers = {"x-ip-token": own} if own is not None else {}
        seen_tokens: list[str] = []
        seen_sessions: list[str] = []
        counts: list[int] = []
        async with compose.identity(session=f"{run_id}-user{i}", headers=headers):
            for _ in range(ROUNDS):
                token, session = await who.call()
                seen_tokens.append(token)
                seen_sessions.append(session)
                counts.append(await inc.call())
        return seen_tokens, seen_sessions, counts

    results = await asyncio.gather(*(user(i) for i in range(USERS)))

    assert sum(len(seen) + len(counts) for seen, _, counts in results) == USERS * ROUNDS * 2
    leaks = [(i, t) for i, (seen, _, _) in enumerate(results) for t in seen if t != (tokens[i] or "")]
    mixed = [(i, counts) for i, (_, _, counts) in enumerate(results) if counts != list(range(1, ROUNDS + 1))]
    assert leaks == [], f"{len(leaks)} calls saw another caller's token: {leaks[:5]}"
    assert mixed == [], f"{len(mixed)} users' counters were mixed: {mixed[:3]}"
    per_user = [set(s) for _, s, _ in results]
    assert all(len(s) == 1 for s in per_user), "one user landed in several upstream sessions"
    assert len({next(iter(s)) for s in per_user}) == USERS, "two users shared an upstream session"


async def test_concurrent_calls_of_one_user_all_complete(diagnostics: compose.Space, run_id: str) -> None:
    # A page that fires two events at once: two calls of one user in flight together, for many users at a time.
    # (A regression test: a call whose job finished before its join answered used to wait forever, its messages
    # dropped with the session's closed stream.)
    who, inc = diagnostics.endpoint("/whoami"), diagnostics.endpoint("/increment")
    hung: list[tuple[int, int]] = []

    async def user(i: int) -> list[int]:
        counts: list[int] = []
        async with compose.identity(session=f"{run_id}-pair{i}", headers={"x-ip-token": f"p{i}"}):
            for r in range(5):
                try:
                    (token, _), count = await asyncio.wait_for(asyncio.gather(who.call(), inc.call()), 20)
                except TimeoutError:  # the builtin only from Python 3.11
                    hung.append((i, r))
                    return counts
                assert token == f"p{i}"
                counts.append(count)
        return counts

    results = await asyncio.gather(*(user(i) for i in range(USERS)))
    assert hung == [], f"{len(hung)} pairs of calls never completed: {hung[:5]}"
    assert all(counts == [1, 2, 3, 4, 5] for counts in results)


def test_users_from_threads_with_sync_identity(diagnostics: compose.Space, run_id: str) -> None:
    def user(i: int) -> tuple[str, list[int]]:
        with compose.identity(session=f"{run_id}-thread{i}", headers={"X-IP-Token": f"t{i}"}):
            counts = [increment(diagnostics) for _ in range(3)]
            token, _ = whoami(diagnostics)
        return token, counts

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(user, range(16)))
    assert [t for t, _ in results] == [f"t{i}" for i in range(16)]
    assert all(counts == [1, 2, 3] for _, counts in results)


async def test_tasks_keep_the_identity_they_were_created_under(diagnostics: compose.Space, run_id: str) -> None:
    who = diagnostics.endpoint("/whoami")
    with compose.identity(session=f"{run_id}-a", headers={"x-ip-token": "A"}):
        task_a = asyncio.create_task(who.call())
    with compose.identity(session=f"{run_id}-b", headers={"x-ip-token": "B"}):
        task_b = asyncio.create_task(who.call())
    (token_a, session_a), (token_b, session_b) = await asyncio.gather(task_a, task_b)
    assert (token_a, token_b) == ("A", "B")
    assert session_a != session_b
    # Outside any identity block: no token at all.
    assert (await who.call())[0] == ""


def test_identity_blocks_nest_and_restore(diagnostics: compose.Space, run_id: str) -> None:
    with compose.identity(session=f"{run_id}-outer", headers={"x-ip-token": "outer"}):
        with compose.identity(session=f"{run_id}-inner", headers={"x-ip-token": "inner"}):
            assert whoami(diagnostics)[0] == "inner"
        assert whoami(diagnostics)[0] == "outer"
    assert whoami(diagnostics)[0] == ""


def test_same_user_same_session_across_calls_and_space_objects(urls: dict[str, str], run_id: str) -> None:
    one, two = compose.Space(urls["diagnostics"]), compose.Space(urls["diagnostics"])
    with compose.identity(session=f"{run_id}-same"):
        first = whoami(one)[1]
        assert whoami(one)[1] == first
        assert whoami(two)[1] == first
        assert one.upstream_session() == first
        # One user, one remote gr.State, whichever Space object the call goes through.
        assert [increment(one), increment(two), increment(one)] == [1, 2, 3]


# --- identity from a gradio request --------------------------------------------------------------------------------


def gr_request(headers: dict[str, str], session_hash: str) -> Any:
    gr = pytest.importorskip("gradio")
    from starlette.requests import Request

    scope = {
        "type": "http", "method": "POST", "path": "/gradio_api/queue/join", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.7", 5555), "server": ("127.0.0.1", 7860), "scheme": "http",
    }
    return gr.Request(request=Request(scope), session_hash=session_hash)


def test_identity_from_a_gradio_request(diagnostics: compose.Space, run_id: str) -> None:
    alice = gr_request({"X-IP-Token": "alice-token", "Cookie": "secret=1"}, f"{run_id}-alice")
    bob = gr_request({}, f"{run_id}-bob")
    with compose.identity(request=alice):
        token_a, session_a = whoami(diagnostics)
        assert [increment(diagnostics), increment(diagnostics)] == [1, 2]
    with compose.identity(request=bob):
        token_b, session_b = whoami(diagnostics)
        assert increment(diagnostics) == 1
    assert (token_a, token_b) == ("alice-token", "")
    assert session_a != session_b
    # The same end user (same gradio session) comes back to the same upstream session.
    with compose.identity(request=gr_request({"x-ip-token": "alice-token"}, f"{run_id}-alice")):
        assert whoami(diagnostics)[1] == session_a
        assert increment(diagnostics) == 3


def test_explicit_headers_override_the_requests(diagnostics: compose.Space, run_id: str) -> None:
    req = gr_request({"x-ip-token": "from-request"}, f"{run_id}-override")
    with compose.identity(request=req, headers={"X-IP-Token": "explicit"}):
        assert whoami(diagnostics)[0] == "explicit"


def test_calls_inside_a_gradio_handler_carry_that_users_identity(diagnostics: compose.Space) -> None:
    """An outer Gradio app whose handler calls the diagnostics Space with no identity code at all."""
    gr = pytest.importorskip("gradio")
    from gradio_client import Client

    who = diagnostics.endpoint("/whoami")

    def relay_sync() -> tuple[str, str]:
        token, session = who.predict()
        return token, session

    async def relay_async() -> tuple[str, str]:
        token, session = await who.call()
        return token, session

    with gr.Blocks() as outer:
        a, b = gr.Textbox(), gr.Textbox()
        gr.Button().click(relay_sync, None, [a, b], api_name="relay_sync")
        gr.Button().click(relay_async, None, [a, b], api_name="relay_async")
    outer.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        alice = Client(outer.local_url, headers={"x-ip-token": "alice-ip"}, verbose=False)
        bob = Client(outer.local_url, verbose=False)
        for api_name in ("/relay_sync", "/relay_async"):
            token_a, session_a = alice.predict(api_name=api_name)
            token_b, session_b = bob.predict(api_name=api_name)
            assert (token_a, token_b) == ("alice-ip", "")
            assert session_a != session_b
            # Each end user keeps their upstream session from one event to the next.
            assert alice.predict(api_name=api_name)[1] == session_a
    finally:
        outer.close()


# --- the header allow-list ------------------------------------------------------------------------------------------


def test_forward_headers_allow_list(urls: dict[str, str], run_id: str) -> None:
    url = urls["diagnostics"]
    headers = {"x-ip-token": "user-token", "x-secret": "do-not-forward"}
    with compose.identity(session=f"{run_id}-allow", headers=headers):
        # The default (x-ip-token) goes to Hugging Face origins only: not to a plain URL of someone's app ...
        assert whoami(compose.Space(url))[0] == ""
        # ... unless the developer lists it for this Space explicitly.
        assert whoami(compose.Space(url, forward_headers=("x-ip-token",)))[0] == "user-token"
        assert whoami(compose.Space(url, forward_headers=()))[0] == ""  # nothing forwarded
        assert whoami(compose.Space(url, forward_headers=("x-secret",)))[0] == ""  # only what is listed
        assert whoami(compose.Space(url, forward_headers=("X-IP-Token", "x-extra")))[0] == "user-token"


def test_static_headers_and_forwarded_ones(urls: dict[str, str], run_id: str) -> None:
    space = compose.Space(urls["diagnostics"], headers={"x-ip-token": "static"}, forward_headers=("x-ip-token",))
    assert whoami(space)[0] == "static"
    with compose.identity(session=f"{run_id}-static", headers={"x-ip-token": "user"}):
        assert whoami(space)[0] == "user"  # the end user's own header wins for their call
    assert whoami(space)[0] == "static"  # and is not left behind on the shared Space


def test_token_is_never_sent_to_a_non_hf_origin(urls: dict[str, str]) -> None:
    space = compose.Space(urls["diagnostics"], token="hf_not_for_you")
    # The call works (a token for a non-HF host is simply dropped, not an error) ...
    assert whoami(space)[0] == ""
    # ... and no request this Space makes would carry it, while a Space on Hugging Face does get it, in the header
    # the Spaces proxy strips (tests/test_edge_tokens.py proves it through the emulated edge).
    assert not {"authorization", "x-hf-authorization"} & {k.lower() for k in space.upstream.headers(None)}
    hf = compose.Space("https://owner-name.hf.space", token="hf_for_hf")
    assert hf.upstream.headers(None) == {"accept": "*/*", "x-hf-authorization": "Bearer hf_for_hf"}


# --- session modes and reset -----------------------------------------------------------------------------------------


def test_user_mode_is_the_default_one_counter_per_user(diagnostics: compose.Space, run_id: str) -> None:
    with compose.identity(session=f"{run_id}-u1"):
        assert [increment(diagnostics), increment(diagnostics)] == [1, 2]
    with compose.identity(session=f"{run_id}-u2"):
        assert increment(diagnostics) == 1
    with compose.identity(session=f"{run_id}-u1"):
        assert increment(diagnostics) == 3


def test_no_session_key_an_end_user_picks_is_the_apps_own_session(diagnostics: compose.Space) -> None:
    # Gradio takes any session_hash a browser sends. The app's own calls (no end user: warm-ups, scripts) had the
    # session of the key "\x00local:<pid>", so a visitor who sent that key shared their gr.State.
    own = increment(diagnostics)
    pid = os.getpid()
    for key in (f"\x00local:{pid}", f"n{pid}", f"\x00local:{pid}\x1f", "n", ""):
        with compose.identity(session=key):
            assert increment(diagnostics) == 1, repr(key)
    assert increment(diagnostics) == own + 1


def test_shared_mode_users_share_one_session(urls: dict[str, str], run_id: str) -> None:
    shared = compose.Space(urls["diagnostics"], session="shared", forward_headers=("x-ip-token",))
    with compose.identity(session=f"{run_id}-s1", headers={"x-ip-token": "one"}):
        first = increment(shared)
        token_1, session_1 = whoami(shared)
    with compose.identity(session=f"{run_id}-s2", headers={"x-ip-token": "two"}):
        assert increment(shared) == first + 1
        token_2, session_2 = whoami(shared)
    assert session_1 == session_2
    assert (token_1, token_2) == ("one", "two")  # headers are still each caller's own


def test_call_mode_gives_every_call_a_fresh_session(urls: dict[str, str], run_id: str) -> None:
    per_call = compose.Space(urls["diagnostics"], session="call")
    with compose.identity(session=f"{run_id}-c1"):
        assert [increment(per_call) for _ in range(3)] == [1, 1, 1]
        assert whoami(per_call)[1] != whoami(per_call)[1]


def test_reset_session_resets_only_the_current_user(diagnostics: compose.Space, run_id: str) -> None:
    alice, bob = f"{run_id}-r-alice", f"{run_id}-r-bob"
    with compose.identity(session=alice):
        assert [increment(diagnostics), increment(diagnostics)] == [1, 2]
        before = whoami(diagnostics)[1]
    with compose.identity(session=bob):
        assert increment(diagnostics) == 1
    with compose.identity(session=alice):
        diagnostics.reset_session()
        assert whoami(diagnostics)[1] != before
        assert increment(diagnostics) == 1  # alice starts over
    with compose.identity(session=bob):
        assert increment(diagnostics) == 2  # bob does not


def test_reset_session_in_shared_mode_starts_the_shared_session_over(urls: dict[str, str]) -> None:
    shared = compose.Space(urls["diagnostics"], session="shared")
    increment(shared)
    shared.reset_session()
    assert [increment(shared), increment(shared)] == [1, 2]


# --- replicas: the same user maps to the same upstream session everywhere ---------------------------------------------


def test_same_secret_same_session_across_space_objects(urls: dict[str, str], run_id: str, restore_secret: None
                                                       ) -> None:
    compose.set_session_secret(f"replica-secret-{run_id}")
    replica_1, replica_2 = compose.Space(urls["diagnostics"]), compose.Space(urls["diagnostics"])
    with compose.identity(session=f"{run_id}-replicated"):
        assert replica_1.upstream_session() == replica_2.upstream_session()
        assert increment(replica_1) == 1
        assert increment(replica_2) == 2  # the "other replica" continues the same remote state
        derived = replica_1.upstream_session()
    key = replica_1.key
    assert sessions.derive("user", space_key=key, user=f"{run_id}-replicated") == derived
    compose.set_session_secret(f"another-secret-{run_id}")
    assert sessions.derive("user", space_key=key, user=f"{run_id}-replicated") != derived
    with compose.identity(session=f"{run_id}-replicated"):
        assert increment(replica_1) == 1  # under another secret it is another upstream session


def test_two_processes_with_one_secret_derive_the_same_session(run_id: str, restore_secret: None) -> None:
    # Each process prints the session it derives for one user from COMPOSE_SESSION_SECRET, then under another
    # secret set in code.
    code = ("import compose.sessions as s; k = 'https://owner-name.hf.space'; "
            "print(s.derive('user', space_key=k, user='alice')); s.set_secret('other'); "
            "print(s.derive('user', space_key=k, user='alice'))")

    def derive_in_subprocess(secret: str | None) -> list[str]:
        env = {k: v for k, v in os.environ.items() if k != "COMPOSE_SESSION_SECRET"}
        if secret is not None:
            env["COMPOSE_SESSION_SECRET"] = secret
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=25,
                             check=True)
        return out.stdout.split()

    with ThreadPoolExecutor(3) as pool:
        (a, a_other), (b, b_other), (c, _) = pool.map(derive_in_subprocess, [f"s-{run_id}", f"s-{run_id}", None])
    assert a == b and len(a) == 22  # two "replicas" with one secret agree
    assert a_other == b_other != a  # another secret, another session
    assert c != a  # no secret: random per process
    compose.set_session_secret(f"s-{run_id}")
    assert sessions.derive("user", space_key="https://owner-name.hf.space", user="alice") == a


# --- one tool object shared by two users' agents -------------------------------------------------------------------


def test_one_tool_shared_by_two_users_agents_at_once_keeps_them_apart(urls: dict[str, str]) -> None:
    """The ordinary smolagents idiom: one `ep.tool()` object in two users' agents (a CodeAgent and a
    ToolCallingAgent), both running at the same moment through `compose.stream_trace`. Each upstream call must carry
    its own user's x-ip-token and session, and each user must get their own result (before, the identity was
    written onto the shared tool and the later run's user won both calls)."""
    from scripted import ScriptedModel
    from smolagents import CodeAgent, ToolCallingAgent
    from smolagents.memory import ActionStep

    # A loopback stand-in for a Space: the visitor's x-ip-token goes only where listed explicitly.
    space = compose.Space(urls["diagnostics"], forward_headers=("x-ip-token",))
    shared = space.endpoint("/whoami").tool(name="whoami")
    both_running = threading.Barrier(2, timeout=20)

    class Together(ScriptedModel):
        """Both agents reach their tool call only once both runs have started (and bound their users)."""

        def generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.seen:
                both_running.wait()
            return super().generate(messages, *args, **kwargs)

    coder = CodeAgent(tools=[shared], model=Together([
        '<code>\nr = whoami()\nfinal_answer(r["x-ip-token"] + "|" + r["Session"])\n</code>']), verbosity_level=-1)
    caller = ToolCallingAgent(tools=[shared], model=Together([
        [("whoami", {})], [("final_answer", {"answer": "done"})]]), verbosity_level=-1)
    run = uuid.uuid4().hex[:8]
    users = {"alice": (coder, f"alice-token-{run}"), "bob": (caller, f"bob-token-{run}")}

    def trace(user: str) -> str:
        agent, token = users[user]
        with compose.identity(session=f"{user}-{run}", headers={"x-ip-token": token}):
            for _ in compose.stream_trace(agent, f"who am I, {user}?"):
                pass
        if agent is coder:
            return str([s for s in agent.memory.steps if isinstance(s, ActionStep)][-1].action_output)
        step = next(s for s in agent.memory.steps if isinstance(s, ActionStep) and s.tool_calls
                    and s.tool_calls[0].name == "whoami")
        return str(step.observations)

    with ThreadPoolExecutor(2) as pool:
        alice, bob = pool.map(trace, ["alice", "bob"])

    def expected_session(user: str) -> str:
        with compose.identity(session=f"{user}-{run}"):
            return space.upstream_session()

    assert alice == f"alice-token-{run}|{expected_session('alice')}", alice
    assert f"bob-token-{run}" in bob and expected_session("bob") in bob, bob
    assert "alice" not in bob and "bob" not in alice
    # The shared tool object itself carries nobody.
    assert shared._context is None


def test_one_agent_shared_by_two_users_runs_one_task_at_a_time_and_keeps_nobodys_identity(urls: dict[str, str]
                                                                                          ) -> None:
    """One agent for every visitor, as smolagents' own GradioUI keeps it. Two overlapping runs swapped each other's
    per-run tools in the agent's one tools dict: the first user's tool call went out with the second user's token,
    and a run's bound copy stayed in the agent afterwards, so every later call billed that user. Now the second
    run is refused while the first goes on (the two would read each other's memory too), and afterwards the
    agent's tools act for whoever calls them."""
    from scripted import ScriptedModel
    from smolagents import ToolCallingAgent
    from smolagents.memory import ActionStep

    space = compose.Space(urls["diagnostics"], forward_headers=("x-ip-token",))
    tool = space.endpoint("/whoami").tool(name="whoami")
    inside, refused = threading.Event(), threading.Event()

    class WaitsForTheOther(ScriptedModel):
        def generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.seen:
                inside.set()
                assert refused.wait(20), "the second run was never refused"
            return super().generate(messages, *args, **kwargs)

    agent = ToolCallingAgent(tools=[tool], model=WaitsForTheOther([[("whoami", {})],
                                                                  [("final_answer", {"answer": "done"})]]),
                             verbosity_level=-1)
    run = uuid.uuid4().hex[:8]

    def trace(user: str) -> list[Any]:
        with compose.identity(session=f"{user}-{run}", headers={"x-ip-token": f"{user}-token-{run}"}):
            return list(compose.stream_trace(agent, f"who am I, {user}?"))[-1]

    with ThreadPoolExecutor(2) as pool:
        alice = pool.submit(trace, "alice")
        assert inside.wait(20)
        bob = trace("bob")
        refused.set()
        alice.result(timeout=25)
    assert any("already running" in str(m.content) for m in bob), bob
    step = next(s for s in agent.memory.steps if isinstance(s, ActionStep) and s.tool_calls
                and s.tool_calls[0].name == "whoami")
    assert f"alice-token-{run}" in str(step.observations), step.observations
    # Afterwards the agent holds the tool itself again: a call acts for whoever makes it.
    assert agent.tools["whoami"] is tool
    with compose.identity(session=f"carol-{run}", headers={"x-ip-token": f"carol-token-{run}"}):
        assert agent.tools["whoami"]()["x-ip-token"] == f"carol-token-{run}"


def test_a_request_gradio_gave_no_session_gets_one_of_its_own(diagnostics: compose.Space) -> None:
    # Gradio's /run route (a queue=False event) has no session: its calls were keyed by the client's address, so
    # every caller behind one proxy shared one upstream session, and two worker processes sharing the session
    # secret read its data stream at once, each taking the other's events (calls hung).
    import gradio as gr
    import httpx
    from outer import serve

    def who() -> str:
        return f"{whoami(diagnostics)[1]} {whoami(diagnostics)[1]}"  # two calls of one request

    with gr.Blocks() as demo:
        out = gr.Textbox()
        gr.Button().click(who, None, out, api_name="who", queue=False)
    with serve(demo) as url:
        answers = [httpx.post(f"{url}/gradio_api/run/who", json={"data": []}, timeout=20).json()["data"][0]
                   for _ in range(2)]
    first, second = (a.split() for a in answers)
    assert first[0] == first[1] and second[0] == second[1]  # one request: one upstream session for all its calls
    assert first[0] != second[0]  # another request (same address, no session): not the same upstream session
