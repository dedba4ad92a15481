"""A ready agent chat app: `compose.AgentChat(tools=..., model=...)`, built on `stream_trace`.

Each end user gets their own agent and memory, and their identity (x-ip-token, upstream session) in every tool
call. Tool calls show live in the chat: pending with a spinner and the Space's progress or the output so far, then
done with their duration and result (an error open, with its message). The Stop button shows only while a run
goes on; it cancels the agent and the upstream jobs it has running, marks what was pending as cancelled and says
"Stopped." Clearing the chat starts the conversation over: the agent's memory of it goes too. The header says
which model backend answers.

Usage:
    chat = compose.AgentChat(tools=registry, examples=["what is 12 times 7"])
    chat.launch()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..agent.agents import UserAgents
from ..agent.call_events import TraceScope
from ..agent.trace import TraceState, stream_trace

__all__ = ["AgentChat"]

WIND_DOWN = 120.0  # seconds a stopped run's model step may take to finish before the user's next run starts anyway


@dataclass
class _Run:
    """A user's run in progress: what the Stop button needs."""

    agent: Any
    scope: TraceScope
    state: TraceState
    history: list[Any]
    # Set when the run's event has ended (its last message shown, or cancelled); its agent's thread may still be
    # finishing a model step then (`scope.ended`).
    over: threading.Event = field(default_factory=threading.Event)

    def wait_ended(self, timeout: float) -> None:
        self.over.wait(timeout)
        self.scope.ended.wait(timeout)


