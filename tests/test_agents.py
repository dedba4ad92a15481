"""Spaces as smolagents tools: real agents (scripted model) over the spaces/ apps, per-user identity inside an outer
Gradio app, errors the agent can read, timeouts, concurrency limits, the registry, OpenAI schemas and to_dict."""

from __future__ import annotations

import ast
import time
import uuid
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import jsonschema
import numpy as np
import pytest
from gradio_client import Client
from jobs import wait_for_state
from outer import serve
from PIL import Image
from scripted import ScriptedModel
from smolagents import CodeAgent, Tool, ToolCallingAgent
from smolagents.agent_types import AgentImage
from smolagents.memory import ActionStep
from smolagents.monitoring import LogLevel
from smolagents.utils import AgentToolCallError, AgentToolExecutionError

import compose
from compose.agent.agents import bind_run
from compose.agent.tools import SpaceTool

QUIET = LogLevel.OFF


@pytest.fixture(scope="module")
def spaces(urls: dict[str, str]) -> dict[str, compose.Space]:
    return {name: compose.Space(url) for name, url in urls.items()}


@pytest.fixture(scope="module")
def registry(spaces: dict[str, compose.Space]) -> compose.ToolRegistry:
    registry = compose.ToolRegistry()
    for name in ("calculator", "translator", "diagnostics"):
        registry.add(spaces[name])
    return registry


def code(source: str) -> str:
    """A CodeAgent reply: one code block."""
    return f"<code>\n{source}\n</code>"


def action_steps(agent: Any) -> list[ActionStep]:
    return [s for s in agent.memory.steps if isinstance(s, ActionStep)]


def unique_seconds(base: float) -> float:
    """A `seconds` value no other long_job in this session uses, so job_log entries can be told apart."""
    return base + (uuid.uuid4().int % 9000 + 1000) / 1e7


# --- two tools across two Spaces -----------------------------------------------------------------------------------


