"""A task read as its parts, so that a small model works on one request at a time.

"Multiply 12 by 3 and then add 4 to the result" is two requests, the second about the first one's result. A 0.5B
model shown the whole task again after the first result tends to repeat the first step or wander; shown "Next: add
4 to 36" it makes the right call. `task_parts` splits a task where language marks a new request (a new sentence,
"then", "and then", "after that", "; ", ", and <verb or question word>"), never inside quotes; `resolve` puts the
previous result in place of the words that refer to it ("the result", "that", "it", ...), outside quotes.

Usage:
    parts = task_parts("Multiply 12 by 3 and then add 4 to the result")   # ["Multiply 12 by 3", "add 4 to the result"]
    resolve(parts[1], "36.0")                                             # "add 4 to 36"
"""

from __future__ import annotations

import re

__all__ = ["resolve", "task_parts"]

_MASK = "\x01"  # stands for each character of a quoted span while matching
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|‘[^’]*’|(?<!\w)'[^']*'(?!\w)")
# A clause that starts a new request after "and": an imperative or a question word.
_STARTS = (r"what|whats|what's|how|tell|give|compute|calculate|translate|count|add|multiply|divide|subtract|say|"
           r"run|start|find|get|show|make|convert|also")
_SPLIT = re.compile(
    r"(?<=[.?!])\s+(?=\S)"                       # a new sentence
    r"|\s*;\s*"
    r"|,?\s+(?:and\s+)?then\s*,?\s+"             # "then", "and then", ", then"
    r"|,?\s+(?:and\s+)?after\s+that\s*,?\s+"
    rf"|,?\s+and\s+(?=(?:{_STARTS})\b)"
    r"|,?\s+and\s+(?=\x01)",                      # "Translate 'cat' to Spanish and 'dog' to German"
    re.IGNORECASE,
)
_LEAD = re.compile(r"^(?:and\s+)?(?:then|also|after\s+that)\b\s*,?\s*", re.IGNORECASE)
_REFERENCE = re.compile(r"\b(?:the\s+(?:result|answer|outcome|translation|sum|product|difference|quotient|number|"
                        r"output|value|total)|that(?!\s+is\b)|it|this)\b(?!')", re.IGNORECASE)


def _masked(text: str) -> str:
    """The text with quoted spans blanked out (same length), so patterns never match inside quotes."""
    return _QUOTED.sub(lambda m: _MASK * len(m.group(0)), text)


def task_parts(task: str) -> list[str]:
    """The requests a task is made of, in order (one part when nothing marks a second)."""
    masked = _masked(task)
    parts, start = [], 0
    for match in _SPLIT.finditer(masked):
        parts.append(task[start:match.start()])
        start = match.end()
    parts.append(task[start:])
    cleaned = [_LEAD.sub("", p.strip(" ,")) for p in parts]
    kept = [p for p in cleaned if p.strip(" .?!")] or [task.strip()]
    for i in range(1, len(kept)):
        if kept[i][:1] in "\"“‘'":  # an elliptical request takes the verb of the one before: "Translate 'dog' …"
            verb = _masked(kept[i - 1]).split(_MASK, 1)[0]
            if verb.strip() and verb != kept[i - 1]:
                kept[i] = f"{verb.rstrip()} {kept[i]}"
    return kept


def _plain(result: str) -> str:
    """A result as a value to put in a sentence: 36.0 → 36; text quoted."""
    text = result.strip()
    try:
        number = float(text)
    except ValueError:
        return f"'{text}'"
    return str(int(number)) if number.is_integer() else text


def resolve(part: str, result: str | None) -> str:
    """The part with the previous result in place of the words that refer to it (outside quotes)."""
    if result is None:
        return part
    masked = _masked(part)
    value = _plain(result)
    out, last = [], 0
    for match in _REFERENCE.finditer(masked):
        out += [part[last:match.start()], value]
        last = match.end()
    return "".join([*out, part[last:]])
