"""Arguments as models write them, through every agent surface: `ep.predict`, `ep.tool()` in smolagents agents, the
OpenAI schemas with `registry.call`, and the MCP server driven by the `mcp` SDK and smolagents' MCP client.

One remote app with typical Space signatures; each test compares with what the app does called directly, and
asks for the value the app should have received, or a refusal that names the parameter and says what to fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import gradio as gr
import jsonschema
import pandas as pd
import pytest
from gradio_client import Client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from outer import serve, served_mcp
from scripted import ScriptedModel
from smolagents import CodeAgent, ToolCallingAgent
from strict import strict_problems

import compose

pytestmark = pytest.mark.timeout(30, func_only=True)

VOICES = [f"voice-{n:04d}" for n in range(1200)]  # a Space's long list of voices or models


def tables(table: pd.DataFrame) -> str:
    """Sum each row of a table."""
    return json.dumps({"columns": [str(c) for c in table.columns], "sums": [float(sum(r)) for r in table.values]})


def measure(x: float, data: Any = None) -> str:
    """Echo a number and a JSON value."""
    return json.dumps({"x": x, "data": data})


def greet(name: str, times: int = 1, size: int = 2, style: str = "plain", note: str | None = None,
          ratio: float = 0.5) -> str:
    """Greet someone."""
    return json.dumps({"name": name, "times": times, "size": size, "style": style, "note": note, "ratio": ratio})


def speak(voice: str, when: str) -> str:
    """Say the time in a voice."""
    return f"{voice} at {when}"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with gr.Blocks() as demo:
        table, out = gr.Dataframe(headers=["a", "b"], type="pandas", label="table"), gr.Textbox()
        gr.Button().click(tables, table, out, api_name="tables")
        x, data = gr.Number(label="x"), gr.JSON(label="data")
        gr.Button().click(measure, [x, data], out, api_name="measure")
        ins = [gr.Textbox(label="name"), gr.Slider(1, 5, step=1, value=1, label="times"),
               gr.Radio([1, 2, 3], value=2, label="size"),
               gr.Dropdown(["plain", "fancy"], value="plain", allow_custom_value=True, label="style"),
               gr.Textbox(None, label="note"), gr.Slider(0, 1, value=0.5, label="ratio")]
        gr.Button().click(greet, ins, out, api_name="greet")
        gr.Button().click(speak, [gr.Dropdown(VOICES, label="voice"), gr.DateTime(label="when")], out,
                          api_name="speak")
    with serve(demo) as served:
        yield served


@pytest.fixture(scope="module")
def space(url: str) -> compose.Space:
    return compose.Space(url)


# --- tables ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", [
    [[1, 2], [3, 4]],
    [{"a": 1, "b": 2}, {"a": 3, "b": 4}],  # records: what models often write; they were sent as the row ["a", "b"]
    {"data": [[1, 2], [3, 4]]},  # the object form without headers: the component's are used
    {"headers": ["a", "b"], "data": [[1, 2], [3, 4]]},
    pd.DataFrame({"a": [1, 3], "b": [2, 4]}),
], ids=["rows", "records", "data-only", "object", "pandas"])
def test_a_table_in_each_form_a_model_writes_reaches_the_app_as_that_table(space: compose.Space, table: Any) -> None:
    got = json.loads(space.endpoint("/tables").predict(table))
    assert got == {"columns": ["a", "b"], "sums": [3.0, 7.0]}


def test_a_row_of_the_wrong_width_is_refused_naming_the_columns(space: compose.Space) -> None:
    with pytest.raises(compose.InvalidArguments) as caught:
        space.endpoint("/tables").predict([[1, 2], [3, 4, 5]])
    assert caught.value.parameter == "table"
    assert "row 2 has 3 value(s) but the table has 2 column(s) (a, b)" in str(caught.value)


def test_a_tool_calling_agent_may_pass_a_table_as_rows_or_records(space: compose.Space) -> None:
    tool = space.endpoint("/tables").tool(name="tables")
    model = ScriptedModel([[("tables", {"table": [[1, 2], [3, 4]]})], [("tables", {"table": [{"a": 5, "b": 5}]})],
                           [("final_answer", {"answer": "done"})]])
    agent = ToolCallingAgent(tools=[tool], model=model, verbosity_level=-1)
    agent.run("sum the rows")
    observations = [str(step.observations) for step in agent.memory.steps if getattr(step, "observations", None)]
    assert any('"sums": [3.0, 7.0]' in o for o in observations), observations
    assert any('"sums": [10.0]' in o for o in observations), observations


# --- numbers ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [{"x": math.nan}, {"x": math.inf}, {"x": 1, "data": {"v": [1, math.nan]}}],
                         ids=["nan", "inf", "nested-nan"])
def test_nan_and_infinity_are_refused_not_sent_as_null(space: compose.Space, args: dict[str, Any]) -> None:
    # gradio_client refuses them too ("Out of range float values are not JSON compliant"); compose sent null.
    with pytest.raises(compose.InvalidArguments, match="must be a finite number") as caught:
        space.endpoint("/measure").predict(**args)
    assert caught.value.parameter == (next(iter(args)) if len(args) == 1 else "data")


def test_a_missing_pandas_cell_is_not_refused_it_goes_as_null_as_gradios_page_sends_it(space: compose.Space
                                                                                          ) -> None:
    frame = pd.DataFrame({"a": [1.0, math.nan], "b": [2.0, 4.0]})
    sums = json.loads(space.endpoint("/tables").predict(frame))["sums"]
    assert sums[0] == 3.0 and math.isnan(sums[1])  # the app's own DataFrame has the cell missing again


def test_a_numpy_integer_is_a_number(space: compose.Space) -> None:
    import numpy as np

    assert json.loads(space.endpoint("/measure").predict(np.int64(3)))["x"] == 3


# --- how a CodeAgent calls a tool -----------------------------------------------------------------------------------


def test_a_code_agent_may_call_a_tool_positionally_as_its_signature_is_shown(space: compose.Space) -> None:
    tool = space.endpoint("/greet").tool(name="greet")
    model = ScriptedModel(['```python\nprint(greet("bob", 2))\n```',
                           '```python\nfinal_answer("done")\n```'])
    agent = CodeAgent(tools=[tool], model=model, verbosity_level=-1)
    agent.run("greet bob twice")
    logs = " ".join(str(getattr(step, "observations", "")) for step in agent.memory.steps)
    assert '"name": "bob", "times": 2' in logs, logs


def test_too_many_positional_arguments_name_the_tool_and_its_inputs(space: compose.Space) -> None:
    tool = space.endpoint("/speak").tool(name="speak")
    with pytest.raises(compose.InvalidArguments, match=r"speak takes 2 argument\(s\) \(voice, when\), got 3"):
        tool("voice-0001", "2024-05-05 10:00:00", "extra")


# --- schemas ---------------------------------------------------------------------------------------------------------


def test_plain_schemas_are_valid_json_schema_even_for_a_json_parameter(space: compose.Space) -> None:
    registry = compose.ToolRegistry()
    registry.add(space)
    for tool in registry.openai_tools():
        jsonschema.Draft202012Validator.check_schema(tool["function"]["parameters"])  # gr.JSON's was {"type": {}}
    measure_tool = next(t for t in registry.openai_tools() if t["function"]["name"].endswith("measure"))
    assert "type" not in measure_tool["function"]["parameters"]["properties"]["data"]


def test_a_long_list_of_choices_stays_within_strict_modes_limits_and_is_still_checked(space: compose.Space) -> None:
    registry = compose.ToolRegistry()
    registry.add(space.endpoint("/speak"), name="speak")
    [tool] = registry.openai_tools(strict=True)
    assert strict_problems(tool["function"]["parameters"]) == []
    voice = tool["function"]["parameters"]["properties"]["voice"]
    assert "enum" not in voice  # 1,200 values: OpenAI refuses an enum past 1,000
    assert "one of 1200 values" in voice["description"] and "voice-0000" in voice["description"]
    with pytest.raises(compose.InvalidArguments) as caught:
        space.endpoint("/speak").predict("nobody", "2024-05-05 10:00:00")
    assert "(1200 in all)" in str(caught.value) and len(str(caught.value)) < 2000


def test_a_date_parameter_says_its_format(space: compose.Space) -> None:
    tool = space.endpoint("/speak").tool(name="speak")
    assert "YYYY-MM-DD HH:MM:SS" in tool.inputs["when"]["description"]
    registry = compose.ToolRegistry()
    registry.add(space.endpoint("/speak"), name="speak")
    for strict in (False, True):
        [schema] = registry.openai_tools(strict=strict)
        assert "YYYY-MM-DD HH:MM:SS" in schema["function"]["parameters"]["properties"]["when"]["description"]


def test_integer_choices_are_not_described_by_their_own_digits(space: compose.Space) -> None:
    assert '"1" is 1' not in space.endpoint("/greet").tool().inputs["size"]["description"]


async def test_registry_call_decodes_an_encoded_object_but_keeps_plain_text(space: compose.Space) -> None:
    registry = compose.ToolRegistry()
    registry.add(space.endpoint("/measure"), name="measure")
    # Strict mode asks for a free-form value as a JSON-encoded string: an encoded object is decoded ...
    assert json.loads(await registry.call("measure", {"x": 1, "data": '{"k": 1}'}))["data"] == {"k": 1}
    # ... but text is text, as ep.tool() and gradio_client send it.
    for text in ("123", "true", "null"):
        assert json.loads(await registry.call("measure", {"x": 1, "data": text}))["data"] == text


# --- the MCP server, as real clients use it ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcp_url(space: compose.Space) -> Iterator[str]:
    registry = compose.ToolRegistry()
    registry.add(space.endpoint("/greet"), name="greet")
    registry.add(space.endpoint("/tables"), name="tables")
    with served_mcp(registry) as url:
        yield url


@pytest.mark.parametrize("args", [
    {"name": "ada"},  # every optional left out
    {"name": "ada", "note": None, "style": None},  # null for optional text: the remote's default
    {"name": "ada", "style": "shouty", "size": 3},  # a custom value where the Dropdown allows one; an int choice
], ids=["omitted", "null", "custom-and-int-choice"])
async def test_the_mcp_sdk_may_call_as_the_remote_accepts(mcp_url: str, url: str, args: dict[str, Any]) -> None:
    direct = json.loads(Client(url, verbose=False).predict(**{k: v for k, v in args.items() if v is not None},
                                                           api_name="/greet"))
    async with streamable_http_client(mcp_url) as (read, write, *_), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("greet", args)
        assert not result.isError, result.content
        assert json.loads(result.content[0].text) == direct  # type: ignore[union-attr]


async def test_the_mcp_schema_keeps_bounds_types_and_the_table_form(mcp_url: str) -> None:
    async with streamable_http_client(mcp_url) as (read, write, *_), ClientSession(read, write) as session:
        await session.initialize()
        tools = {t.name: t.inputSchema for t in (await session.list_tools()).tools}
    greet_props = tools["greet"]["properties"]
    assert greet_props["size"]["type"] == "integer" and greet_props["size"]["enum"] == [1, 2, 3]
    assert (greet_props["ratio"]["minimum"], greet_props["ratio"]["maximum"]) == (0, 1)
    assert tools["greet"]["required"] == ["name"]
    assert set(tools["tables"]["properties"]["table"]["properties"]) == {"headers", "data"}


def test_smolagents_mcp_client_may_leave_optionals_out_and_pass_an_int_choice(mcp_url: str, url: str) -> None:
    from smolagents import ToolCollection
    from smolagents.tools import validate_tool_arguments

    with ToolCollection.from_mcp({"url": mcp_url, "transport": "streamable-http"}, trust_remote_code=True) as tools:
        greet_tool = next(t for t in tools.tools if t.name == "greet")
        # What an agent checks a model's arguments with before it calls: an int choice was typed as text, and
        # every optional parameter was required.
        validate_tool_arguments(greet_tool, {"name": "ada", "size": 3})
        got = json.loads(greet_tool(name="ada", size=3))
    assert got == json.loads(Client(url, verbose=False).predict("ada", size=3, api_name="/greet"))


def test_a_wrong_type_for_open_choices_says_any_text_goes(space: compose.Space) -> None:
    with pytest.raises(compose.InvalidArguments) as caught:
        space.endpoint("/greet").predict("ada", style=5)
    # Not "expects Literal['plain', 'fancy']": the Dropdown takes any text.
    assert "expects str (for example 'plain', 'fancy'), got int 5" in str(caught.value)


# --- an image editor, as a model passes images -----------------------------------------------------------------------


def test_an_image_editor_takes_images_as_paths_or_only_the_image_to_edit(tmp_path: Any) -> None:
    # Its schema was gradio's raw EditorData (three full FileData objects): paths a model wrote inside it went as
    # text, and the remote failed with a pydantic error.
    import numpy as np
    from PIL import Image

    def painted(editor: dict[str, Any]) -> int:
        layers = editor["layers"] or [editor["composite"]]
        return int(sum((np.asarray(layer)[..., 3] > 0).sum() for layer in layers))

    with gr.Blocks() as demo:
        editor, out = gr.ImageEditor(type="numpy", label="Image"), gr.Number()
        gr.Button().click(painted, editor, out, api_name="painted")
    background, layer = tmp_path / "bg.png", tmp_path / "layer.png"
    Image.fromarray(np.full((24, 32, 4), 200, "uint8")).save(background)
    stroke = np.zeros((24, 32, 4), "uint8")
    stroke[5:10, 5:15] = [255, 0, 0, 255]
    Image.fromarray(stroke).save(layer)
    with serve(demo) as url:
        tool = compose.Space(url).endpoint("/painted").tool(roots=(tmp_path,))
        assert tool.inputs["editor"]["type"] == "any"
        assert tool(editor={"background": str(background), "layers": [str(layer)], "composite": str(background)}) == 50
        assert tool(editor=str(background)) == 24 * 32  # only the image to edit: itself, fully opaque
        with pytest.raises(compose.UnsafeInput):
            tool(editor={"background": "/etc/hostname", "layers": [], "composite": None})


# --- a plot result, as an agent sees it -------------------------------------------------------------------------------


def test_a_matplotlib_plot_result_reaches_an_agent_as_an_image_not_base64_text() -> None:
    # A gr.Plot of matplotlib comes over the wire as a data URI: thousands of characters of a model's context.
    import base64 as b64
    import io

    import numpy as np
    from gradio.components.plot import PlotData
    from PIL import Image
    from smolagents.agent_types import AgentImage

    buffer = io.BytesIO()
    Image.fromarray(np.full((30, 40, 3), 90, "uint8")).save(buffer, format="PNG")
    uri = "data:image/png;base64," + b64.b64encode(buffer.getvalue()).decode()

    def chart(n: float) -> PlotData:
        return PlotData(type="matplotlib", plot=uri)

    with serve(gr.Interface(chart, gr.Number(label="n"), gr.Plot(label="chart"), api_name="chart")) as url:
        result = compose.Space(url).endpoint("/chart").tool(name="chart")(n=1)
    assert isinstance(result, AgentImage)
    assert result.to_raw().size == (40, 30)
