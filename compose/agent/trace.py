"""An agent run as a live list of `gr.ChatMessage`s: tool calls pending → done with durations, nested progress.

A pure mapping from agent events to chat messages, separate from any UI:
- a Space tool call appears at once as "🛠️ Used tool <name> (on <space>)" with `status: "pending"` and an `id`,
  and becomes `status: "done"` with the measured `duration` when it returns;
- the Space's own progress and queue position show in that message's `log` while it runs;
- several tool calls in one step each get their own message; calls made inside a CodeAgent's code, or by a
  managed sub-agent, nest under it through `parent_id`; a planning step is its own message;
- a streaming tool's partial outputs show in its message as they arrive, and each finished call shows its result
  (cut to `RESULT_CHARS`);
- a failed call reads "💥 Error using tool <name>" with its duration (no stale progress), and is left open (no
  `status`: gradio then shows it expanded, without a spinner) so that its error is read without a click;
- `TraceState.stop()` (a stop button) turns every pending message done, titled "⏹️ Cancelled …", with its duration,
  and adds "⏹️ Stopped." to the chat;
- streamed model text grows as it is generated; the final answer is a plain assistant message (a file or image
  result is shown as a file).

Usage:
    for messages in compose.stream_trace(agent, "what is 12 times 7"):
        chatbot_value = messages
"""

from __future__ import annotations

import contextvars
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..updates import Update
from .call_events import ToolEvent, TraceScope, trace_scope

__all__ = ["RESULT_CHARS", "STOPPED", "TraceState", "stream_trace"]

_DONE = object()
RESULT_CHARS = 500  # of a tool's result or partial output shown in its message
STOPPED = "⏹️ Stopped."


def _cut(value: Any, limit: int = RESULT_CHARS) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k}: {v}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    elif hasattr(value, "to_string"):  # smolagents' AgentImage / AgentAudio: where the file is
        text = str(value.to_string())
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _progress_text(update: Update) -> str | None:
    if update.kind == "progress" and update.progress:
        return update.progress[-1].describe()
    if update.kind == "status" and update.stage == "queued" and update.rank is not None:
        return f"Queued on the Space: position {update.rank + 1} of {update.queue_size or '?'}"
    if update.kind == "status" and update.stage == "started":
        return "Running on the Space"
    if update.kind == "log" and update.message:
        return f"{update.level or 'info'}: {update.message}"
    return None


def _args_text(arguments: Any) -> str:
    if isinstance(arguments, dict):
        return "\n".join(f"{k} = {json.dumps(v, default=str, ensure_ascii=False)}" for k, v in arguments.items())
    return str(arguments)


