"""The agent chat in a real browser: Debian's chromium driven by playwright, against real local Spaces.

The LLM is the one fake: a scripted smolagents Model that asks for the tool calls this test needs. What is checked
is what a visitor sees: a pending call with its spinner and live output, a finished one with its duration and
result, an error readable without a click, a stopped run marked cancelled, and Stop shown only while a run goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs import wait_for_state
from outer import serve
from playwright.sync_api import expect
from scripted import ScriptedModel
from smolagents import ToolCallingAgent

import compose

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make test does)")

LONG = 8.0  # the job the first message runs: long enough to see the spinner on a loaded machine
STOPPED = 19.5  # the job the second message runs and the stop button cancels
CLEARED = 18.5  # the job clearing the chat cancels


@pytest.fixture(scope="module")
def model() -> ScriptedModel:
    # One script per message, so each test stands on its own, in any order.
    return ScriptedModel.by_task({
        "run the long job": [[("long_job", {"seconds": LONG})], [("final_answer", {"answer": "The job is done."})]],
        "run a very long job": [[("long_job", {"seconds": STOPPED})], [("final_answer", {"answer": "not reached"})]],
        "divide 1 by 0": [[("calculator_calculate", {"a": 1, "operation": "divide", "b": 0})],
                          [("final_answer", {"answer": "The calculator failed."})]],
        "count slowly": [[("count_up", {"n": 8, "delay": 0.6})], [("final_answer", {"answer": "Counted."})]],
        "multiply 12 by 7": [[("calculator_calculate", {"a": 12, "operation": "multiply", "b": 7})],
                             [("final_answer", {"answer": "That makes 84."})]],
        "add 3 and 4": [[("calculator_calculate", {"a": 3, "operation": "add", "b": 4})],
                        [("final_answer", {"answer": "That makes 7."})]],
        "what was my last question": [[("final_answer", {"answer": "A fresh start."})]],
        "run a job to clear": [[("long_job", {"seconds": CLEARED})], [("final_answer", {"answer": "not reached"})]],
        "what is left": [[("final_answer", {"answer": "Nothing of before."})]],
    })


@pytest.fixture(scope="module")
def chat_url(urls: dict[str, str], model: ScriptedModel) -> Iterator[str]:
    registry = compose.ToolRegistry()
    registry.add(compose.Space(urls["calculator"]).endpoint("/calculate"))
    registry.add(compose.Space(urls["streaming"]).endpoint("/long_job"), name="long_job")
    registry.add(compose.Space(urls["streaming"]).endpoint("/count_up"), name="count_up")
    chat = compose.AgentChat(tools=registry, model=model,
                             agent_factory=lambda tools, m: ToolCallingAgent(tools=tools, model=m, verbosity_level=0))
    with serve(chat.demo) as url:
        yield url


@pytest.fixture(scope="module")
def page(chat_url: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(chat_url)
        yield page
        browser.close()


def send(page, text: str) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#compose-input textarea")
    box.fill(text)
    box.press("Enter")


def test_tool_call_shows_pending_then_done_with_duration_then_answer(page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    expect(page.locator("#compose-stop")).to_be_hidden()  # nothing runs yet
    send(page, "run the long job")
    tool = page.locator(".thought-group", has_text="Used tool long_job")
    tool.first.wait_for(timeout=20_000)
    spinner = tool.first.locator(".loading-spinner")
    spinner.wait_for(state="visible", timeout=20_000)  # pending while the Space runs
    expect(page.locator("#compose-stop")).to_be_visible()  # Stop while something runs
    page.screenshot(path=str(artifacts / "chat-pending.png"))
    page.get_by_text("The job is done.").wait_for(timeout=25_000)
    expect(page.locator("#compose-stop")).to_be_hidden()  # and gone once the answer is there
    assert spinner.count() == 0  # done: no spinner any more
    duration = tool.first.locator(".duration").inner_text()
    seconds = float(re.search(r"([\d.]+)\s*s", duration).group(1))  # type: ignore[union-attr]
    assert seconds >= LONG  # the measured duration covers the upstream's real run time
    page.screenshot(path=str(artifacts / "chat-done.png"))


def test_stop_cancels_the_upstream_job_and_the_chat_shows_it_stopped(page, streaming: compose.Space,  # type: ignore[no-untyped-def]
                                                                      artifacts: Path) -> None:
    send(page, "run a very long job")
    assert wait_for_state(streaming, STOPPED, "running", limit=20) == "running"
    tool = page.locator(".thought-group", has_text="long_job").last
    expect(tool).to_contain_text("Working", timeout=15_000)  # live progress while it runs
    # No message while it runs: the page would drop it without a word (a submit is ignored while its event runs).
    expect(page.locator("#compose-input textarea")).not_to_be_editable()
    page.locator("#compose-stop").click()
    state = wait_for_state(streaming, STOPPED, "cancelled", limit=10)
    assert state == "cancelled"
    # The tool message is done (no spinner, no frozen progress), says cancelled, with its duration; the chat
    # says it stopped; Stop is gone.
    expect(tool).to_contain_text("Cancelled", timeout=10_000)
    expect(tool.locator(".loading-spinner")).to_have_count(0)
    expect(tool).not_to_contain_text("Working")
    assert float(re.search(r"([\d.]+)\s*s", tool.locator(".duration").inner_text()).group(1)) > 0  # type: ignore[union-attr]
    expect(page.get_by_text("⏹️ Stopped.")).to_be_visible()
    expect(page.locator("#compose-stop")).to_be_hidden()
    expect(page.locator("#compose-input textarea")).to_be_editable()  # the box takes a message again
    # The run's own last messages (the tool's "cancelled", smolagents' "interrupted") came after Stop's and
    # showed as error items under "Stopped." in 4 of 6 tries.
    expect(page.locator("#compose-chat").get_by_text("💥")).to_have_count(0)
    page.screenshot(path=str(artifacts / "chat-stopped.png"))


def test_an_error_names_the_tool_and_its_message_is_visible_without_expanding(page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    send(page, "divide 1 by 0")
    page.get_by_text("The calculator failed.").wait_for(timeout=20_000)
    tool = page.locator(".thought-group", has_text="Error using tool calculator_calculate").last
    title = tool.locator(".title").inner_text()
    assert "Running on the Space" not in title and "Calling the Space" not in title
    assert re.search(r"\([\d.]+\s*m?s\)", title)  # the duration
    expect(tool.get_by_text("Cannot divide by zero.")).to_be_visible()  # no click needed
    page.screenshot(path=str(artifacts / "chat-error.png"))


def test_a_streaming_tool_shows_its_output_live_and_each_call_its_result(page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    send(page, "count slowly")
    tool = page.locator(".thought-group", has_text="Used tool count_up").last
    # While it still runs (spinner), the output so far is on screen.
    expect(tool).to_contain_text(re.compile(r"Output so far:\s*1 2"), timeout=20_000)
    assert tool.locator(".loading-spinner").count() == 1
    page.screenshot(path=str(artifacts / "chat-streaming.png"))
    page.get_by_text("Counted.").wait_for(timeout=25_000)
    send(page, "multiply 12 by 7")
    page.get_by_text("That makes 84.").wait_for(timeout=20_000)
    done = page.locator(".thought-group", has_text="Used tool calculator_calculate").last
    done.locator(".title").click()  # a finished call is folded; its result is one click away
    expect(done).to_contain_text(re.compile(r"Result:\s*84"))


def test_clearing_the_chat_starts_the_conversation_over(page, model: ScriptedModel) -> None:  # type: ignore[no-untyped-def]
    send(page, "add 3 and 4")
    page.get_by_text("That makes 7.").wait_for(timeout=25_000)
    page.locator("#compose-chat").get_by_role("button", name="Clear").click()  # the chat's own trash button
    expect(page.get_by_text("That makes 7.")).to_have_count(0)
    send(page, "what was my last question")
    page.get_by_text("A fresh start.").wait_for(timeout=25_000)
    # What the agent told the model for this turn: nothing of the conversation the user cleared.
    assert "add 3 and 4" not in str(model.seen[-1])


def test_clearing_the_chat_mid_run_leaves_it_empty(page, streaming: compose.Space) -> None:  # type: ignore[no-untyped-def]
    # The run's own last messages (the tool's "cancelled", smolagents' "Agent error") came after the clear, and the
    # old conversation came back with them, 4 times in 4.
    send(page, "run a job to clear")
    assert wait_for_state(streaming, CLEARED, "running", limit=20) == "running"
    expect(page.locator(".thought-group", has_text="long_job").last).to_contain_text("Working", timeout=15_000)
    page.locator("#compose-chat").get_by_role("button", name="Clear").click()
    assert wait_for_state(streaming, CLEARED, "cancelled", limit=10) == "cancelled"
    expect(page.locator("#compose-stop")).to_be_hidden()
    expect(page.locator("#compose-input textarea")).to_be_editable()
    send(page, "what is left")  # an answer now comes after anything the cleared run could still have sent
    page.get_by_text("Nothing of before.").wait_for(timeout=25_000)
    expect(page.get_by_text("run a job to clear")).to_have_count(0)
    expect(page.locator("#compose-chat").get_by_text("💥")).to_have_count(0)
