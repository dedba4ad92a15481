"""What the embedded model sees and may do at each step of an agent run: prompts and the step policy.

A 0.5B model is reliable at one thing: turning one plain request into one call of the tool that fits, when the
output is constrained to the offered tools' schemas. So a run is a sequence of such steps (`next_step`):

1. The task is read as its parts (`plan.task_parts`); a part that no tool has anything in common with needs no
   call ("Hi!"). Each part that does gets one step of its own, whose prompt is the system prompt and that part
   alone, with the previous result in place of "the result" ("add 4 to 36"); only tools are offered.
2. When every part has its result, or a call failed with the Space's own error (a refusal of the arguments may be
   mended once), or `max_calls` calls were made, the last step offers only `final_answer`, and its prompt is the
   task and its calls and results, with the instruction to answer from them (and to say so when one failed).

The system prompt depends only on the tools, never on the task, so llama.cpp reuses its processed prefix for every
step and every turn of every user; each step's prompt holds only the current task, so a step costs the same in the
tenth turn of a chat as in the first. A turn that refers to an earlier one ("divide it by 2") gets that turn's
last result in place of the reference.

Usage:
    step = next_step(agent_messages, tools, max_calls=4)
    step.messages, step.offered        # the chat turns for llama.cpp, the tools the output may call
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from smolagents.models import MessageRole

from ...agent.tools import RUNS_ON
from .plan import resolve, task_parts
from .router import Conversation, conversation, input_choices, message_text, parse_calls, score_tool

__all__ = ["COMPACT_HEADER", "Step", "compact_system_prompt", "next_step", "rank_tools"]


_DEFAULT_PROMPT_START = "You are an expert assistant who can solve any task using tool calls."
_RULES = "Here are the rules you should always follow"
_RETURNS = "Returns an output of type:"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text or "").split(RUNS_ON)[0].split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _signature(tool: Any) -> str:
    parts = []
    for name, spec in (getattr(tool, "inputs", {}) or {}).items():
        choices = input_choices(tool, name)
        kind = "|".join(str(c) for c in choices) if choices else str(spec.get("type", "any"))
        parts.append(f"{name}: {kind}{'?' if spec.get('nullable') else ''}")
    return f"{tool.name}({', '.join(parts)})"


COMPACT_HEADER = 'You solve tasks with tools. Reply with one tool call as JSON: {"name": <tool>, "arguments": {...}}.'
RULES = (
    "Call one tool at a time, with values taken from the task or from earlier tool results. "
    "A task may need several calls: a later call can use an earlier result. "
    "When the task is done, or no tool fits it, call final_answer with the answer for the user, using the tool "
    "results. If a tool failed, say that it failed and why; never make up a result."
)


def compact_system_prompt(tools: Iterable[Any], instructions: str | None = None) -> str:
    """A short system prompt for a small model: what to output, the rules of a run, and one line per tool.

    It depends only on the tools, never on the task, so llama.cpp reuses its processed prefix for every step and
    every turn of every user (the prompt cache)."""
    lines = [COMPACT_HEADER, RULES, "Tools:"]
    for tool in tools:
        lines.append(f"- {_signature(tool)}: {_short(getattr(tool, 'description', ''))}")
    if instructions and instructions.strip():
        lines.append(instructions.strip())
    return "\n".join(lines)


def rank_tools(tools: list[Any], task: str) -> list[Any]:
    """The tools ordered by keyword relevance to the task (stable; final_answer last).

    A 0.5B model leans towards the first tools it is shown: with the translator listed before the calculator it
    translated "what is 12 times 7" (5-6 of 9 trial tasks right); with the relevant tool first, 9 of 9. So the
    model still chooses among all the offered tools, but sees the likeliest ones first.
    """

    def key(item: tuple[int, Any]) -> tuple[float, int]:
        index, tool = item
        if tool.name == "final_answer":
            return (float("inf"), index)
        return (-score_tool(tool, task) if task else 0.0, index)

    return [tool for _, tool in sorted(enumerate(tools), key=key)]


def _default_prompt_instructions(system: str) -> str | None:
    """The agent's own instructions inside smolagents' default prompt: between the last tool and the rules."""
    head = system.split(_RULES)[0]
    last = head.rfind(_RETURNS)
    if last < 0:
        return None
    after = head[last:].split("\n", 1)
    return after[1].strip() or None if len(after) == 2 else None


def _system_prompt(system: str, tools: list[Any]) -> str:
    """The agent's system prompt: smolagents' long default becomes the compact one; any other is kept as written."""
    if system.startswith(_DEFAULT_PROMPT_START):
        return compact_system_prompt(tools, _default_prompt_instructions(system))
    return system


def _calls_as_json(text: str) -> str:
    """smolagents' "Calling tools:\n[{...}]" (a Python repr) as the JSON the model writes."""
    calls = parse_calls(text)
    if not calls:
        return text
    return "\n".join(json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False, default=str)
                     for name, arguments in calls)




