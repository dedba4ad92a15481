"""The Gradio side: remote endpoints as local components (`render`, `mirror`) and as event handlers (`handler`).

Adapters over the public core: they reach a Space only through `Space` / `Endpoint` and `Endpoint.run_as`.
Usage: `btn.click(ep.handler(), inputs, outputs)`, `ep.render()`, `space.render()`.
"""

__all__: list[str] = []
