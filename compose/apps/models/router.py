"""A rule-based router: picks one offered tool by keyword overlap and fills its arguments from the task.

It is a product feature for machines without any LLM, and it says so: its `model_id` and every answer it gives
are labelled "rule-based router (no LLM installed)". It is schema-driven, not written for particular tools: a tool
is scored by the overlap of the task's words with the tool's name, description, input names and input choices
(operation words such as "times", "plus", "minus" or "divided" count as the choices "multiply", "add",
"subtract", "divide"); arguments come from the task by type: numbers in order for number inputs, a choice named
in the task for inputs with choices, a quoted phrase (or what is left of the task) for text inputs. Once the tool
has answered, the router calls `final_answer` with the tool's observation.

This module also holds the helpers the local LLM shares: `arguments_schema(tool)` (the JSON schema of a tool's
arguments, with choices as enums) and `conversation(messages)` (the current task and what tools have answered).

Usage:
    agent = ToolCallingAgent(tools=registry.tools(), model=RouterModel())
    agent.run("what is 12 times 7")        # → 84 (calculator_calculate(a=12, operation="multiply", b=7))
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from smolagents.models import (
    ChatMessage,
    ChatMessageStreamDelta,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    ChatMessageToolCallStreamDelta,
    MessageRole,
    Model,
)
from smolagents.monitoring import TokenUsage

from ...agent.tools import tool_summary
from ...schema import JSON_TYPES
from .plan import resolve, task_parts

__all__ = [
    "ROUTER_LABEL",
    "Call",
    "Conversation",
    "RouterModel",
    "WholeStepModel",
    "arguments_schema",
    "as_stream",
    "conversation",
    "error_detail",
    "input_choices",
    "message_text",
    "parse_calls",
    "tool_call_message",
]

ROUTER_LABEL = "rule-based router (no LLM installed)"


# Words that name an operation, mapped to the words a tool's choices are likely to use.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "times": ("multiply", "multiplication", "product"),
    "multiplied": ("multiply", "multiplication", "product"),
    "multiply": ("multiply", "multiplication", "product"),
    "product": ("multiply", "multiplication"),
    "x": ("multiply",),
    "*": ("multiply",),
    "×": ("multiply",),
    "plus": ("add", "addition", "sum"),
    "add": ("add", "addition", "sum"),
    "added": ("add", "addition", "sum"),
    "sum": ("add", "addition", "sum"),
    "+": ("add",),
    "minus": ("subtract", "subtraction", "difference"),
    "subtract": ("subtract", "subtraction", "difference"),
    "subtracted": ("subtract", "subtraction", "difference"),
    "less": ("subtract",),
    "difference": ("subtract", "subtraction"),
    "-": ("subtract",),
    "divided": ("divide", "division", "quotient"),
    "divide": ("divide", "division", "quotient"),
    "over": ("divide",),
    "quotient": ("divide", "division"),
    "/": ("divide",),
    "÷": ("divide",),
    "translate": ("translate", "translation", "language"),
    "translation": ("translate", "language"),
    "count": ("count", "number"),
    "average": ("mean", "average"),
    "avg": ("mean", "average"),
    "mean": ("mean", "average"),
    "max": ("maximum", "max"),
    "maximum": ("maximum", "max"),
    "min": ("minimum", "min"),
    "minimum": ("minimum", "min"),
}
STOPWORDS = frozenset({
    "a", "an", "the", "of", "to", "into", "in", "on", "for", "and", "or", "is", "are", "was", "be", "what", "whats",
    "which", "who", "how", "please", "can", "you", "me", "my", "i", "it", "this", "that", "with", "by", "from", "as",
    "at", "do", "does", "give", "tell", "result", "answer",
})
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])|(?<![\w.])-?\.\d+(?![\w.])")
_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|‘([^’]+)’|(?<!\w)'([^']+)'(?!\w)")
_WORD = re.compile(r"[^\W_]+|[+*×÷/-]")


def message_text(message: Any) -> str:
    """The text of a smolagents ChatMessage or message dict (content as a string or a list of text parts)."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        elif isinstance(part, str):
            parts.append(part)
    return "\n".join(parts)


def _role(message: Any) -> str:
    role = message.get("role") if isinstance(message, dict) else getattr(message, "role", "")
    return str(role.value if isinstance(role, MessageRole) else role)