@dataclass
class Step:
    """One step for the model: the chat turns to complete and the tools its output may call."""

    messages: list[dict[str, str]]
    offered: list[Any]
    part: str | None = None  # the part of the task this step is for (None: the final answer)


def _relevant(tools: list[Any], text: str) -> list[Any]:
    """The tools that have anything in common with a text, likeliest first."""
    scored = [(score_tool(t, text), i, t) for i, t in enumerate(tools) if t.name != "final_answer"]
    return [t for score, _, t in sorted(scored, key=lambda s: (-s[0], s[1])) if score > 0]


def _hint(tools: list[Any], text: str) -> str:
    """The tools likeliest to fit, named after the request: a 0.5B model leans towards the first tool it is shown,
    and a hint here leaves the system prompt (and so the prompt cache) the same for every task."""
    names = [t.name for t in _relevant(tools, text)[:3]]
    return f"\n(Tools that may fit: {', '.join(names)})" if names else ""


def _system(messages: list[Any], tools: list[Any]) -> dict[str, str]:
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        if str(getattr(role, "value", role)) == MessageRole.SYSTEM.value:
            return {"role": "system", "content": _system_prompt(message_text(message).strip(), tools)}
    return {"role": "system", "content": compact_system_prompt(tools)}


def _result_turn(conv: Conversation) -> str:
    """The task and its calls as the final step reads them."""
    lines = [f"Task: {conv.task}"]
    for call in conv.calls:
        arguments = json.dumps(call.arguments, ensure_ascii=False, default=str)
        if call.error is not None:
            lines.append(f"{call.name}({arguments}) failed: {call.error}")
        else:
            lines.append(f"{call.name}({arguments}) returned: {call.result}")
    failed = conv.failed
    if failed is not None:
        lines.append(f"Call final_answer: tell the user that {failed.name} failed and why. Do not make up a result.")
    elif conv.calls:
        lines.append("Call final_answer with the answer for the user, from these results.")
    else:
        lines.append("No tool fits this task. Call final_answer with a short reply to the user, as the assistant "
                     "of this app, who can do what the tools listed above do.")
    return "\n".join(lines)


def _parts(conv: Conversation, tools: list[Any]) -> list[str]:
    """The parts of the task that call for a tool."""
    return [p for p in task_parts(conv.task) if _relevant(tools, p)]


def next_step(messages: list[Any], tools: list[Any], *, max_calls: int = 4, hint: bool = True,
              final_only: bool = False) -> Step:
    """The next step of a run (see the module docstring); `final_only` asks for the final answer now."""
    conv = conversation(messages)
    system = _system(messages, tools)
    final = [t for t in tools if t.name == "final_answer"]
    others = [t for t in tools if t.name != "final_answer"]
    failed = conv.failed
    blocked = failed is not None and (not failed.retryable or len(conv.errors) > 1)
    parts = _parts(conv, others)
    done = [c for c in conv.calls if c.result is not None]
    if others and not final_only and not blocked and len(conv.calls) < max_calls and \
            (failed is not None or len(done) < len(parts)):
        if failed is not None:  # the arguments were refused: the same part again, with the reason
            index = len(done)
            part = resolve(parts[min(index, len(parts) - 1)], done[-1].result if done else conv.previous) \
                if parts else conv.task
            text = f"{part}\n(The last try was refused: {failed.error})"
        else:
            previous = done[-1].result if done else conv.previous
            part = resolve(parts[len(done)], previous)
            text = part
        return Step([system, {"role": "user", "content": text + (_hint(others, part) if hint else "")}],
                    others, part)
    return Step([system, {"role": "user", "content": _result_turn(conv)}], final or tools)