@dataclass
class TraceState:
    """The messages so far and the bookkeeping to update them; `apply()` takes one event."""

    messages: list[gr.ChatMessage] = field(default_factory=list)
    _by_id: dict[str, gr.ChatMessage] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    _agent_calls: dict[str, str] = field(default_factory=dict)  # smolagents tool_call id → message id
    _space_calls: dict[int, str] = field(default_factory=dict)  # compose call number → message id
    _container: str | None = None  # a code run or managed agent whose Space calls nest under it
    _stream_text: gr.ChatMessage | None = None
    _arguments: dict[str, str] = field(default_factory=dict)  # message id → its arguments' text
    _tool_names: dict[str, str] = field(default_factory=dict)  # message id → the tool's title text ("long_job (on …)")
    _seq: int = 0
    _step_errors: int = 0  # tool calls shown failed since the last step ended (that step's error is shown there)
    space_tools: frozenset[str] = frozenset()
    lock: threading.Lock = field(default_factory=threading.Lock)  # apply() and stop() may come from two threads

    def _new_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self._seq}"

    def _add(self, content: Any, metadata: dict[str, Any] | None = None) -> gr.ChatMessage:
        message = gr.ChatMessage(role="assistant", content=content, metadata=metadata or {})  # type: ignore[arg-type]
        self.messages.append(message)
        mid = (metadata or {}).get("id")
        if mid:
            self._by_id[str(mid)] = message
            self._started[str(mid)] = time.perf_counter()
        return message

    def _finish(self, mid: str, *, duration: float | None = None, error: str | None = None,
                tool: str | None = None) -> None:
        message = self._by_id.get(mid)
        if message is None or (message.metadata or {}).get("duration") is not None:
            return
        meta = {k: v for k, v in (message.metadata or {}).items() if k != "log"}  # progress is stale once it ended
        meta["status"] = "done"
        meta["duration"] = round(duration if duration is not None else time.perf_counter() - self._started[mid], 3)
        if error is not None:
            self._step_errors += 1
            meta["title"] = f"💥 Error using tool {tool or self._tool_names.get(mid, '')}".rstrip()
            meta.pop("status")  # gradio shows a message without status open: the error is read without a click
            message.content = f"{self._arguments.get(mid, message.content)}\n\n**Error:** {error}".strip()
        message.metadata = meta  # type: ignore[assignment]

    def _show(self, mid: str, label: str, value: Any) -> None:
        """Put a result (or the output so far) under the call's arguments."""
        message = self._by_id.get(mid)
        if message is not None:
            message.content = f"{self._arguments.get(mid, '')}\n\n**{label}:** {_cut(value)}".strip()

    def stop(self) -> list[gr.ChatMessage]:
        """The run was stopped: every pending message is done, marked cancelled, with its duration; the chat says
        so. Returns a snapshot of the messages."""
        with self.lock:
            self._stop()
            return _snapshot(self.messages)

    def _stop(self) -> None:
        for mid, message in list(self._by_id.items()):
            meta = dict(message.metadata or {})
            if meta.get("status") != "pending":
                continue
            name = self._tool_names.get(mid)
            meta["title"] = f"⏹️ Cancelled: tool {name}" if name else f"⏹️ Cancelled: {meta.get('title', '')}"
            message.metadata = meta  # type: ignore[assignment]
            self._finish(mid)
        self._stream_text = None
        if not (self.messages and self.messages[-1].content == STOPPED):
            self.messages.append(gr.ChatMessage(role="assistant", content=STOPPED))

    # --- events from smolagents -------------------------------------------------------------------------------

    def apply(self, event: Any) -> None:
        from smolagents.agents import ActionOutput, ToolOutput
        from smolagents.memory import ActionStep, FinalAnswerStep, PlanningStep, ToolCall
        from smolagents.models import ChatMessageStreamDelta

        if isinstance(event, ToolEvent):
            self._apply_tool_event(event)
        elif isinstance(event, ChatMessageStreamDelta):
            if event.content:
                if self._stream_text is None:
                    self._stream_text = self._add("", {"title": "💭 Thinking", "status": "pending",
                                                       "id": self._new_id("text")})
                self._stream_text.content = f"{self._stream_text.content}{event.content}"
        elif isinstance(event, ToolCall):
            self._close_stream_text()
            if event.name == "final_answer":
                return
            if event.name == "python_interpreter":
                mid = self._new_id("code")
                code = event.arguments if isinstance(event.arguments, str) else _args_text(event.arguments)
                self._add(f"```python\n{code}\n```", {"title": "💻 Running code", "status": "pending", "id": mid})
                self._agent_calls[event.id] = mid
                self._container = mid
            elif event.name in self.space_tools:
                # The Space call itself reports start/progress/end (ToolEvent); remember the model's call id.
                self._agent_calls[event.id] = ""
            else:
                mid = self._new_id("tool")
                self._arguments[mid] = _args_text(event.arguments)
                self._tool_names[mid] = str(event.name)
                self._add(self._arguments[mid], {"title": f"🛠️ Used tool {event.name}", "status": "pending",
                                                 "id": mid})
                self._agent_calls[event.id] = mid
                self._container = mid  # a managed agent: its own Space calls nest under it
        elif isinstance(event, ToolOutput):
            mid = self._agent_calls.pop(event.id, "")
            if mid:
                if not mid.startswith("code-"):
                    self._show(mid, "Result", event.output)
                self._finish(mid)
                if self._container == mid:
                    self._container = None
        elif isinstance(event, ActionOutput):
            for tid, mid in list(self._agent_calls.items()):
                if mid.startswith("code-"):
                    self._finish(mid)
                    self._agent_calls.pop(tid)
            self._container = None
        elif isinstance(event, ActionStep):
            self._close_stream_text()
            for tid, mid in list(self._agent_calls.items()):
                if mid:
                    self._finish(mid, error=str(event.error) if event.error else None)
                self._agent_calls.pop(tid)
            self._container = None
            # A step's error shows once: on its failed tool call if it has one, else as a message of its own
            # (each step's: two steps failing one after the other are two errors).
            if event.error is not None and not self._step_errors:
                self._add(str(event.error), {"title": "💥 Error in step", "status": "done"})
            self._step_errors = 0
        elif isinstance(event, PlanningStep):
            self._close_stream_text()
            self._add(event.plan, {"title": "🧭 Plan", "status": "done", "id": self._new_id("plan"),
                                   "duration": round(event.timing.duration or 0.0, 3)})
        elif isinstance(event, FinalAnswerStep):
            self._close_stream_text()
            self.messages.append(gr.ChatMessage(role="assistant", content=_final_content(event.output)))

    def _close_stream_text(self) -> None:
        if self._stream_text is not None:
            mid = str((self._stream_text.metadata or {}).get("id"))
            self._finish(mid)
            self._stream_text = None

    def _apply_tool_event(self, e: ToolEvent) -> None:
        if e.kind == "start":
            mid = self._new_id("space")
            meta: dict[str, Any] = {"title": f"🛠️ Used tool {e.tool} (on {e.space})", "status": "pending", "id": mid,
                                    "log": "Calling the Space"}
            if self._container:
                meta["parent_id"] = self._container
            self._arguments[mid] = _args_text(e.arguments)
            self._tool_names[mid] = f"{e.tool} (on {e.space})"
            self._add(self._arguments[mid], meta)
            self._space_calls[e.call] = mid
        elif e.kind == "update" and e.update is not None:
            current = self._space_calls.get(e.call)
            if not current or current not in self._by_id:
                return
            if (self._by_id[current].metadata or {}).get("duration") is not None:
                return  # finished (stopped): an update still on its way is stale, not news
            if e.update.kind == "output":  # a generator's output so far
                self._show(current, "Output so far", e.update.value)
                return
            text = _progress_text(e.update)
            if text:
                message = self._by_id[current]
                message.metadata = {**(message.metadata or {}), "log": text}  # type: ignore[assignment]
        elif e.kind == "end":
            ended = self._space_calls.pop(e.call, "")
            if ended:
                if e.error is None:
                    self._show(ended, "Result", e.result)
                self._finish(ended, duration=e.duration, error=e.error, tool=e.tool)