@dataclass
class Call:
    """One tool call of the current task and how it ended: `result` (the observation) or `error`."""

    name: str
    arguments: dict[str, Any]
    result: str | None = None
    error: str | None = None
    retryable: bool = False  # the arguments were refused (the call may be made again, mended)


@dataclass
class Conversation:
    """What a model needs to know about an agent's memory: the current task, the tool calls made for it (in order,
    each with its result or error), and what the tools answered."""

    task: str = ""
    observations: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    previous: str | None = None  # the last result of the task before this one, for "divide it by 2"

    @property
    def answered(self) -> bool:
        """A tool has answered the current task (an error is not an answer)."""
        return bool(self.observations)

    @property
    def failed(self) -> Call | None:
        """The last call, when it failed and nothing succeeded after it: the task is unfinished because of it."""
        if self.calls and self.calls[-1].error is not None:
            return self.calls[-1]
        return None


_ERROR_DETAIL = re.compile(r"Error executing tool '[^']*' with arguments .*?\}: (?:\w+: )?(.*?)"
                           r"(?:\nPlease try again.*)?$", re.DOTALL)


_WHERE = re.compile(r"^(?:https?://\S+|[\w.-]+/[\w.-]+) /[\w/-]+: ")


def error_detail(text: str) -> str:
    """The reason in a tool error as smolagents reports it ("Call id: …\nError:\nError executing tool 'x' with
    arguments {…}: AppError: Cannot divide by zero.\nPlease try again…\nNow let's retry…"): "Cannot divide by
    zero."."""
    text = text.split("\nNow let's retry")[0]
    text = re.sub(r"^Call id: \S+\n", "", text.strip())
    text = text.removeprefix("Error:").strip()
    match = _ERROR_DETAIL.match(text)
    detail = (match.group(1) if match else text).strip()
    return _WHERE.sub("", detail, count=1)  # the tool's name says where: "http://… /calculate: " is noise


_FAILED_CALL = re.compile(r"Error executing tool '([^']+)' with arguments (\{.*?\}): ", re.DOTALL)


def _failed_call(text: str) -> Call | None:
    """The call an error message of smolagents names: "Error executing tool 'x' with arguments {...}: ..."."""
    import ast

    match = _FAILED_CALL.search(text)
    if match is None:
        return None
    try:
        arguments = ast.literal_eval(match.group(2))
    except (ValueError, SyntaxError):
        arguments = {}
    return Call(match.group(1), dict(arguments) if isinstance(arguments, dict) else {})


