"""The prompts of the agent evaluation, each with a checker of the calls made and of the answer.

Tools (the demo's Spaces, as `compose demo` registers them): calculator_calculate(a, operation, b),
calculator_stats(numbers), translator_translate(text, target_language), translator_word_count(text),
streaming_count_up(n, delay), streaming_long_job(seconds).

`CASES` are the prompts the embedded model was tuned on; `HELD_OUT` were written at the same time and are only run
for the report (`--held-out`), never while tuning, so the report shows how far the tuned figures carry.

Usage: `from bench.agent_eval.cases import CASES, HELD_OUT, check`
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CASES", "CATEGORIES", "HELD_OUT", "Case", "Expected", "check"]

CATEGORIES = ("single tool", "argument order", "several outputs", "two-step chain", "two independent tools",
              "no tool needed", "tool error", "streaming tool", "long job")

CALC, STATS, TRANSLATE, WORDS = "calculator_calculate", "calculator_stats", "translator_translate", \
    "translator_word_count"
COUNT, LONG = "streaming_count_up", "streaming_long_job"

FAILURE = ("fail", "error", "cannot", "can't", "could not", "couldn't", "unable", "not possible", "impossible",
           "undefined", "not defined")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


def numbers(text: str) -> set[float]:
    return {round(float(m), 6) for m in _NUMBER.findall(text)}


@dataclass(frozen=True)
class Expected:
    """A call the agent must make: the tool and the arguments that matter (numbers compared as numbers, text
    case-insensitively without quotes)."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def matches(self, name: str, arguments: dict[str, Any]) -> bool:
        if name != self.tool:
            return False
        if arguments.get("operation") in ("add", "multiply") and {"a", "b"} <= set(self.arguments):
            # a + b = b + a: either order is right
            swapped = {**self.arguments, "a": self.arguments["b"], "b": self.arguments["a"]}
            if Expected(self.tool, swapped)._matches(arguments):
                return True
        return self._matches(arguments)

    def _matches(self, arguments: dict[str, Any]) -> bool:
        for key, want in self.arguments.items():
            got = arguments.get(key)
            if isinstance(want, (int, float)) and not isinstance(want, bool):
                try:
                    if abs(float(got) - float(want)) > 1e-6:  # type: ignore[arg-type]
                        return False
                except (TypeError, ValueError):
                    return False
            elif isinstance(want, set):
                if numbers(str(got)) != want:
                    return False
            elif str(got).strip().strip("'\"").lower() != str(want).lower():
                return False
        return True


@dataclass(frozen=True)
class Case:
    """One prompt: its category, the calls it needs (`ordered`: in that order) and what the answer must hold."""

    prompt: str
    category: str
    calls: tuple[Expected, ...] = ()
    ordered: bool = True
    says: tuple[str | float, ...] = ()  # text (case-insensitive) or numbers the answer must contain
    fails: bool = False  # the answer must state the failure, and no tool may be called after it


def _calls_ok(case: Case, made: Sequence[tuple[str, dict[str, Any]]]) -> tuple[bool, str]:
    if not case.calls:
        return (not made, f"expected no tool call, made {made}")
    if case.fails:
        ok = len(made) >= 1 and case.calls[0].matches(*made[0]) and len(made) == 1
        return ok, f"expected only {case.calls[0]}, made {made}"
    if case.ordered:
        ok = len(made) == len(case.calls) and all(e.matches(*m) for e, m in zip(case.calls, made, strict=True))
        return ok, f"expected {list(case.calls)} in order, made {made}"
    left = list(made)
    for expected in case.calls:
        hit = next((m for m in left if expected.matches(*m)), None)
        if hit is None:
            return False, f"expected {expected} among {made}"
        left.remove(hit)
    return not left, f"expected {list(case.calls)}, made {made}"


def _answer_ok(case: Case, answer: str) -> tuple[bool, str]:
    lowered = answer.lower()
    if case.fails and not any(word in lowered for word in FAILURE):
        return False, f"the answer does not state the failure: {answer!r}"
    found = numbers(answer)
    for want in case.says:
        if isinstance(want, (int, float)):
            if round(float(want), 6) not in found:
                return False, f"{want} missing from {answer!r}"
        elif want.lower() not in lowered:
            return False, f"{want!r} missing from {answer!r}"
    if not answer.strip():
        return False, "empty answer"
    return True, ""


def check(case: Case, made: Sequence[tuple[str, dict[str, Any]]], answer: str) -> tuple[bool, bool, str]:
    """(calls right, answer right, why not)."""
    calls_ok, calls_why = _calls_ok(case, made)
    answer_ok, answer_why = _answer_ok(case, answer)
    return calls_ok, answer_ok, "; ".join(w for ok, w in ((calls_ok, calls_why), (answer_ok, answer_why)) if not ok)


