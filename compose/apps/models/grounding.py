"""A final answer held to what the tools said: failures stated, results present, no invented numbers.

A small model writes fluent answers that can be wrong in ways a reader does not notice: it reports a result after
a tool failed, or a number no tool returned. `ground_answer` checks the model's answer against the calls of the
task (`Conversation.calls`) and mends it where it strays:

- a task whose last call failed (nothing succeeded after it) gets an answer that says which tool failed and why,
  whatever the model wrote; the model's own words are kept only when they already say so and invent no number;
- every result the user asked for (a call's result not used as the argument of a later call) appears in the
  answer; a missing one is added as "tool: result";
- an answer with a number that neither the task nor any tool result holds is replaced by the results themselves.

Usage:
    answer = ground_answer(model_answer, conversation(agent_messages))
"""

from __future__ import annotations

import ast
import re
from typing import Any

from .router import Call, Conversation

__all__ = ["FAILURE_WORDS", "ground_answer", "numbers_in", "result_text", "states_failure"]

FAILURE_WORDS = ("fail", "error", "cannot", "can't", "could not", "couldn't", "unable", "not possible",
                 "impossible", "refused", "did not work", "didn't work")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_LIMIT = 400  # characters of one result quoted in an answer


def numbers_in(text: str) -> set[float]:
    """The numbers a text holds ("36" and "36.0" are one number; "4,8" is two)."""
    out = set()
    for match in _NUMBER.findall(text):
        try:
            out.add(round(float(match), 6))
        except ValueError:
            continue
    return out


def _value(result: str) -> Any:
    """A tool's observation as a value where it is one (a dict, a number), else the text."""
    try:
        return ast.literal_eval(result)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return result


def result_text(result: str) -> str:
    """A result as a person reads it: 36.0 → 36, {'Sum': 6.0} → "Sum: 6", long text cut."""
    value = _value(result)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return ", ".join(f"{k}: {result_text(repr(v))}" for k, v in value.items())
    text = str(value)
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"


def _present(result: str, answer: str) -> bool:
    """Whether an answer carries a result: all its numbers, or its text."""
    wanted = numbers_in(result)
    if wanted:
        return wanted <= numbers_in(answer)
    text = result_text(result).strip().lower()
    return not text or text in answer.lower()


def _used_later(call: Call, later: list[Call]) -> bool:
    """Whether a call's result went into a later call's arguments (an intermediate step of a chain)."""
    if call.result is None:
        return False
    found = numbers_in(call.result)
    text = result_text(call.result).strip().lower()
    for other in later:
        values = " ".join(str(v) for v in other.arguments.values())
        if found and found & numbers_in(values):
            return True
        if not found and text and text in values.lower():
            return True
    return False


def states_failure(answer: str, call: Call) -> bool:
    """Whether an answer says that a call failed: its reason, or a word of failure."""
    lowered = answer.lower()
    reason = (call.error or "").strip().lower().rstrip(".")
    return bool(reason and reason in lowered) or any(word in lowered for word in FAILURE_WORDS)


def _invented(answer: str, conv: Conversation) -> set[float]:
    known = numbers_in(conv.task)
    for call in conv.calls:
        known |= numbers_in(call.result or "") | numbers_in(call.error or "")
        known |= numbers_in(" ".join(str(v) for v in call.arguments.values()))
    return numbers_in(answer) - known


def _template(answer: str, conv: Conversation) -> bool:
    """An answer written as a template ("{5} - {3}", "{Sum} * {Mean}") or a raw dump of a result ("{'Sum': 6.0}",
    "{9.0, 16.0}") rather than in words: the results read better."""
    if answer.startswith("{") and answer.rstrip(".").endswith("}"):
        return True
    return bool(re.search(r"\{[^{}]*\}", answer)) and not any("{" in (c.result or "") for c in conv.calls)


def _summary(calls: list[Call]) -> str:
    return "\n".join(f"{c.name}: {result_text(c.result)}" for c in calls if c.result is not None)


def ground_answer(answer: str, conv: Conversation) -> str:
    """The model's final answer, mended where it strays from the tool calls of the task (see the module docstring).
    A task without tool calls keeps the model's answer."""
    answer = str(answer or "").strip()
    if not conv.calls:
        return answer
    failed = conv.failed
    if failed is not None:
        done = [c for c in conv.calls if c.result is not None]
        statement = f"{failed.name} failed: {failed.error or 'unknown error'}"
        if states_failure(answer, failed) and not _invented(answer, conv):
            return answer if (failed.error or "").lower().rstrip(".") in answer.lower() else \
                f"{answer}\n({statement})"
        before = f"\nBefore that:\n{_summary(done)}" if done else ""
        return f"I could not complete this: {statement}{before}"
    if _invented(answer, conv) or _template(answer, conv):
        answer = ""
    succeeded = [c for c in conv.calls if c.result is not None]
    wanted = [c for i, c in enumerate(succeeded) if not _used_later(c, succeeded[i + 1:])]
    missing = [c for c in wanted if c.result is not None and not _present(c.result, answer)]
    if not answer:
        return _summary(wanted) or _summary(succeeded)
    if missing:
        return f"{answer}\n{_summary(missing)}"
    return answer
