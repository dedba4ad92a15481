"""The agent chat app (compose.AgentChat) driven through its own API, as a page would: one user's runs never overlap.

A model step cannot be interrupted: a run the user stopped (or a message sent while the last one still runs) goes
on until its step ends. The next run of that user's agent must wait for it, or the agent's memory mixes the two
runs (seen with the embedded model: the next answer ended in "💥 Agent error").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from gradio_client import Client
from outer import serve
from smolagents import Tool, ToolCallingAgent
from smolagents.models import ChatMessage, ChatMessageToolCall, ChatMessageToolCallFunction, MessageRole, Model

import compose

pytestmark = pytest.mark.timeout(30, func_only=True)

WAITING = "Waiting for the run before"


class Echo(Tool):
    name = "echo"
    description = "Repeat a text."
    inputs = {"text": {"type": "string", "description": "the text"}}  # noqa: RUF012  (smolagents' class attribute)
    output_type = "string"

    def forward(self, text: str) -> str:  # type: ignore[override]
        return text


class GatedModel(Model):
    """Answers each task at once, except "first task": that step blocks until the test opens the gate. Records
    whether two steps of one agent ever ran at once."""

    def __init__(self) -> None:
        super().__init__(model_id="gated")
        self.first_step = threading.Event()
        self.gate = threading.Event()
        self._lock = threading.Lock()
        self._active = 0
        self.overlapped = False

    def generate(self, messages: list[Any], stop_sequences: list[str] | None = None,
                 response_format: dict[str, str] | None = None, tools_to_call_from: list[Any] | None = None,
                 **kwargs: Any) -> ChatMessage:
        with self._lock:
            self._active += 1
            self.overlapped = self.overlapped or self._active > 1
        try:
            text = str(messages)
            task = "second" if text.rfind("second task") > text.rfind("first task") else "first"
            if task == "first":
                self.first_step.set()
                self.gate.wait(25)
            call = ChatMessageToolCall(id=f"call_{task}", type="function", function=ChatMessageToolCallFunction(
                name="final_answer", arguments={"answer": f"{task} task done"}))
            return ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=[call])
        finally:
            with self._lock:
                self._active -= 1


@pytest.fixture
def chat() -> Iterator[tuple[str, GatedModel]]:
    model = GatedModel()
    app = compose.AgentChat(tools=lambda: [Echo()], model=model,
                            agent_factory=lambda tools, m: ToolCallingAgent(tools=tools, model=m, verbosity_level=-1))
    try:
        with serve(app.demo) as url:
            yield url, model
    finally:
        model.gate.set()


def _texts(output: Any) -> str:
    return str(output)


@pytest.mark.parametrize("stop_first", [True, False], ids=["after-stop", "while-running"])
def test_a_users_next_message_waits_for_the_run_before_and_says_so(chat: tuple[str, GatedModel],
                                                                     stop_first: bool) -> None:
    url, model = chat
    client = Client(url, verbose=False)  # one page: one session, so one agent
    first = client.submit("first task", [], api_name="/chat")
    assert model.first_step.wait(20), "the first run never reached its model step"
    if stop_first:
        first.cancel()  # what the Stop button does to the event; the model step goes on regardless
    second = client.submit("second task", [], api_name="/chat")
    waited = False
    for output in second:
        if WAITING in _texts(output) and not waited:
            waited = True
            model.gate.set()  # only now may the first run's step end
    model.gate.set()
    final = _texts(second.result(timeout=20))
    assert waited, "the second message did not wait for the first run"
    assert not model.overlapped, "two runs of one user's agent overlapped"
    assert "second task done" in final
    assert WAITING not in final  # the note goes once the run starts
    if not stop_first:
        assert "first task done" in final  # the first answer stays shown before the second message
        assert final.index("first task done") < final.index("second task")
