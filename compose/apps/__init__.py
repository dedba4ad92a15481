"""Apps built on the library: the agent chat (`chat`), the CLI (`cli`), the demo (`demo`), deployment (`deploy`),
local Space processes (`processes`) and the LLM backends (`models`).

Usage: `compose demo`, `compose inspect owner/space`, `compose.AgentChat(tools=..., model=...)`.
"""

__all__: list[str] = []
