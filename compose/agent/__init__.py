"""The agent side: Space endpoints as LLM tools (`tools`, `tool_schema`, `registry`, `guard`), agents per end user
(`agents`) and their runs as chat traces (`call_events` → `trace`).

Adapters over the public core: they reach a Space only through `Space` / `Endpoint` and `Endpoint.run_as`.
Usage: `registry = compose.ToolRegistry(); registry.add(space); registry.tools()`.
"""

__all__: list[str] = []