def _final_content(output: Any) -> Any:
    path = output.to_string() if hasattr(output, "to_string") else None
    if isinstance(path, str) and type(output).__name__ in ("AgentImage", "AgentAudio"):
        return gr.Image(path) if type(output).__name__ == "AgentImage" else gr.Audio(path)
    return output if isinstance(output, str) else str(output)


def _snapshot(messages: list[gr.ChatMessage]) -> list[gr.ChatMessage]:
    return [gr.ChatMessage(role=m.role, content=m.content, metadata=dict(m.metadata or {}),  # type: ignore[arg-type]
                           options=m.options) for m in messages]


def stream_trace(agent: Any, task: str, *, reset: bool = True, scope: TraceScope | None = None,
                 state: TraceState | None = None, **run_kwargs: Any) -> Iterator[list[gr.ChatMessage]]:
    """Run `agent` on `task` and yield the growing list of chat messages after every change.

    Closing the generator (a stop button, the browser going away) interrupts the agent and cancels the upstream
    jobs of the Space calls in flight. Pass a `state` to keep a handle on the messages (`state.stop()` marks what
    was pending as cancelled).
    """
    from .tools import SpaceTool

    events: queue.Queue[Any] = queue.Queue()
    scope = scope or TraceScope(sink=events.put)
    scope.sink = events.put
    tools = getattr(agent, "tools", {}) or {}
    state = state or TraceState()
    state.space_tools = frozenset(n for n, t in tools.items() if isinstance(t, SpaceTool))
    context = contextvars.copy_context()  # the caller's identity travels into the agent's thread

    def run() -> None:
        from .agents import bind_run

        try:
            with trace_scope(scope), bind_run(agent, scope=scope):
                for event in agent.run(task, stream=True, reset=reset, **run_kwargs):
                    events.put(event)
        except BaseException as e:  # surfaced as an error message, not a crashed app
            events.put(e)
        finally:
            scope.ended.set()
            events.put(_DONE)

    thread = threading.Thread(target=context.run, args=(run,), name="compose-agent", daemon=True)
    thread.start()
    try:
        while True:
            event = events.get()
            if event is _DONE:
                break
            with state.lock:
                if isinstance(event, BaseException):
                    state.messages.append(gr.ChatMessage(role="assistant", content=f"The agent stopped: {event}",
                                                         metadata={"title": "💥 Agent error", "status": "done"}))
                else:
                    state.apply(event)
                snapshot = _snapshot(state.messages)
            yield snapshot
    finally:
        if thread.is_alive():
            scope.stop()
            if hasattr(agent, "interrupt"):
                agent.interrupt()
