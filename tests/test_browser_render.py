"""Whole-app renders in a real browser: Debian's chromium, driven by playwright, clicking through what
`space.render()` built from corpus apps (an Interface with examples, a ChatInterface, a Navbar app, a multipage
app), every event going through compose to the corpus server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from outer import serve

import compose

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (make test does)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def apps(corpus_url: str) -> Iterator[dict[str, str]]:
    """Each app this module clicks through, rendered whole into an outer app of its own and served."""
    with contextlib.ExitStack() as stack:
        urls = {}
        for name in ("calculator", "chat_echo", "navbar", "multipage", "chatbot_actions"):
            with gr.Blocks() as demo:
                compose.Space(f"{corpus_url}/{name}").render()
            urls[name] = stack.enter_context(serve(demo))
        yield urls


def open_page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(url)
    return page


def test_interface_with_examples(browser: Any, apps: dict[str, str], artifacts: Path) -> None:
    url = apps["calculator"]
    page = open_page(browser, url)
    page.get_by_text("Toy Calculator").first.wait_for(timeout=20_000)
    # The examples table works: a click fills the inputs (one of gradio's own events, through compose).
    page.locator(".gallery-item, tr.tr-body, button.gallery-item").filter(has_text="144").first.click()
    # Filling them is an event of its own (a round trip through compose): submit once it has landed, not before.
    first = page.locator("input[type=number]").first
    page.wait_for_function("el => el.value === '144'", arg=first.element_handle(), timeout=20_000)
    page.get_by_role("button", name="Submit").click()
    output = page.locator("input[type=number]").last
    page.wait_for_function("el => el.value === '360'", arg=output.element_handle(), timeout=20_000)
    page.screenshot(path=str(artifacts / "render-interface.png"))
    # A remote gr.Error reaches the user as an error toast.
    page.get_by_label("divide").check()
    page.locator("input[type=number]").nth(1).fill("0")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Cannot divide by zero!").first.wait_for(timeout=20_000)


def test_chat_interface(browser: Any, apps: dict[str, str], artifacts: Path) -> None:
    url = apps["chat_echo"]
    page = open_page(browser, url)
    box = page.locator("textarea").first
    box.wait_for(timeout=20_000)
    box.fill("bonjour")
    box.press("Enter")
    page.get_by_text("bonjour (turn 1)").wait_for(timeout=20_000)
    box.fill("again")
    box.press("Enter")
    page.get_by_text("again (turn 2)").wait_for(timeout=20_000)
    page.screenshot(path=str(artifacts / "render-chat.png"))


def test_navbar_app(browser: Any, apps: dict[str, str], artifacts: Path) -> None:
    url = apps["navbar"]
    page = open_page(browser, url)
    # The remote's Navbar with its links and page names.
    page.get_by_text("Dashboard").first.wait_for(timeout=20_000)
    assert page.get_by_role("link", name="Docs").count() >= 1
    page.get_by_label("Your name").fill("hey there")
    page.get_by_role("button", name="Shout").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value === 'HEY THERE')", timeout=20_000)
    page.get_by_role("link", name="Settings").first.click()
    page.get_by_text("Settings").first.wait_for(timeout=20_000)
    page.screenshot(path=str(artifacts / "render-navbar.png"))


def test_multipage_app(browser: Any, apps: dict[str, str], artifacts: Path) -> None:
    url = apps["multipage"]
    page = open_page(browser, url)
    page.get_by_label("Name").fill("Ada")
    page.get_by_role("button", name="Greet").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('textarea')].some(t => t.value === 'Hi Ada')", timeout=20_000)
    # The second page, reached through the navbar, runs its own remote event.
    page.get_by_role("link", name="Up").first.click()
    number = page.get_by_label("Number")
    number.wait_for(timeout=20_000)
    number.fill("41")
    page.get_by_role("button", name="Up").click()
    plus_one = page.get_by_label("Plus one")
    page.wait_for_function("el => el.value === '42'", arg=plus_one.element_handle(), timeout=20_000)
    page.screenshot(path=str(artifacts / "render-multipage.png"))
    # The hidden page is there (by URL) but not in the navbar.
    assert page.get_by_role("link", name="Hidden page").count() == 0


def test_chatbot_like_and_undo_work_through_compose(browser: Any, apps: dict[str, str], artifacts: Path) -> None:
    url = apps["chatbot_actions"]
    page = open_page(browser, url)
    box = page.get_by_label("Message")
    box.fill("hello")
    box.press("Enter")
    page.get_by_text("You said 5 characters.").wait_for(timeout=20_000)
    # The like event carries its event data (which message, liked) to the remote's handler.
    page.get_by_role("button", name="Like", exact=True).first.click()
    votes = page.get_by_label("Votes")
    page.wait_for_function("el => el.value.startsWith('up on message')", arg=votes.element_handle(),
                           timeout=20_000)
    page.get_by_role("button", name="Undo", exact=True).first.click()
    page.get_by_text("You said 5 characters.").wait_for(state="detached", timeout=20_000)
    page.screenshot(path=str(artifacts / "render-chatbot-actions.png"))


def test_a_gr_render_part_appears_changes_and_answers(browser: Any, artifacts: Path) -> None:
    # gradio's demo/render_split shape: the part the remote builds as it is used shows up on page load, is built
    # again when the input changes, and its buttons run the remote's functions.
    with gr.Blocks() as remote:
        words = gr.Textbox(label="Words", value="hello there")
        used = gr.Textbox(label="Used")

        @gr.render(inputs=words)
        def split(text: str) -> None:
            count = gr.Textbox(label="count")
            gr.on([remote.load], lambda: f"{len(text.split())} words", None, count)  # an event of the part on load
            for word in text.split():
                with gr.Row():
                    box = gr.Textbox(value=word, label="word")
                    gr.Button(f"Use {word}").click(lambda w: f"used {w}", box, used)

    with serve(remote) as url:
        with gr.Blocks() as demo:
            compose.Space(url).render()
        with serve(demo) as outer_url:
            page = open_page(browser, outer_url)
            page.get_by_role("button", name="Use there").wait_for(timeout=20_000)
            count = page.get_by_label("count")
            page.wait_for_function("el => el.value === '2 words'", arg=count.element_handle(), timeout=20_000)
            page.get_by_label("Words").fill("one two three")
            page.get_by_role("button", name="Use three").wait_for(timeout=20_000)
            assert page.get_by_role("button", name="Use hello").count() == 0  # the earlier run's part is gone
            page.get_by_role("button", name="Use two").click()
            used_box = page.get_by_label("Used")
            page.wait_for_function("el => el.value === 'used two'", arg=used_box.element_handle(), timeout=20_000)
            page.screenshot(path=str(artifacts / "render-gr-render.png"))


def test_a_remote_event_selects_a_tab_shows_a_row_says_info_and_changes_a_state(browser: Any, artifacts: Path
                                                                                   ) -> None:
    # The shapes of gradio's demo/accordion_tab_switch, blocks_flashcards and state_change: an event that selects a
    # tab, shows a hidden row and says something, and a gr.State whose .change listener shows what it holds.
    with gr.Blocks() as remote:
        count = gr.State(0)
        seen = gr.Number(label="Changes seen")
        with gr.Tabs() as tabs:
            with gr.Tab("First", id="first"):
                gr.Markdown("the first page")
            with gr.Tab("Second", id="second"):
                gr.Markdown("the second page")
        with gr.Row(visible=False) as answer_row:
            gr.Textbox(value="forty-two", label="Answer")

        def go(n: int) -> tuple[int, Any, Any]:
            gr.Info("moved on")
            return n + 1, gr.Tabs(selected="second"), gr.Row(visible=True)

        gr.Button("Go").click(go, count, [count, tabs, answer_row])
        count.change(lambda n: n, count, seen)

    with serve(remote) as url:
        with gr.Blocks() as demo:
            compose.Space(url).render()
        with serve(demo) as outer_url:
            page = open_page(browser, outer_url)
            page.get_by_role("button", name="Go", exact=True).click()
            page.get_by_text("the second page").wait_for(timeout=20_000)  # the tab the remote selected
            page.get_by_text("moved on").wait_for(timeout=20_000)  # the remote's gr.Info, as a toast here
            page.get_by_label("Answer").wait_for(timeout=20_000)  # the row the remote showed
            seen_box = page.get_by_label("Changes seen")  # the remote State's .change ran, as on the remote's page
            page.wait_for_function("el => el.value === '1'", arg=seen_box.element_handle(), timeout=20_000)
            page.screenshot(path=str(artifacts / "render-layout-updates.png"))


def test_an_examples_table_of_pictures_shows_them_and_fills_the_inputs(browser: Any, tmp_path: Path) -> None:
    # The most common Space shape: an image Interface with example pictures. Their thumbnails are files of the
    # remote app; through compose they are fetched and served by the outer app, and a click fills the inputs.
    import numpy as np
    from PIL import Image

    pictures = []
    for shade in (30, 220):
        pictures.append(tmp_path / f"shade-{shade}.png")
        Image.fromarray(np.full((8, 8, 3), shade, dtype=np.uint8)).save(pictures[-1])
    remote = gr.Interface(lambda image, k: float(image.mean()) + k, [gr.Image(label="picture"), gr.Number(label="k")],
                          gr.Number(label="brightness"), examples=[[str(pictures[0]), 1], [str(pictures[1]), 2]])
    with serve(remote) as url:
        with gr.Blocks() as demo:
            compose.Space(url).render()
        with serve(demo) as outer_url:
            page = open_page(browser, outer_url)
            rows = page.locator(".gallery-item, tr.tr-body, button.gallery-item")
            rows.nth(1).wait_for(timeout=20_000)
            thumbnail = rows.nth(1).locator("img").first
            page.wait_for_function("el => el.complete && el.naturalWidth === 8", arg=thumbnail.element_handle(),
                                   timeout=20_000)
            assert thumbnail.get_attribute("src", timeout=5_000).startswith(outer_url)  # type: ignore[union-attr]
            rows.nth(1).click()
            k = page.get_by_label("k")
            page.wait_for_function("el => el.value === '2'", arg=k.element_handle(), timeout=20_000)
            page.get_by_role("button", name="Submit").click()
            result = page.get_by_label("brightness")
            page.wait_for_function("el => el.value === '222'", arg=result.element_handle(), timeout=20_000)


def test_a_failure_handler_runs_and_the_remote_clean_up_runs_when_the_user_leaves(browser: Any) -> None:
    # `.failure()` handlers and `demo.unload` clean-up, as Spaces use them: the first was dropped from the render
    # (and its endpoint from the API), the second made `space.render()` raise while building the page.
    import threading

    left = threading.Event()
    with gr.Blocks() as remote:
        text = gr.Textbox(label="Text")
        status = gr.Textbox(label="Status")

        def check(s: str) -> str:
            if not s:
                raise gr.Error("empty!")
            return s.upper()

        run = gr.Button("Check").click(check, text, text, api_name="check")
        run.success(lambda: "all good", None, status, api_name="on_success")
        run.failure(lambda: "it failed", None, status, api_name="on_failure")
        remote.unload(left.set)

    with serve(remote) as url:
        with gr.Blocks() as demo:
            rendered = compose.Space(url).render()
        assert "/on_failure" in rendered.api_names
        with serve(demo) as outer_url:
            page = open_page(browser, outer_url)
            page.get_by_role("button", name="Check", exact=True).click()
            status_box = page.get_by_label("Status")
            page.wait_for_function("el => el.value === 'it failed'", arg=status_box.element_handle(), timeout=20_000)
            page.get_by_label("Text").fill("ok")
            page.get_by_role("button", name="Check", exact=True).click()
            page.wait_for_function("el => el.value === 'all good'", arg=status_box.element_handle(), timeout=20_000)
            assert not left.is_set()
            page.close()  # the user leaves: the remote's clean-up runs, as it would had they left the remote's page
            assert left.wait(20), "the remote's unload handler did not run"