def parse_calls(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The calls in smolagents' "Calling tools:\n[{...}]" message (a Python repr): (name, arguments) each."""
    import ast

    try:
        calls = ast.literal_eval(text.removeprefix("Calling tools:").strip())
        out = []
        for c in calls:
            arguments = c["function"]["arguments"]
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except ValueError:
                    arguments = {"value": arguments}
            out.append((str(c["function"]["name"]), dict(arguments or {})))
        return out
    except (ValueError, SyntaxError, TypeError, KeyError):
        return []


def conversation(messages: list[Any]) -> Conversation:
    """Read an agent's messages: the last user task, the tool calls made for it and the tool responses."""
    conv = Conversation()
    pending: list[Call] = []  # the calls of the last step, waiting for their response
    for message in messages:
        role, text = _role(message), message_text(message)
        if role == MessageRole.USER.value:
            if text.startswith("Observation:"):  # some role conversions turn tool responses into user messages
                conv.observations.append(text[len("Observation:"):].strip())
                continue
            task = text[len("New task:"):].strip() if text.startswith("New task:") else text.strip()
            if task and not task.startswith("Now proceed and carry out this plan"):
                results = [c.result for c in conv.calls if c.result is not None]
                conv = Conversation(task=task, previous=results[-1] if results else conv.previous)
                pending = []
        elif role == MessageRole.TOOL_CALL.value:
            pending = [Call(name, arguments) for name, arguments in parse_calls(text)
                       if name != "final_answer"]
            conv.calls.extend(pending)
        elif role == MessageRole.TOOL_RESPONSE.value:
            if text.startswith("Observation:"):
                observation = text[len("Observation:"):].strip()
                conv.observations.append(observation)
                for call in pending:
                    call.result = observation
            else:
                conv.errors.append(text.strip())
                if not pending:  # smolagents records no call for a step whose call failed: read it from the error
                    failed = _failed_call(text)
                    if failed is not None:
                        pending = [failed]
                        conv.calls.append(failed)
                # A refusal of the arguments (before or by the Space) may be mended; the remote's own error not.
                retryable = "InvalidArguments" in text or "Error executing tool" not in text
                for call in pending:
                    call.error, call.retryable = error_detail(text), retryable
            pending = []
    return conv


def input_choices(tool: Any, name: str) -> list[Any] | None:
    """The values one tool input takes, from its spec's structure: `enum` (or `items.enum` for a list of them),
    else its `examples` (a Space parameter's open choices). A description's wording is never parsed."""
    spec = (getattr(tool, "inputs", {}) or {}).get(name) or {}
    items = spec.get("items")
    items = items if isinstance(items, dict) else {}
    for values in (spec.get("enum"), items.get("enum"), spec.get("examples")):
        if isinstance(values, list) and values:
            return list(values)
    return None


def _value_schema(spec: dict[str, Any], choices: list[Any] | None) -> dict[str, Any]:
    kind = spec.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    kinds = [k if k in JSON_TYPES else "string" for k in kinds]  # "any", "image", "audio" → a string
    schema: dict[str, Any]
    if choices:
        schema = {"enum": list(choices)}
    elif len(kinds) == 1:
        schema = {"type": kinds[0]}
    else:
        schema = {"type": sorted(set(kinds))}
    if spec.get("nullable"):
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        else:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            schema["type"] = [*types, "null"] if "null" not in types else types
    return schema


def arguments_schema(tool: Any) -> dict[str, Any]:
    """The JSON schema of a tool's arguments. Every input must be written (an optional one may be null), so that
    a model considers each of them."""
    inputs = getattr(tool, "inputs", {}) or {}
    properties = {name: _value_schema(spec, input_choices(tool, name)) for name, spec in inputs.items()}
    return {"type": "object", "properties": properties, "required": list(inputs), "additionalProperties": False}


def tool_call_message(name: str, arguments: dict[str, Any], *, content: str | None = None,
                      raw: Any = None, token_usage: TokenUsage | None = None) -> ChatMessage:
    """An assistant ChatMessage carrying one tool call."""
    call = ChatMessageToolCall(
        function=ChatMessageToolCallFunction(name=name, arguments=arguments),
        id=f"call_{uuid.uuid4().hex[:12]}",
        type="function",
    )
    text = content if content is not None else json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return ChatMessage(role=MessageRole.ASSISTANT, content=text, tool_calls=[call], raw=raw, token_usage=token_usage)


def as_stream(message: ChatMessage) -> Iterator[ChatMessageStreamDelta]:
    """A whole message as one stream delta, for agents built with `stream_outputs=True`."""
    calls = None
    if message.tool_calls:
        calls = [
            ChatMessageToolCallStreamDelta(
                index=i, id=c.id, type="function",
                function=ChatMessageToolCallFunction(
                    name=c.function.name,
                    arguments=c.function.arguments if isinstance(c.function.arguments, str)
                    else json.dumps(c.function.arguments, ensure_ascii=False)))
            for i, c in enumerate(message.tool_calls)
        ]
    yield ChatMessageStreamDelta(content=message.content if isinstance(message.content, str) else None,
                                 tool_calls=calls, token_usage=message.token_usage)


# --- the router ---------------------------------------------------------------------------------------------------


def _stem(word: str) -> str:
    word = word.lower()
    for suffix in ("ations", "ation", "ions", "ion", "ing", "ed", "es", "s"):
        if len(word) - len(suffix) >= 4 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:6]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _expanded(words: list[str]) -> set[str]:
    out = set()
    for w in words:
        if w in STOPWORDS or w.isdigit():
            continue
        out.add(_stem(w))
        out.update(_stem(s) for s in SYNONYMS.get(w, ()))
    return out


def _name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[_\W]+", name.lower()) if w]


def _mentioned(task: str, choice: Any) -> bool:
    """Whether the task names a choice, itself or through an operation word."""
    text = str(choice).lower()
    if not text:
        return False
    if re.search(rf"(?<!\w){re.escape(text)}(?!\w)", task.lower()):
        return True
    stem = _stem(text)
    return any(stem in {_stem(s) for s in SYNONYMS.get(w, ())} or _stem(w) == stem for w in _words(task))