def _c(a: float, op: str, b: float) -> Expected:
    return Expected(CALC, {"a": a, "operation": op, "b": b})


def _t(text: str, language: str) -> Expected:
    return Expected(TRANSLATE, {"text": text, "target_language": language})


Builder = Callable[..., Case]


def _cases(category: str, *rows: tuple[Any, ...], **common: Any) -> list[Case]:
    out = []
    for row in rows:
        prompt, calls, says, *rest = row
        options = {**common, **(rest[0] if rest else {})}
        out.append(Case(prompt, category, tuple(calls), says=tuple(says), **options))
    return out


CASES: list[Case] = [
    *_cases(
        "single tool",
        ("what is 12 times 7", [_c(12, "multiply", 7)], [84]),
        ("translate 'good night' to Spanish", [_t("good night", "Spanish")], ["buenas noches"]),
        ("How many words are in 'the quick brown fox jumps'?", [Expected(WORDS)], [5]),
        ("Add 250 and 175", [_c(250, "add", 175)], [425]),
        ("Say 'thank you' in German", [_t("thank you", "German")], ["danke"]),
        ("What is 81 divided by 9?", [_c(81, "divide", 9)], [9]),
    ),
    *_cases(
        "argument order",
        ("Subtract 8 from 20", [_c(20, "subtract", 8)], [12]),
        ("What is 100 minus 37?", [_c(100, "subtract", 37)], [63]),
        ("Divide 3 by 12", [_c(3, "divide", 12)], [0.25]),
        ("Take 5 away from 9", [_c(9, "subtract", 5)], [4]),
        ("What is 7 subtracted from 50?", [_c(50, "subtract", 7)], [43]),
        ("Divide 144 by 12", [_c(144, "divide", 12)], [12]),
    ),
    *_cases(
        "several outputs",
        ("Give me the sum, mean and maximum of 4, 8, 15", [Expected(STATS, {"numbers": {4, 8, 15}})], [27, 9, 15]),
        ("What are the statistics of 2, 4, 6, 8?", [Expected(STATS, {"numbers": {2, 4, 6, 8}})], [20, 5, 8]),
        ("Sum and average of 10, 20, 30", [Expected(STATS, {"numbers": {10, 20, 30}})], [60, 20]),
        ("What is the largest of 3, 9, 4 and what is their total?", [Expected(STATS, {"numbers": {3, 9, 4}})],
         [9, 16]),
        ("Compute stats for the numbers 1, 2, 3, 6", [Expected(STATS, {"numbers": {1, 2, 3, 6}})], [12, 3, 6]),
        ("Mean of 7, 9, 11", [Expected(STATS, {"numbers": {7, 9, 11}})], [9]),
    ),
    *_cases(
        "two-step chain",
        ("Multiply 12 by 3 and then add 4 to the result", [_c(12, "multiply", 3), _c(36, "add", 4)], [40]),
        ("Add 5 and 7, then multiply the result by 3", [_c(5, "add", 7), _c(12, "multiply", 3)], [36]),
        ("Subtract 4 from 10 and then divide the result by 2", [_c(10, "subtract", 4), _c(6, "divide", 2)], [3]),
        ("Multiply 9 by 9, then subtract 1 from that", [_c(9, "multiply", 9), _c(81, "subtract", 1)], [80]),
        ("Translate 'good morning' to French, then count the words of the translation",
         [_t("good morning", "French"), Expected(WORDS, {"text": "bonjour"})], [1]),
        ("Add 2.5 and 2.5, then multiply that by 4", [_c(2.5, "add", 2.5), _c(5, "multiply", 4)], [20]),
    ),
    *_cases(
        "two independent tools",
        ("What is 6 times 7? Then translate 'the answer is' into French",
         [_c(6, "multiply", 7), _t("the answer is", "French")], [42, "la réponse est"]),
        ("Translate 'cat' to Spanish and 'dog' to German", [_t("cat", "Spanish"), _t("dog", "German")],
         ["gato", "hund"]),
        ("What is 15 plus 27, and how do you say 'water' in Spanish?", [_c(15, "add", 27), _t("water", "Spanish")],
         [42, "agua"]),
        ("Count the words in 'a b c d' and compute 3 times 3", [Expected(WORDS, {"text": "a b c d"}),
                                                                 _c(3, "multiply", 3)], [4, 9]),
        ("Translate 'hello' to German and also tell me 100 divided by 4", [_t("hello", "German"),
                                                                           _c(100, "divide", 4)], ["hallo", 25]),
        ("What is 8 minus 3 and what is 8 plus 3?", [_c(8, "subtract", 3), _c(8, "add", 3)], [5, 11]),
        ordered=False,
    ),
    *_cases(
        "no tool needed",
        ("Hi! Who are you?", [], []),
        ("Thanks, that's all for now.", [], []),
        ("What's your name?", [], []),
        ("Tell me a joke", [], []),
        ("What can you do?", [], []),
        ("Who wrote Hamlet?", [], []),
    ),
    *_cases(
        "tool error",
        ("Divide 5 by 0", [_c(5, "divide", 0)], []),
        ("What is 10 divided by 0?", [_c(10, "divide", 0)], []),
        ("Divide 42 by zero", [_c(42, "divide", 0)], []),
        ("Calculate 7 / 0", [_c(7, "divide", 0)], []),
        ("What's 0 divided by 0?", [_c(0, "divide", 0)], []),
        ("Please compute 3.5 divided by 0", [_c(3.5, "divide", 0)], []),
        fails=True,
    ),
    *_cases(
        "streaming tool",
        ("Count to 4 for me", [Expected(COUNT, {"n": 4})], [1, 2, 3, 4]),
        ("Count up to 7", [Expected(COUNT, {"n": 7})], [1, 2, 3, 4, 5, 6, 7]),
        ("Count from 1 to 3", [Expected(COUNT, {"n": 3})], [1, 2, 3]),
        ("Please count to 10", [Expected(COUNT, {"n": 10})], list(range(1, 11))),
        ("Count to five", [Expected(COUNT, {"n": 5})], [1, 2, 3, 4, 5]),
        ("Can you count up to 6?", [Expected(COUNT, {"n": 6})], [1, 2, 3, 4, 5, 6]),
    ),
    *_cases(
        "long job",
        ("Run the long job for 5 seconds", [Expected(LONG, {"seconds": 5})], [5]),
        ("Start a long job of 3 seconds", [Expected(LONG, {"seconds": 3})], [3]),
        ("Run the long job for 2 seconds", [Expected(LONG, {"seconds": 2})], [2]),
        ("Please run a 4 second long job", [Expected(LONG, {"seconds": 4})], [4]),
        ("Run a long job that takes 1 second", [Expected(LONG, {"seconds": 1})], [1]),
        ("Do the long job, 2.5 seconds", [Expected(LONG, {"seconds": 2.5})], [2.5]),
    ),
]