def test_tool_calling_agent_solves_a_task_across_two_spaces(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([
        [("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7})],
        [("translator_translate", {"text": "good morning", "target_language": "French"})],
        [("final_answer", {"answer": "84, bonjour"})],
    ])
    agent = ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=QUIET)
    assert agent.run("What is 12×7, and 'good morning' in French?") == "84, bonjour"

    calc, translate, _ = action_steps(agent)
    assert [c.name for c in calc.tool_calls or []] == ["calculator_calculate"]
    assert calc.error is None and str(calc.observations).strip() == "84"
    assert [c.name for c in translate.tool_calls or []] == ["translator_translate"]
    assert translate.error is None and str(translate.observations).strip() == "bonjour"
    # The model was shown both real results before it answered.
    shown = str(model.seen[-1])
    assert "84" in shown and "bonjour" in shown


def test_code_agent_solves_a_task_across_two_spaces(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([
        code("product = calculator_calculate(a=12, operation='multiply', b=7)\nprint(product)"),
        code("french = translator_translate(text='good morning', target_language='French')\nprint(french)"),
        code("final_answer(f'{product:g}, {french}')"),
    ])
    agent = CodeAgent(tools=registry.tools(), model=model, verbosity_level=QUIET)
    assert agent.run("What is 12×7, and 'good morning' in French?") == "84, bonjour"

    calc, translate, _ = action_steps(agent)
    assert calc.error is None and str(calc.observations).startswith("Execution logs:\n84\n")
    assert translate.error is None and str(translate.observations).startswith("Execution logs:\nbonjour\n")


# --- output shapes -------------------------------------------------------------------------------------------------


def test_outputs_of_arity_zero_one_and_three(registry: compose.ToolRegistry) -> None:
    ping, translate, stats = (registry.tool(n) for n in ("diagnostics_ping", "translator_translate",
                                                          "calculator_stats"))
    assert (ping.output_type, translate.output_type, stats.output_type) == ("null", "string", "object")
    assert ping() is None
    assert translate(text="thank you", target_language="German") == "danke"
    assert stats(numbers="4, 8, 3") == {"Sum": 15.0, "Mean": 5.0, "Max": 8.0}

    # The same shapes as an agent sees them in its memory.
    model = ScriptedModel([
        [("diagnostics_ping", {})],
        [("calculator_stats", {"numbers": "4, 8, 3"})],
        [("final_answer", {"answer": "ok"})],
    ])
    agent = ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=QUIET)
    assert agent.run("ping, then stats") == "ok"
    ping_step, stats_step, _ = action_steps(agent)
    assert ping_step.error is None and str(ping_step.observations).strip() == "None"
    assert ast.literal_eval(str(stats_step.observations).strip()) == {"Sum": 15.0, "Mean": 5.0, "Max": 8.0}


def test_image_output_is_an_agent_image(spaces: dict[str, compose.Space], tmp_path: Path) -> None:
    Image.new("RGB", (3, 2), (255, 0, 0)).save(tmp_path / "red.png")
    invert = SpaceTool(spaces["media"].endpoint("/invert"), roots=(tmp_path,))
    assert invert.inputs["image"]["type"] == "any"  # what a model types (a path, a URL) or an image the agent holds

    result = invert(image=str(tmp_path / "red.png"))
    assert set(result) == {"Inverted", "Size"}
    assert result["Size"] == "3x2"
    image = result["Inverted"]
    assert isinstance(image, AgentImage)
    assert image.to_raw().size == (3, 2)
    r, g, b = image.to_raw().convert("RGB").getpixel((1, 1))
    assert r < 30 and g > 225 and b > 225  # red inverted is cyan


def test_a_tool_calling_agent_sends_an_image_by_its_path_and_one_it_holds_by_name(spaces: dict[str, compose.Space],
                                                                                   tmp_path: Path) -> None:
    Image.new("RGB", (3, 2), (255, 0, 0)).save(tmp_path / "red.png")
    Image.new("RGB", (5, 4), (0, 0, 255)).save(tmp_path / "blue.png")
    invert = SpaceTool(spaces["media"].endpoint("/invert"), name="invert", roots=(tmp_path,))
    model = ScriptedModel([
        [("invert", {"image": str(tmp_path / "red.png")})],  # a path, as a model types it
        [("invert", {"image": "held.png"})],  # an image the agent holds (smolagents' state), by its name
        [("final_answer", {"answer": "ok"})],
    ])
    agent = ToolCallingAgent(tools=[invert], model=model, verbosity_level=QUIET)
    assert agent.run("invert both", additional_args={"held.png": AgentImage(str(tmp_path / "blue.png"))}) == "ok"
    by_path, by_name, _ = action_steps(agent)
    assert by_path.error is None and "3x2" in str(by_path.observations)
    assert by_name.error is None and "5x4" in str(by_name.observations)


def test_an_audio_result_reaches_a_tool_calling_agent(make_space: Any) -> None:
    # A tone generator shaped like gradio's demo/generate_tone. smolagents' AgentAudio needs its `audio` extra
    # (soundfile and torch), which compose does not depend on: without it the result is the file's path.
    def tone(seconds: float) -> tuple[int, Any]:
        return 8000, (np.sin(np.linspace(0, 440 * seconds, int(8000 * seconds))) * 2**14).astype(np.int16)

    with serve(gr.Interface(tone, gr.Number(label="seconds"), gr.Audio(label="tone"), api_name="tone")) as url:
        tool = SpaceTool(make_space(url).endpoint("/tone"), name="tone")
        model = ScriptedModel([[("tone", {"seconds": 0.25})], [("final_answer", {"answer": "done"})]])
        agent = ToolCallingAgent(tools=[tool], model=model, verbosity_level=QUIET)
        assert agent.run("make a tone") == "done"
        step, _ = action_steps(agent)
        assert step.error is None
        got = tool(seconds=0.5)
    with wave.open(str(got)) as audio:
        assert audio.getnframes() / audio.getframerate() == 0.5


def test_a_list_of_files_is_sent_as_files_and_vetted_each(make_space: Any, tmp_path: Path) -> None:
    # Shaped like gradio's demo/zip_files: gr.File(file_count="multiple") in, one file out.
    def sizes(files: list[str]) -> str:
        return ", ".join(f"{Path(f).name}={Path(f).stat().st_size}" for f in files)

    (tmp_path / "a.txt").write_text("four")
    (tmp_path / "b.txt").write_text("sixsix")
    with serve(gr.Interface(sizes, gr.File(file_count="multiple", label="files"), "text", api_name="sizes")) as url:
        registry = compose.ToolRegistry()
        (name,) = registry.add(make_space(url))
        tool = SpaceTool(registry.endpoint(name), roots=(tmp_path,))
        files = registry.openai_tools(strict=True)[0]["function"]["parameters"]["properties"]["files"]
        assert files["items"] == {"type": "string"} and "each a public http(s) URL" in files["description"]
        # As a model writes them: the paths, as strings.
        assert tool(files=[str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]) == "a.txt=4, b.txt=6"
        with pytest.raises(compose.UnsafeInput):
            tool(files=[str(tmp_path / "a.txt"), "/etc/passwd"])


def test_a_multimodal_messages_files_are_sent_as_files_and_vetted_each(make_space: Any, tmp_path: Path) -> None:
    # Shaped like gradio's demo/chatinterface_multimodal: a MultimodalTextbox's {text, files}.
    def describe(message: dict[str, Any]) -> str:
        return f"{message['text']}: " + ", ".join(Path(f).name for f in message["files"])

    (tmp_path / "notes.txt").write_text("hi")
    with serve(gr.Interface(describe, gr.MultimodalTextbox(label="message"), "text", api_name="describe")) as url:
        registry = compose.ToolRegistry()
        (name,) = registry.add(make_space(url))
        tool = SpaceTool(registry.endpoint(name), roots=(tmp_path,))
        message = registry.openai_tools(strict=True)[0]["function"]["parameters"]["properties"]["message"]
        assert message["properties"]["files"]["items"] == {"type": "string"}
        assert tool(message={"text": "look", "files": [str(tmp_path / "notes.txt")]}) == "look: notes.txt"
        with pytest.raises(compose.UnsafeInput):
            tool(message={"text": "look", "files": ["/etc/passwd"]})


def test_choices_shown_by_label_tell_the_model_which_value_is_which(make_space: Any) -> None:
    # A Dropdown of (label, value) pairs: the page shows "Large", the Space takes 3. A model asked for a large one
    # must be able to tell.
    def order(size: int, toppings: list[str]) -> str:
        return f"size {size} with {', '.join(toppings)}"

    inputs = [gr.Dropdown([("Small", 1), ("Medium", 2), ("Large", 3)], label="size"),
              gr.CheckboxGroup([("Cheese", "c"), ("Ham", "h")], label="toppings")]
    with serve(gr.Interface(order, inputs, "text", api_name="order")) as url:
        registry = compose.ToolRegistry()
        (name,) = registry.add(make_space(url))
        tool = registry.tool(name)
        described = registry.openai_tools()[0]["function"]["parameters"]["properties"]
        for text in (tool.inputs["size"]["description"], described["size"]["description"]):
            assert '"Large" is 3' in text and '"Small" is 1' in text
        assert '"Ham" is "h"' in described["toppings"]["description"]
        assert tool(size=3, toppings=["h"]) == "size 3 with h"


# --- per-user identity inside an outer Gradio app ------------------------------------------------------------------

RUNS = 3  # each user's agent keeps its scripted model; enough replies for this many runs
CALLING_SCRIPT: list[Any] = [[("diagnostics_whoami", {})], [("diagnostics_increment", {})],
                             [("final_answer", {"answer": "done"})]]
CODE_SCRIPT = [
    code("who = diagnostics_whoami()\nprint(who)"),
    code("count = diagnostics_increment()\nprint(count)"),
    code("final_answer({'token': who['x-ip-token'], 'session': who['Session'], 'count': count})"),
]


def _steps(agent: Any) -> list[dict[str, Any]]:
    return [{"tools": [c.name for c in s.tool_calls or []], "observations": s.observations,
             "error": str(s.error) if s.error else None} for s in action_steps(agent)]


@pytest.fixture(scope="module")
def outer_url(urls: dict[str, str]) -> Iterator[str]:
    registry = compose.ToolRegistry()
    # A loopback stand-in for a Space: it gets the visitor's x-ip-token only when listed explicitly.
    registry.add(compose.Space(urls["diagnostics"], forward_headers=("x-ip-token",)))
    calling = compose.UserAgents(lambda: ToolCallingAgent(
        tools=registry.tools(), model=ScriptedModel(CALLING_SCRIPT * RUNS), verbosity_level=QUIET))
    coding = compose.UserAgents(lambda: CodeAgent(
        tools=registry.tools(), model=ScriptedModel(CODE_SCRIPT * RUNS), verbosity_level=QUIET))
    unbound = compose.UserAgents(lambda: CodeAgent(
        tools=registry.tools(), model=ScriptedModel(CODE_SCRIPT * RUNS), verbosity_level=QUIET))

    def tool_calling(task: str, request: gr.Request) -> list[dict[str, Any]]:
        agent = calling.get(request)
        with bind_run(agent):
            agent.run(task)
        return _steps(agent)

    def code_agent(task: str, request: gr.Request) -> Any:
        agent = coding.get(request)
        with bind_run(agent):
            return agent.run(task)

    def code_agent_unbound(task: str, request: gr.Request) -> Any:
        return unbound.get(request).run(task)  # no bind_run: the code thread does not know the user

    with gr.Blocks() as demo:
        task, out = gr.Textbox(), gr.JSON()
        gr.Button("tool calling").click(tool_calling, task, out, api_name="tool_calling")
        gr.Button("code").click(code_agent, task, out, api_name="code")
        gr.Button("code unbound").click(code_agent_unbound, task, out, api_name="code_unbound")
    with serve(demo) as url:
        yield url


def _users(url: str) -> tuple[Client, Client, str, str]:
    tokens = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    alice, bob = (Client(url, headers={"x-ip-token": t}, verbose=False) for t in tokens)
    return alice, bob, *tokens


def test_agent_in_outer_app_acts_for_each_user(outer_url: str) -> None:
    """Two users with different tokens trigger a ToolCallingAgent inside an outer app: the diagnostics Space sees each
    user's own token and upstream session, and each user's counter counts on its own."""
    alice, bob, alice_token, bob_token = _users(outer_url)

    def run(client: Client) -> tuple[dict[str, str], int]:
        who, inc, _ = client.predict("who am I? then count", api_name="/tool_calling")
        assert who["tools"] == ["diagnostics_whoami"] and who["error"] is None
        assert inc["tools"] == ["diagnostics_increment"] and inc["error"] is None
        return ast.literal_eval(who["observations"].strip()), int(inc["observations"].strip())

    with ThreadPoolExecutor(2) as pool:  # both users at once
        first_alice, first_bob = pool.map(run, (alice, bob))
    second_alice = run(alice)

    assert first_alice[0]["x-ip-token"] == alice_token and first_bob[0]["x-ip-token"] == bob_token
    assert second_alice[0]["x-ip-token"] == alice_token
    assert first_alice[0]["Session"] == second_alice[0]["Session"] != first_bob[0]["Session"]
    assert (first_alice[1], second_alice[1], first_bob[1]) == (1, 2, 1)


def test_code_agent_in_outer_app_carries_the_user_under_bind_run(outer_url: str) -> None:
    """smolagents' CodeAgent runs its code in a thread of its own that does not inherit the caller's context:
    bind_run makes the tools act for the user anyway. Without it both users reach the upstream as nobody."""
    alice, bob, alice_token, bob_token = _users(outer_url)

    with ThreadPoolExecutor(2) as pool:
        a1, b1 = pool.map(lambda c: c.predict("who am I? then count", api_name="/code"), (alice, bob))
    a2 = alice.predict("again", api_name="/code")
    assert (a1["token"], a2["token"], b1["token"]) == (alice_token, alice_token, bob_token)
    assert a1["session"] == a2["session"] != b1["session"]
    assert (a1["count"], a2["count"], b1["count"]) == (1, 2, 1)

    # The control: the same agent code without bind_run loses the user in the code thread.
    ua = alice.predict("who am I?", api_name="/code_unbound")
    ub = bob.predict("who am I?", api_name="/code_unbound")
    assert ua["token"] == ub["token"] == ""
    assert ua["session"] == ub["session"]  # both users land in one upstream session


# --- errors the agent can read -------------------------------------------------------------------------------------


def test_unknown_and_mistyped_arguments_are_errors_the_agent_reads(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([
        [("calculator_calculate", {"a": 12, "colour": "red", "b": 7})],
        [("calculator_calculate", {"a": "twelve", "operation": "multiply", "b": 7})],
        [("calculator_calculate", {"a": 12, "operation": "modulo", "b": 7})],
        [("final_answer", {"answer": "gave up"})],
    ])
    agent = ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=QUIET)
    assert agent.run("compute") == "gave up"
    unknown, mistyped, bad_choice, _ = action_steps(agent)
    assert isinstance(unknown.error, AgentToolCallError) and "colour" in str(unknown.error)
    assert isinstance(mistyped.error, AgentToolCallError)
    assert "Argument a" in str(mistyped.error) and "number" in str(mistyped.error)
    assert isinstance(bad_choice.error, AgentToolExecutionError)
    assert "operation" in str(bad_choice.error) and "'add', 'subtract', 'multiply', 'divide'" in str(bad_choice.error)
    # Each error was in front of the model at its next step.
    assert "colour" in str(model.seen[1]) and "modulo" in str(model.seen[3])

    # In a CodeAgent the tool is called as a function: compose's own message names the parameters it takes.
    model = ScriptedModel([code("calculator_calculate(a=12, colour='red', b=7)"), code("final_answer('gave up')")])
    agent = CodeAgent(tools=registry.tools(), model=model, verbosity_level=QUIET)
    assert agent.run("compute") == "gave up"
    failed = action_steps(agent)[0]
    assert failed.error is not None
    assert "unknown parameter 'colour'" in str(failed.error) and "parameters are: a, operation, b" in str(failed.error)


def test_remote_gr_error_is_a_tool_error_and_the_agent_goes_on(registry: compose.ToolRegistry) -> None:
    model = ScriptedModel([
        [("calculator_calculate", {"a": 1, "operation": "divide", "b": 0})],
        [("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7})],
        [("final_answer", {"answer": "84"})],
    ])
    agent = ToolCallingAgent(tools=registry.tools(), model=model, verbosity_level=QUIET)
    assert agent.run("divide, then multiply") == "84"
    failed, recovered, _ = action_steps(agent)
    assert isinstance(failed.error, AgentToolExecutionError)
    assert "Cannot divide by zero." in str(failed.error)
    assert recovered.error is None and str(recovered.observations).strip() == "84"
    assert "Cannot divide by zero." in str(model.seen[1])

    with pytest.raises(compose.AppError) as raised:  # called directly: the remote's own error and title
        registry.tool("calculator_calculate")(a=1, operation="divide", b=0)
    assert (raised.value.message, raised.value.title) == ("Cannot divide by zero.", "Math error")


# --- timeout and concurrency ---------------------------------------------------------------------------------------


def _jobs(log: compose.Endpoint, seconds: tuple[float, ...]) -> dict[float, str]:
    return {job["seconds"]: job["state"] for job in log.predict() if job["seconds"] in seconds}


def test_tool_timeout_cancels_the_upstream_job(spaces: dict[str, compose.Space]) -> None:
    streaming = spaces["streaming"]
    seconds = unique_seconds(5)
    tool = SpaceTool(streaming.endpoint("/long_job"), timeout=0.5)

    started = time.monotonic()
    with pytest.raises(compose.ComposeError, match=r"no result within 0\.5 s; the call was cancelled"):
        tool(seconds=seconds)
    assert time.monotonic() - started < 4  # the tool gave up; it did not wait for the 5 s job

    assert wait_for_state(streaming, seconds, "cancelled", limit=15) == "cancelled"


@pytest.mark.parametrize("limit", [1, 2])
def test_max_concurrency_limits_calls_in_flight(spaces: dict[str, compose.Space], limit: int) -> None:
    """Two threads each run a 1 s job through tools of one endpoint: with max_concurrency=1 the upstream never has
    both running (it sees one finish before the other starts); with 2 it has both at once (the control)."""
    streaming = spaces["streaming"]
    log = streaming.endpoint("/job_log")
    ours = (unique_seconds(1), unique_seconds(1))
    tools = [SpaceTool(streaming.endpoint("/long_job"), max_concurrency=limit) for _ in ours]

    most_running, snapshots = 0, 0
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(t, seconds=s) for t, s in zip(tools, ours, strict=True)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = _jobs(log, ours)
            snapshots += 1
            most_running = max(most_running, sum(state == "running" for state in states.values()))
            if len(states) == 2 and all(state == "finished" for state in states.values()):
                break
        results = [f.result(timeout=20) for f in futures]
    assert results == [f"worked {s} s" for s in ours]
    assert _jobs(log, ours) == dict.fromkeys(ours, "finished")
    assert snapshots > 2
    assert most_running == limit


# --- the registry --------------------------------------------------------------------------------------------------


def test_registry_gives_unique_names_on_collision(spaces: dict[str, compose.Space]) -> None:
    registry = compose.ToolRegistry()
    ep = spaces["translator"].endpoint("/translate")
    assert registry.add(ep) == ["translator_translate"]
    assert registry.add(ep) == ["translator_translate_2"]
    assert registry.add(ep, name="translate") == ["translate"]
    assert registry.names() == ["translator_translate", "translator_translate_2", "translate"]
    assert [t.name for t in registry.tools()] == registry.names()
    assert all(t(text="good night") == "bonne nuit" for t in registry.tools())


async def test_registry_calls_only_registered_tools(spaces: dict[str, compose.Space]) -> None:
    registry = compose.ToolRegistry()
    registry.add(spaces["calculator"].endpoint("/calculate"))
    assert await registry.call("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7}) == 84
    with pytest.raises(compose.ConfigError, match="registered tools: calculator_calculate"):
        await registry.call("unknown", {})
    with pytest.raises(compose.ConfigError):  # the same Space's other endpoint was not registered
        await registry.call("calculator_stats", {"numbers": "1"})


@pytest.mark.parametrize("smuggled", [{"session_hash": "someone-else"}, {"fn_index": 0}, {"event_data": {}}])
async def test_registry_refuses_protocol_fields_before_any_traffic(spaces: dict[str, compose.Space],
                                                                    smuggled: dict[str, Any]) -> None:
    registry = compose.ToolRegistry()
    registry.add(spaces["diagnostics"].endpoint("/increment"))
    async with compose.identity(session=f"refused-{uuid.uuid4().hex}"):
        with pytest.raises(compose.InvalidArguments, match="unknown argument"):
            await registry.call("diagnostics_increment", smuggled)
        # The refused call never reached the Space: this user's counter starts at 1.
        assert await registry.call("diagnostics_increment", {}) == 1


def test_tools_are_fresh_instances_each_time(registry: compose.ToolRegistry) -> None:
    first, second = registry.tools(), registry.tools()
    assert [t.name for t in first] == [t.name for t in second] == registry.names()
    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert all(isinstance(t, Tool) for t in first)

    # Binding one user's agent run writes on no tool object: the run gets copies that carry its context.
    agent = ToolCallingAgent(tools=first, model=ScriptedModel([]), verbosity_level=QUIET)
    with compose.identity(session="someone"), bind_run(agent):
        during = list(agent.tools.values())
        assert all(t._context is not None for t in during if t.name != "final_answer")
        assert all(t._context is None for t in (*first, *second))
    assert all(agent.tools[t.name] is t for t in first)  # the run over, the agent has its own tools back


# --- OpenAI schemas and to_dict ------------------------------------------------------------------------------------

_EXAMPLES = {"string": "good morning", "number": 1.5, "integer": 2, "boolean": True, "array": [], "object": {}}


def _sample(parameters: dict[str, Any]) -> dict[str, Any]:
    """An argument object a model could send: every property, with a value of its (non-null) type or first choice."""
    sample = {}
    for key, prop in parameters["properties"].items():
        if "enum" in prop:
            sample[key] = prop["enum"][0]
        else:
            kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
            sample[key] = _EXAMPLES[next(k for k in kinds if k != "null")]
    return sample


def test_openai_tools_are_valid_json_schema(registry: compose.ToolRegistry) -> None:
    entries = registry.openai_tools()
    assert [e["function"]["name"] for e in entries] == [t.name for t in registry.tools()]
    for entry in entries:
        assert entry["type"] == "function"
        assert set(entry["function"]) == {"name", "description", "parameters"}
        assert entry["function"]["description"]
        parameters = entry["function"]["parameters"]
        jsonschema.Draft202012Validator.check_schema(parameters)
        jsonschema.validate(_sample(parameters), parameters, cls=jsonschema.Draft202012Validator)

    calculate = next(e["function"]["parameters"] for e in entries if e["function"]["name"] == "calculator_calculate")
    assert set(calculate["properties"]) == {"a", "operation", "b"}
    jsonschema.validate({"a": 12, "operation": "multiply", "b": 7}, calculate)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": 12, "operation": "modulo", "b": 7}, calculate)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"a": 12, "colour": "red"}, calculate)


@pytest.mark.parametrize(("name", "arguments", "expected"), [
    ("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7}, 84),
    ("calculator_stats", {"numbers": "1, 2, 6"}, {"Sum": 9.0, "Mean": 3.0, "Max": 6.0}),
])
def test_to_dict_rebuilds_a_working_tool(registry: compose.ToolRegistry, name: str, arguments: dict[str, Any],
                                         expected: Any) -> None:
    tool = registry.tool(name)
    data = tool.to_dict()
    assert data["name"] == name
    rebuilt = Tool.from_dict(data)
    assert rebuilt is not tool and not isinstance(rebuilt, SpaceTool)
    assert (rebuilt.name, rebuilt.inputs, rebuilt.output_type) == (tool.name, tool.inputs, tool.output_type)
    assert rebuilt(**arguments) == expected

    # The code alone is enough: exec it in a fresh namespace and instantiate the class it defines.
    namespace: dict[str, Any] = {}
    exec(data["code"], namespace)
    cls = next(v for v in namespace.values() if isinstance(v, type) and issubclass(v, Tool) and v is not Tool)
    assert cls()(**arguments) == expected



def test_a_tools_inputs_carry_choices_as_structure_and_read_as_sentences(calculator: compose.Space) -> None:
    # What a program needs (the router, a schema) is structure, never parsed back from the description; what a
    # model reads is sentences, not "desc; one of: …; default 12".
    from compose.apps.models.router import input_choices

    tool = calculator.endpoint("/calculate").tool()
    operation = tool.inputs["operation"]
    assert operation["enum"] == ["add", "subtract", "multiply", "divide"]
    assert 'One of "add", "subtract", "multiply", "divide".' in operation["description"]
    assert "; " not in operation["description"] and "one of:" not in operation["description"]
    assert input_choices(tool, "operation") == ["add", "subtract", "multiply", "divide"]
    # The description alone names no choices a program could find.
    described_only = type("T", (), {"inputs": {"operation": {"type": "string",
                                                             "description": operation["description"]}}})()
    assert input_choices(described_only, "operation") is None
