"""Benchmarks for gradio-compose (not tests: nothing here asserts a timing).

`python -m bench.run` (or `make bench`) launches the spaces/ apps, and the bench-only apps of bench/apps/, as real
Gradio servers on 127.0.0.1 and measures, in the same run:

- `bench.core`: compose vs gradio_client vs a minimal keep-alive httpx client (the floor): call latency, client CPU,
  new TCP connections per warm call, the cost of 1,000 per-user sessions, time to first streamed output, a file.
- `bench.hop`: one hop through an outer Gradio app (compose handler, gr.load, a shared gradio_client Client):
  added latency, outer CPU, throughput and failures at 16 and 64 concurrent users on a 50 ms endpoint.

All traffic stays on loopback. Results are printed as markdown and written to bench/RESULTS.md.
"""

from __future__ import annotations

import os
import tempfile

# Set before gradio, gradio_client or huggingface_hub are imported: no telemetry, no Hub look-ups, and compose's
# schema/download cache in a throwaway folder rather than the developer's cache.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("COMPOSE_CACHE_DIR", tempfile.mkdtemp(prefix="compose-bench-cache-"))
