"""stream_trace as a function: an agent run over real local Spaces mapped to the growing list of chat messages."""

from __future__ import annotations

from typing import Any

import pytest
from jobs import wait_for_state
from scripted import ScriptedModel
from smolagents import CodeAgent, ToolCallingAgent

import compose


@pytest.fixture(scope="module")
def registry(urls: dict[str, str]) -> compose.ToolRegistry:
    reg = compose.ToolRegistry()
    reg.add(compose.Space(urls["calculator"]).endpoint("/calculate"), name="calculate")
    reg.add(compose.Space(urls["translator"]).endpoint("/translate"), name="translate")
    reg.add(compose.Space(urls["streaming"]).endpoint("/long_job"), name="long_job")
    reg.add(compose.Space(urls["streaming"]).endpoint("/count_up"), name="count_up")
    return reg


def run(agent: Any, task: str = "task") -> list[list[Any]]:
    return list(compose.stream_trace(agent, task))


def titled(messages: list[Any], text: str) -> list[Any]:
    return [m for m in messages if text in (m.metadata or {}).get("title", "")]


def test_a_tool_call_goes_pending_then_done_with_its_measured_duration(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([[("long_job", {"seconds": 1.5})], [("final_answer", {"answer": "ok"})]])
    snapshots = run(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0))
    states = [[(m.metadata or {}).get("status") for m in titled(s, "Used tool long_job")] for s in snapshots]
    seen = [s[0] for s in states if s]
    assert seen[0] == "pending" and seen[-1] == "done"
    first_pending = next(s for s in snapshots if titled(s, "Used tool long_job"))
    final = titled(snapshots[-1], "Used tool long_job")[0]
    # One message kept its id from pending to done; the duration covers the upstream's 1.5 s of work.
    assert titled(first_pending, "long_job")[0].metadata["id"] == final.metadata["id"]
    assert final.metadata["duration"] >= 1.5
    assert "on http://127.0.0.1" in final.metadata["title"]  # says which Space it ran on


def test_progress_of_the_space_shows_in_the_log_while_it_runs(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([[("long_job", {"seconds": 1.0})], [("final_answer", {"answer": "ok"})]])
    snapshots = run(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0))
    logs = [titled(s, "long_job")[0].metadata.get("log", "") for s in snapshots if titled(s, "long_job")]
    assert any("Working" in log and "steps" in log for log in logs), logs
    assert any("%" in log for log in logs)


def test_two_tool_calls_in_one_step_each_get_their_own_message(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([
        [("calculate", {"a": 12, "operation": "multiply", "b": 7}),
         ("translate", {"text": "good morning", "target_language": "French"})],
        [("final_answer", {"answer": "84, bonjour"})],
    ])
    final = run(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0))[-1]
    calc, tr = titled(final, "Used tool calculate"), titled(final, "Used tool translate")
    assert len(calc) == 1 and len(tr) == 1
    assert calc[0].metadata["id"] != tr[0].metadata["id"]
    assert all(m.metadata["status"] == "done" for m in calc + tr)
    assert final[-1].content == "84, bonjour" and not final[-1].metadata  # the answer: a plain message


def test_calls_inside_code_nest_under_the_code_step(registry: compose.ToolRegistry) -> None:
    code = ("<code>\nx = calculate(a=6, operation='multiply', b=7)\n"
            "y = translate(text='thank you', target_language='German')\nfinal_answer(f'{x} {y}')\n</code>")
    model = ScriptedModel(["Thought: use both tools.\n" + code])
    final = run(CodeAgent(tools=registry.tools(), model=model, verbosity_level=0))[-1]
    code_step = titled(final, "Running code")[0]
    children = titled(final, "Used tool")
    assert {c.metadata["parent_id"] for c in children} == {code_step.metadata["id"]}
    assert len(children) == 2
    value, word = final[-1].content.split()
    assert float(value) == 42 and word == "danke"


