"""Agents per end user, and runs that carry the user's identity into every tool call.

One shared agent would mix every visitor's memory (smolagents #703); `UserAgents` keeps one agent, with its own
tool instances, per end-user session, bounded and dropped when the user leaves. `bind_run` makes the Space tools
of an agent use the caller's identity even where smolagents runs code in threads that do not inherit it.

Usage:
    agents = UserAgents(lambda: ToolCallingAgent(tools=registry.tools(), model=model))
    def respond(message, history, request: gr.Request):
        agent = agents.get(request)
        with bind_run(agent):
            ...
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Generic, TypeVar

from .. import forksafe
from ..errors import ComposeError
from ..identity import Identity, current_identity, identity
from .call_events import TraceScope, trace_scope

__all__ = ["UserAgents", "bind_run"]

A = TypeVar("A")


# The agents (and their managed agents) a run is under way on, in this process: id → the pid that started it (a
# forked child's copy of its parent's entries is stale, and ignored).
_running: dict[int, int] = {}
_running_lock = forksafe.Lock()


@contextmanager
def _one_run_at_a_time(holders: list[Any]) -> Iterator[None]:
    """Refuse a run on an agent that is already running one. A smolagents agent keeps its run's memory on itself,
    so two runs at once (one agent shared by an app's users, as smolagents' GradioUI does) would each read the other
    user's steps; and its tools dict, where a run's tools are bound to its user, is one for both."""
    pid, keys = os.getpid(), [id(h) for h in holders]
    with _running_lock:
        if any(_running.get(k) == pid for k in keys):
            raise ComposeError("this agent is already running a task (another user's?): two runs at once would mix "
                               "their memory and identity; give each user an agent of their own "
                               "(compose.UserAgents, or AgentChat with a factory)")
        _running.update(dict.fromkeys(keys, pid))
    try:
        yield
    finally:
        with _running_lock:
            for k in keys:
                _running.pop(k, None)


@contextmanager
def bind_run(agent: Any, ident: Identity | None = None, scope: TraceScope | None = None) -> Iterator[Identity]:
    """For the duration of a run, the agent's Space tools act for `ident` (default: the current caller).

    Identity travels in context variables. smolagents runs some tool calls in threads that do not inherit them
    (CodeAgent's code under a timeout), so for this run the agent's Space tools are swapped for per-run copies that
    carry the run's context; the tool objects themselves, which other users' agents may share, are never written.
    One agent runs one task at a time: a second run while one is under way raises `ComposeError`.
    """
    from .tools import SpaceTool

    ident = ident or current_identity()
    holders = [agent, *(getattr(agent, "managed_agents", {}) or {}).values()]
    with _one_run_at_a_time(holders), \
            identity(session=ident.session, headers=ident.headers, oauth_token=ident.oauth_token), \
            (trace_scope(scope) if scope is not None else nullcontext()):
        context = contextvars.copy_context()
        swapped: list[tuple[dict[str, Any], str, Any]] = []
        for holder in holders:
            tools = getattr(holder, "tools", None)
            if not isinstance(tools, dict):
                continue
            for name, tool in list(tools.items()):
                if isinstance(tool, SpaceTool):
                    tools[name] = tool.in_context(context)
                    swapped.append((tools, name, tool))
        try:
            yield ident
        finally:
            for tools, name, tool in swapped:
                tools[name] = tool


class UserAgents(Generic[A]):
    """One agent per end-user session (LRU-bounded). `get(request)` returns that user's agent."""

    def __init__(self, factory: Callable[[], A], *, max_users: int = 1000) -> None:
        self._factory = factory
        self._agents: OrderedDict[str, A] = OrderedDict()
        self._lock = threading.Lock()
        self.max_users = max_users

    def get(self, request: Any = None) -> A:
        """The agent of the user behind `request` (a gr.Request), or of the current caller."""
        key = getattr(request, "session_hash", None) or current_identity().session or "local"
        with self._lock:
            agent = self._agents.get(key)
            if agent is None:
                agent = self._agents[key] = self._factory()
            self._agents.move_to_end(key)
            while len(self._agents) > self.max_users:
                self._agents.popitem(last=False)
            return agent

    def forget(self, session: str) -> None:
        """Drop a user's agent and memory (their page closed)."""
        with self._lock:
            self._agents.pop(session, None)

    def __len__(self) -> int:
        return len(self._agents)