def _numbers(text: str) -> list[float | int]:
    out: list[float | int] = []
    for match in _NUMBER.findall(text):
        value = float(match)
        out.append(int(value) if value.is_integer() and "." not in match else value)
    return out


def _quoted(text: str) -> list[str]:
    return [next(g for g in groups if g) for groups in _QUOTED.findall(text)]


def score_tool(tool: Any, task: str) -> float:
    """How well a tool fits a task (0 = not at all)."""
    task_words = _expanded(_words(task))
    if not task_words:
        return 0.0
    score = 0.0
    name_words = {_stem(w) for w in _name_words(str(tool.name)) if w not in STOPWORDS}
    score += 3.0 * len(task_words & name_words)
    description = tool_summary(tool)
    score += 1.0 * len(task_words & {_stem(w) for w in _words(description) if w not in STOPWORDS})
    inputs = getattr(tool, "inputs", {}) or {}
    numbers = _numbers(task)
    numeric = [n for n, s in inputs.items() if s.get("type") in ("number", "integer")]
    for name, spec in inputs.items():
        score += 1.0 * len(task_words & {_stem(w) for w in _name_words(name) if w not in STOPWORDS})
        choices = input_choices(tool, name)
        if choices and any(_mentioned(task, c) for c in choices):
            score += 4.0
        elif choices:
            score += 0.5 * len(task_words & {_stem(w) for c in choices for w in _words(str(c))})
        described = {_stem(w) for w in _words(str(spec.get("description") or "")) if w not in STOPWORDS}
        score += 0.5 * len(task_words & described)
    if numeric and numbers:
        score += 1.5 * min(len(numbers), len(numeric)) / len(numeric)
        if len(numbers) < sum(1 for n in numeric if not inputs[n].get("nullable")):
            score -= 2.0
        score -= 1.5 * max(0, len(numbers) - len(numeric))  # a list of numbers is not for two number inputs
    if len(numbers) >= 2 and any(s.get("type") == "string" and "number" in f"{n} {s.get('description')}".lower()
                                 for n, s in inputs.items()):
        score += 2.0
    if _quoted(task) and any(s.get("type") == "string" and not input_choices(tool, n) for n, s in inputs.items()):
        score += 1.0
    return score


def _leftover_text(task: str, tool: Any, used: list[str]) -> str:
    """The task without its tool words and the chosen choices: the text a tool's text input is about."""
    text = task.strip().rstrip("?.!")
    for value in used:  # "... to French", "... into Spanish"
        text = re.sub(rf"\s*\b(?:to|into|in|as)\s+{re.escape(value)}\b", "", text, flags=re.IGNORECASE)
        text = re.sub(rf"\b{re.escape(value)}\b", "", text, flags=re.IGNORECASE)
    tool_stems = {_stem(w) for w in _name_words(str(tool.name))}
    words = text.split()
    while words and (words[0].lower().strip(":,") in STOPWORDS or _stem(words[0].strip(":,")) in tool_stems):
        words.pop(0)
    return " ".join(words).strip(" :,")


_FROM = re.compile(r"-?\d+(?:\.\d+)?\s+(?:\w+\s+){0,2}from\s+-?\d", re.IGNORECASE)


def extract_arguments(tool: Any, task: str) -> dict[str, Any]:
    """Arguments for `tool` read from the task, by each input's type and choices."""
    inputs: dict[str, dict[str, Any]] = getattr(tool, "inputs", {}) or {}
    numbers = _numbers(task)
    if len(numbers) == 2 and _FROM.search(task):  # "subtract 8 from 20", "take 5 away from 9": 20 - 8, 9 - 5
        numbers.reverse()
    quoted = _quoted(task)
    args: dict[str, Any] = {}
    used_choices: list[str] = []
    for name, spec in inputs.items():
        choices = input_choices(tool, name)
        if choices:
            named = [c for c in choices if _mentioned(task, c)]
            if named:
                args[name] = named[0]
                used_choices.append(str(named[0]))
            elif not spec.get("nullable"):
                args[name] = choices[0]
    for name, spec in inputs.items():
        if name in args:
            continue
        kind = spec.get("type")
        described = f"{name} {spec.get('description') or ''}".lower()
        if kind in ("number", "integer") and numbers:
            value = numbers.pop(0)
            args[name] = int(value) if kind == "integer" else value
        elif kind == "string":
            if "number" in described and numbers and not quoted:
                args[name] = ", ".join(str(n) for n in numbers)
                numbers = []
            elif quoted:
                args[name] = quoted.pop(0)
            else:
                leftover = _leftover_text(task, tool, used_choices)
                if leftover or not spec.get("nullable"):
                    args[name] = leftover or task
        elif kind == "boolean" and not spec.get("nullable"):
            args[name] = not re.search(r"\b(no|not|false|without)\b", task.lower())
    return args


