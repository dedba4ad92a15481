"""The agent chat in a real browser: Debian's chromium driven by playwright, against real local Spaces.

The LLM is the one fake: a scripted smolagents Model that asks for the tool calls this test needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs import wait_for_state
from outer import serve
from scripted import ScriptedModel
from smolagents import ToolCallingAgent

import compose

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make test does)")

LONG = 3.0  # the job the first message runs: long enough to see the spinner
STOPPED = 19.5  # the job the second message runs and the stop button cancels


@pytest.fixture(scope="module")
def chat_url(urls: dict[str, str]) -> Iterator[str]:
    registry = compose.ToolRegistry()
    registry.add(compose.Space(urls["calculator"]).endpoint("/calculate"))
    registry.add(compose.Space(urls["streaming"]).endpoint("/long_job"), name="long_job")
    # One script per message, so each test stands on its own, in any order.
    model = ScriptedModel.by_task({
        "run the long job": [[("long_job", {"seconds": LONG})], [("final_answer", {"answer": "The job is done."})]],
        "run a very long job": [[("long_job", {"seconds": STOPPED})], [("final_answer", {"answer": "not reached"})]],
    })
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


def test_tool_call_shows_pending_then_done_with_duration_then_answer(page, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#compose-input textarea")
    box.fill("run the long job")
    box.press("Enter")
    tool = page.locator(".thought-group", has_text="Used tool long_job")
    tool.first.wait_for(timeout=20_000)
    spinner = tool.first.locator(".loading-spinner")
    spinner.wait_for(state="visible", timeout=10_000)  # pending while the Space runs
    page.screenshot(path=str(artifacts / "chat-pending.png"))
    page.get_by_text("The job is done.").wait_for(timeout=25_000)
    assert spinner.count() == 0  # done: no spinner any more
    duration = tool.first.locator(".duration").inner_text()
    seconds = float(re.search(r"([\d.]+)\s*s", duration).group(1))  # type: ignore[union-attr]
    assert seconds >= LONG  # the measured duration covers the upstream's real run time
    page.screenshot(path=str(artifacts / "chat-done.png"))


def test_stop_cancels_the_upstream_job(page, streaming: compose.Space, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#compose-input textarea")
    box.fill("run a very long job")
    box.press("Enter")
    assert wait_for_state(streaming, STOPPED, "running", limit=20) == "running"
    page.locator("#compose-stop").click()
    state = wait_for_state(streaming, STOPPED, "cancelled", limit=10)
    page.screenshot(path=str(artifacts / "chat-stopped.png"))
    assert state == "cancelled"
