"""A scripted smolagents Model: the one fake in the suite, standing in for the LLM service.

Each step pops the next scripted reply: a list of tool calls (for ToolCallingAgent), or a code string (for
CodeAgent). It records the messages it was shown so tests can check what the agent saw.

Usage: `ScriptedModel([[("translate", {"text": "hi"})], [("final_answer", {"answer": "x"})]])`, or
`ScriptedModel.by_task({"translate hi": [...], "add": [...]})` to follow one script per task, whatever the order
the tasks come in.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from smolagents.models import ChatMessage, ChatMessageToolCall, ChatMessageToolCallFunction, MessageRole, Model

Step = Sequence[tuple[str, dict[str, Any]]] | str

_ids = itertools.count(1)


class ScriptedModel(Model):
    def __init__(self, script: Sequence[Step]) -> None:
        super().__init__(model_id="scripted")
        self.script = list(script)
        self.seen: list[list[Any]] = []

        self.scripts: dict[str, list[Step]] = {}

    @classmethod
    def by_task(cls, scripts: dict[str, Sequence[Step]]) -> ScriptedModel:
        """Replies taken from the script of the task being run: the key that occurs last in the messages."""
        model = cls([])
        model.scripts = {task: list(steps) for task, steps in scripts.items()}
        return model

    def generate(self, messages: list[Any], stop_sequences: list[str] | None = None,
                 response_format: dict[str, str] | None = None, tools_to_call_from: list[Any] | None = None,
                 **kwargs: Any) -> ChatMessage:
        self.seen.append(list(messages))
        script = self.script
        if self.scripts:
            text = str(messages)
            script = self.scripts[max(self.scripts, key=text.rfind)]
        if not script:
            raise RuntimeError("the scripted model ran out of replies")
        step = script.pop(0)
        if isinstance(step, str):
            return ChatMessage(role=MessageRole.ASSISTANT, content=step)
        calls = [ChatMessageToolCall(id=f"call_{next(_ids)}", type="function",
                                     function=ChatMessageToolCallFunction(name=name, arguments=args))
                 for name, args in step]
        return ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=calls)