class WholeStepModel(Model):  # type: ignore[misc]
    """A smolagents Model that makes each step in one piece, so streaming it is that whole step as one delta."""

    def generate_stream(self, messages: list[ChatMessage | dict[str, Any]], stop_sequences: list[str] | None = None,
                        response_format: dict[str, str] | None = None, tools_to_call_from: list[Any] | None = None,
                        **kwargs: Any) -> Iterator[ChatMessageStreamDelta]:
        yield from as_stream(self.generate(messages, stop_sequences, response_format, tools_to_call_from, **kwargs))


class RouterModel(WholeStepModel):
    """A clearly labelled rule-based router (no LLM): one tool call chosen by keyword overlap, then `final_answer`
    with that tool's observation. See the module docstring."""

    label = ROUTER_LABEL

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_id=ROUTER_LABEL, **kwargs)

    def route(self, task: str, tools: list[Any]) -> tuple[Any, dict[str, Any]] | None:
        """The best tool for a task and its arguments, or None when no tool fits."""
        candidates = [t for t in tools if t.name != "final_answer"]
        scored = sorted(((score_tool(t, task), i, t) for i, t in enumerate(candidates)), key=lambda s: (-s[0], s[1]))
        if not scored or scored[0][0] <= 0:
            return None
        tool = scored[0][2]
        return tool, extract_arguments(tool, task)

    def generate(
        self,
        messages: list[ChatMessage | dict[str, Any]],  # type: ignore[override]
        stop_sequences: list[str] | None = None,
        response_format: dict[str, str] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        conv = conversation(messages)
        usage = TokenUsage(input_tokens=0, output_tokens=0)
        if not tools_to_call_from:
            text = (f"[{ROUTER_LABEL}] " + "\n".join(conv.observations)) if conv.observations else (
                f"[{ROUTER_LABEL}] I can only route a task to one of the tools; no language model is installed.")
            return ChatMessage(role=MessageRole.ASSISTANT, content=text, token_usage=usage)
        failed = conv.failed
        if failed is not None or conv.errors:
            reason = failed.error if failed is not None else error_detail(conv.errors[-1])
            name = failed.name if failed is not None else "a tool"
            return tool_call_message("final_answer", {
                "answer": f"The {ROUTER_LABEL} could not complete this task: {name} failed: {reason}"},
                token_usage=usage)
        # One call per part of the task ("… and then add 4 to the result"), the previous result in place of
        # "the result"; then the results.
        others = [t for t in tools_to_call_from if t.name != "final_answer"]
        parts = [p for p in task_parts(conv.task) if self.route(p, others) is not None] if others else []
        done = [c for c in conv.calls if c.result is not None] if conv.calls else []
        if conv.observations and (len(done) >= len(parts) or not conv.calls):
            answers = [f"{c.name}: {c.result}" for c in done] if len(done) > 1 else conv.observations[-1:]
            return tool_call_message("final_answer", {"answer": "\n".join(answers)}, token_usage=usage)
        task = resolve(parts[len(done)], done[-1].result if done else None) if parts else conv.task
        routed = self.route(task, tools_to_call_from)
        if routed is None:
            names = ", ".join(t.name for t in tools_to_call_from if t.name != "final_answer") or "none"
            return tool_call_message("final_answer", {
                "answer": f"The {ROUTER_LABEL} found no tool for this task. Tools: {names}. Install the embedded "
                          "model (the local-model extra) or set HF_TOKEN / OPENAI_API_KEY for a real LLM."},
                token_usage=usage)
        tool, args = routed
        return tool_call_message(tool.name, args, token_usage=usage)