class AgentChat:
    """A chat UI over a per-user smolagents agent whose tools are Spaces."""

    def __init__(
        self,
        tools: Any,
        model: Any = None,
        *,
        title: str = "Agent chat over Gradio Spaces",
        examples: Sequence[str] = (),
        agent_factory: Callable[[list[Any], Any], Any] | None = None,
        max_steps: int = 6,
        max_users: int = 1000,
        verbose: bool = False,
    ) -> None:
        if model is None or isinstance(model, str):
            from .models.select import select_model

            self.model, self.model_label = select_model(model)
        else:
            self.model, self.model_label = model, getattr(model, "model_id", None) or type(model).__name__
        self._tools = tools
        if agent_factory is None:
            from .models.select import make_agent

            # smolagents prints a large panel per step unless told not to: the console stays quiet unless verbose.
            level = 1 if verbose else -1

            def agent_factory(t: list[Any], m: Any) -> Any:
                return make_agent(t, m, max_steps=max_steps, verbosity_level=level)

        factory = agent_factory
        self.agents: UserAgents[Any] = UserAgents(lambda: factory(self._fresh_tools(), self.model),
                                                  max_users=max_users)
        self.title = title
        self.examples = list(examples)
        self._runs: dict[str, _Run] = {}
        # Runs ended (stopped, cleared, the page gone) before their agent's thread was: a model step finishes first.
        self._ending: dict[str, _Run] = {}
        self._stopped: dict[str, list[Any]] = {}  # by user: what Stop showed, shown again once the run is cancelled
        self._runs_lock = threading.Lock()
        self.demo = self._build()
        if callable(getattr(self.model, "load", None)):
            # Warm the embedded model while the page loads, so the first message does not pay for it.
            threading.Thread(target=self.model.load, name="compose-model-load", daemon=True).start()

    def _fresh_tools(self) -> list[Any]:
        """Each user's agent gets its own tool instances (they carry that user's identity during a run)."""
        from ..agent.registry import ToolRegistry

        if isinstance(self._tools, ToolRegistry):
            return self._tools.tools()
        return list(self._tools() if callable(self._tools) else self._tools)

    async def respond(self, message: str, history: list[Any], request: gr.Request
                      ) -> AsyncIterator[tuple[list[Any], str]]:
        """Run this user's agent on `message`, yielding the chat as it grows.

        Async on purpose: when the event is cancelled (the stop button, the browser going away) gradio cancels this
        task, and the `finally` below stops the agent and its upstream jobs. A sync generator blocked in a worker
        thread cannot be closed, so it would run on.
        """
        if not (message or "").strip():
            yield history or [], ""  # nothing asked: nothing sent, nothing answered
            return
        history = [*(history or []), gr.ChatMessage(role="user", content=message)]
        yield history, ""
        key = _session(request)
        try:
            agent = self.agents.get(request)
        except Exception as e:  # a model that cannot be loaded, a factory that fails: said in the chat
            yield [*history, _failure(e)], ""
            return
        run = _Run(agent, TraceScope(sink=lambda event: None), TraceState(), history)
        with self._runs_lock:
            running = self._runs.get(key)  # a message sent while this user's last one still runs waits for it
            before = running or self._ending.pop(key, None)
            self._runs[key] = run  # from now on Stop stops this run, even while it waits
        started = False
        try:
            if before is not None and not (before.over.is_set() and before.scope.ended.is_set()):
                # One agent must not run twice at once: its memory would mix the two runs. A run the user stopped
                # in the middle of a model step finishes that step before it sees the stop (with a local model, a
                # while); a run still going is let finish. Said in the chat meanwhile.
                yield [*history, gr.ChatMessage(
                    role="assistant", content="The run before is finishing; this message starts after it.",
                    metadata={"title": "⏳ Waiting for the run before", "status": "pending"})], ""
                await asyncio.to_thread(before.wait_ended, WIND_DOWN)
                if running is not None:
                    # It ran on while this message waited: its whole answer shows before this message.
                    with running.state.lock:
                        shown = list(running.state.messages)
                    history = run.history = [*running.history, *shown, history[-1]]
                    yield history, ""
            if run.scope.stopped.is_set():
                return  # stopped (or cleared) while it waited: it never starts
            trace = stream_trace(agent, message, reset=False, scope=run.scope, state=run.state)
            started = True
            while True:
                try:
                    messages = await asyncio.to_thread(next, trace, None)
                except Exception as e:  # the trace itself failed: shown in the chat, not as a bare "Error"
                    with run.state.lock:
                        shown = list(run.state.messages)
                    yield [*history, *shown, _failure(e)], ""
                    break
                if messages is None or run.scope.stopped.is_set():
                    # Stopped or cleared: the Stop button (or the clear) has shown the chat as it should stay; the
                    # run's own last messages (the tool's "cancelled", smolagents' "interrupted") are not news.
                    break
                yield [*history, *messages], ""
        finally:
            if not started:
                run.scope.ended.set()  # no agent thread ever ran for it
            with self._runs_lock:
                if self._runs.get(key) is run:
                    del self._runs[key]
                if not run.scope.ended.is_set():
                    self._ending[key] = run
            run.scope.stop()
            if started and hasattr(agent, "interrupt"):
                agent.interrupt()
            run.over.set()

    def stop(self, request: gr.Request) -> tuple[Any, Any]:
        """The Stop button: cancel this user's run (its upstream jobs too) and show it stopped: every pending tool
        message done, marked cancelled, with its duration, and "Stopped." in the chat."""
        with self._runs_lock:
            run = self._runs.pop(_session(request), None)
        if run is None:
            return gr.skip(), gr.Button(visible=False)
        run.scope.stop()
        if hasattr(run.agent, "interrupt"):
            run.agent.interrupt()
        shown = [*run.history, *run.state.stop()]
        with self._runs_lock:
            self._stopped[_session(request)] = shown
        return shown, gr.Button(visible=False)

    def stopped(self, request: gr.Request) -> Any:
        """Right after Stop: the stopped chat once more. An update the run had already sent when Stop was clicked
        can arrive after Stop's own and show the run going on (or its error items) where "Stopped." was."""
        with self._runs_lock:
            shown = self._stopped.pop(_session(request), None)
        return gr.skip() if shown is None else shown

    def clear(self, request: gr.Request) -> None:
        """The chat's clear button: this user's conversation starts over. A run going on stops (its upstream jobs
        too), and the agent's memory of the earlier turns goes with the agent: the next message gets a fresh one."""
        key = _session(request)
        with self._runs_lock:
            run = self._runs.pop(key, None)
        if run is not None:
            run.scope.stop()
            if hasattr(run.agent, "interrupt"):
                run.agent.interrupt()
        self.agents.forget(key)

    def _build(self) -> gr.Blocks:
        with gr.Blocks(title=self.title, fill_height=True) as demo:
            gr.Markdown(f"## {self.title}\nModel: **{self.model_label}**", elem_id="compose-header")
            chatbot = gr.Chatbot(label="Agent", elem_id="compose-chat", height=520, layout="panel")
            with gr.Row():
                # Labelled though the label is hidden: it names the parameter on the app's API page.
                box = gr.Textbox(label="Message", placeholder="Ask something the tools can do…", show_label=False,
                                 scale=8,
                                 elem_id="compose-input", submit_btn=True)
                # Shown only while a run goes on.
                stop = gr.Button("Stop", variant="stop", scale=1, elem_id="compose-stop", visible=False)
            if self.examples:
                gr.Examples(self.examples, inputs=box)
            # While a run goes on the box takes no message (the page would drop it: a submit is ignored while its
            # event runs) and Stop shows; both come back when it ends, stops or is cleared.
            running = (gr.Button(visible=True), gr.Textbox(interactive=False))
            idle = (gr.Button(visible=False), gr.Textbox(interactive=True))
            shown = box.submit(lambda: running, None, [stop, box], queue=False, api_visibility="private")
            run = shown.then(self.respond, [box, chatbot], [chatbot, box], api_name="chat")
            run.then(lambda: idle, None, [stop, box], queue=False, api_visibility="private")
            # The stop button cancels the running event (respond's finally then interrupts the agent and cancels the
            # upstream jobs of the Space calls in flight) and shows the run stopped.
            stopped = stop.click(self.stop, None, [chatbot, stop], cancels=[run], api_visibility="private")
            # The box in an event of its own: as an output of Stop's (the box is one of the run's) Stop's update of
            # the chat was sometimes lost.
            stopped.then(self.stopped, None, chatbot, api_visibility="private").then(
                lambda: idle, None, [stop, box], queue=False, api_visibility="private")
            cleared = chatbot.clear(self.clear, None, None, cancels=[run], api_visibility="private")
            # Empty once more when the run is cancelled: an update it had already sent could bring the cleared
            # conversation back.
            cleared.then(lambda: ([], *idle), None, [chatbot, stop, box], queue=False, api_visibility="private")

            def forget(request: gr.Request) -> None:
                from .. import sessions

                if request is not None and request.session_hash:
                    self.agents.forget(request.session_hash)
                    with self._runs_lock:
                        self._ending.pop(request.session_hash, None)
                        self._stopped.pop(request.session_hash, None)
                    sessions.forget(request.session_hash)

            demo.unload(forget)
        return demo  # type: ignore[no-any-return]

    def launch(self, **kwargs: Any) -> Any:
        """Launch the chat (queue enabled); kwargs go to `gr.Blocks.launch`."""
        return self.demo.queue(default_concurrency_limit=None).launch(**kwargs)


def _failure(e: Exception) -> gr.ChatMessage:
    return gr.ChatMessage(role="assistant", content=f"The agent could not run: {type(e).__name__}: {e}",
                          metadata={"title": "💥 Agent error", "status": "done"})


def _session(request: Any) -> str:
    return str(getattr(request, "session_hash", None) or "local")