def test_a_failing_tool_reads_error_using_tool(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([[("calculate", {"a": 1, "operation": "divide", "b": 0})],
                           [("final_answer", {"answer": "cannot"})]])
    final = run(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0))[-1]
    failed = titled(final, "💥 Error using tool calculate")
    assert len(failed) == 1
    assert "Cannot divide by zero." in failed[0].content
    # The title names the tool, the duration is measured, no stale progress; no status: gradio shows it open.
    assert failed[0].metadata["title"] == "💥 Error using tool calculate"
    assert failed[0].metadata["duration"] > 0 and "log" not in failed[0].metadata
    assert "status" not in failed[0].metadata
    assert final[-1].content == "cannot"


def test_each_of_two_failed_steps_shows_its_own_error_and_a_failed_call_only_once(registry: compose.ToolRegistry
                                                                                   ) -> None:
    model = ScriptedModel([[("calculate", {"a": 1, "operation": "divide", "b": 0})],  # fails in the Space
                           [("calculate", {"a": 1, "operator": "add", "b": 2})],  # a wrong argument name
                           [("translate", {"txt": "hello"})],  # another one, right after
                           [("final_answer", {"answer": "gave up"})]])
    final = run(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0))[-1]
    assert len(titled(final, "💥 Error using tool calculate")) == 1  # the Space's error, on its call
    steps = titled(final, "💥 Error in step")
    assert len(steps) == 2 and "operator" in steps[0].content and "txt" in steps[1].content
    assert not any("Cannot divide by zero." in m.content for m in steps)  # not shown a second time


def test_a_finished_call_shows_its_result(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([[("calculate", {"a": 12, "operation": "multiply", "b": 7})],
                           [("final_answer", {"answer": "84"})]])
    final = run(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0))[-1]
    done = titled(final, "Used tool calculate")[0]
    assert "**Result:** 84" in done.content and 'operation = "multiply"' in done.content


def test_a_streaming_tool_shows_its_output_so_far_while_it_runs(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([[("count_up", {"n": 4, "delay": 0.3})], [("final_answer", {"answer": "1 2 3 4"})]])
    snapshots = run(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0))
    calls = [titled(s, "Used tool count_up")[0] for s in snapshots if titled(s, "Used tool count_up")]
    pending = [c.content for c in calls if c.metadata["status"] == "pending"]
    assert any("**Output so far:** 1 2" in c for c in pending), pending
    assert "**Result:** 1 2 3 4" in titled(snapshots[-1], "Used tool count_up")[0].content


def test_stop_marks_pending_calls_cancelled_with_their_duration(registry: compose.ToolRegistry,
                                                                urls: dict[str, str]) -> None:
    marker = 13.25
    model = ScriptedModel([[("long_job", {"seconds": marker})], [("final_answer", {"answer": "late"})]])
    state = compose.agent.trace.TraceState()
    trace = compose.stream_trace(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0), "go",
                                 state=state)
    for messages in trace:
        if titled(messages, "long_job") and "Working" in titled(messages, "long_job")[0].metadata.get("log", ""):
            break
    trace.close()
    stopped = state.stop()
    cancelled = titled(stopped, "⏹️ Cancelled: tool long_job")
    assert len(cancelled) == 1
    assert cancelled[0].metadata["status"] == "done" and cancelled[0].metadata["duration"] > 0
    assert "log" not in cancelled[0].metadata  # no frozen progress
    assert stopped[-1].content == "⏹️ Stopped."
    assert wait_for_state(compose.Space(urls["streaming"]), marker, "cancelled", limit=15) == "cancelled"


def test_closing_the_trace_stops_the_agent_and_cancels_the_upstream_job(registry: compose.ToolRegistry,
                                                                        urls: dict[str, str]) -> None:
    marker = 12.75
    model = ScriptedModel([[("long_job", {"seconds": marker})], [("final_answer", {"answer": "late"})]])
    trace = compose.stream_trace(ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=0), "go")
    job_log = compose.Space(urls["streaming"]).endpoint("/job_log")
    for messages in trace:
        if titled(messages, "long_job") and any(j["seconds"] == marker and j["state"] == "running"
                                                 for j in job_log.predict()):
            break
    trace.close()
    assert wait_for_state(compose.Space(urls["streaming"]), marker, "cancelled", limit=15) == "cancelled"