HELD_OUT: list[Case] = [
    *_cases("single tool",
            ("How do you say 'friend' in French?", [_t("friend", "French")], ["ami"]),
            ("What is 13 plus 29?", [_c(13, "add", 29)], [42])),
    *_cases("argument order",
            ("Subtract 15 from 40", [_c(40, "subtract", 15)], [25]),
            ("What is 2 divided by 8?", [_c(2, "divide", 8)], [0.25])),
    *_cases("several outputs",
            ("What are the sum, mean and max of 5, 10, 15, 20?", [Expected(STATS, {"numbers": {5, 10, 15, 20}})],
             [50, 12.5, 20]),
            ("Total and average of 3, 6, 9", [Expected(STATS, {"numbers": {3, 6, 9}})], [18, 6])),
    *_cases("two-step chain",
            ("Add 10 and 15, then divide the result by 5", [_c(10, "add", 15), _c(25, "divide", 5)], [5]),
            ("Multiply 4 by 5 and subtract 3 from the result", [_c(4, "multiply", 5), _c(20, "subtract", 3)],
             [17])),
    *_cases("two independent tools",
            ("Translate 'goodbye' to Spanish and tell me what 9 times 8 is", [_t("goodbye", "Spanish"),
                                                                              _c(9, "multiply", 8)],
             ["adiós", 72]),
            ("How many words are in 'one two three' and what is 50 minus 8?",
             [Expected(WORDS, {"text": "one two three"}), _c(50, "subtract", 8)], [3, 42]),
            ordered=False),
    *_cases("no tool needed",
            ("Hello there, how are you today?", [], []),
            ("What is the capital of Italy?", [], [])),
    *_cases("tool error",
            ("Please divide 9 by 0", [_c(9, "divide", 0)], []),
            ("What do I get if I divide 100 by zero?", [_c(100, "divide", 0)], []),
            fails=True),
    *_cases("streaming tool",
            ("Count up to 3 please", [Expected(COUNT, {"n": 3})], [1, 2, 3]),
            ("I want you to count to 8", [Expected(COUNT, {"n": 8})], list(range(1, 9)))),
    *_cases("long job",
            ("Run the long job for 3 seconds please", [Expected(LONG, {"seconds": 3})], [3]),
            ("Launch a 2 second long job", [Expected(LONG, {"seconds": 2})], [2])),
]
