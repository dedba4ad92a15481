"""Helpers for tests of composed (outer) apps: launch a Blocks on loopback, and a raw queue client for timing.

The raw client speaks Gradio's queue protocol directly with httpx (join + SSE), so a test can see every message
(progress, generating) with its arrival time, as a browser would.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr
import httpx

from compose.apps.processes import free_port


@contextmanager
def serve(demo: gr.Blocks, auth: tuple[str, str] | None = None) -> Iterator[str]:
    """Launch `demo` on 127.0.0.1 (queue on, no concurrency cap; behind Gradio's login with `auth`) and close it
    afterwards.

    On a port the system picks, not gradio's first free one from 7860: an app at the address of one a moment ago
    would be taken for it by compose's disk cache (confirmed by the app within `Limits.schema_check_every`)."""
    demo.queue(default_concurrency_limit=None).launch(prevent_thread_lock=True, server_name="127.0.0.1",
                                                      server_port=free_port(), quiet=True, show_error=True,
                                                      auth=auth)
    try:
        yield demo.local_url.rstrip("/")
    finally:
        demo.close()


def fn_index(url: str, api_name: str) -> int:
    # Not cached: a test's next app may be served on the same address. 25 s: 64 threads each asking a slow
    # machine's app for its config timed out at httpx's default 5 s.
    config = httpx.get(f"{url}/config", timeout=25).json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name.strip("/"))


def raw_events(url: str, api_name: str | int, data: list[Any], headers: dict[str, str] | None = None,
               session: str | None = None, timeout: float = 25.0) -> list[tuple[float, dict[str, Any]]]:
    """Join `api_name` (or the dependency with that id: one with no API name, as a browser does) on the outer app
    and return every SSE message with its arrival time (seconds from join)."""
    session = session or secrets.token_hex(8)
    index = api_name if isinstance(api_name, int) else fn_index(url, api_name)
    out: list[tuple[float, dict[str, Any]]] = []
    with httpx.Client(timeout=timeout, headers=headers or {}) as client:
        start = time.perf_counter()
        r = client.post(f"{url}/gradio_api/queue/join",
                        json={"data": data, "fn_index": index, "session_hash": session, "event_data": None,
                              "trigger_id": None})
        r.raise_for_status()
        with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                out.append((time.perf_counter() - start, msg))
                if msg.get("msg") in ("process_completed", "close_stream"):
                    break
    return out


@contextmanager
def served_mcp(registry: Any) -> Iterator[str]:
    """Serve `registry.mcp_blocks()` over MCP on 127.0.0.1 and yield its streamable-HTTP URL; closed afterwards."""
    from compose.apps.processes import free_port as port

    demo = registry.mcp_blocks()
    demo.queue(default_concurrency_limit=None).launch(mcp_server=True, prevent_thread_lock=True,
                                                      server_name="127.0.0.1", quiet=True, server_port=port())
    try:
        # gradio reports a server it could not start here instead of raising (e.g. an `mcp` SDK it cannot use).
        assert demo.mcp_server, f"gradio's MCP server did not start: {getattr(demo, 'mcp_error', None)}"
        yield demo.local_url.rstrip("/") + "/gradio_api/mcp/"
    finally:
        demo.close()


async def call_tool(mcp_url: str, name: str, arguments: dict[str, Any]) -> Any:
    """One MCP tool call with the `mcp` SDK's client, as an MCP host makes it; the CallToolResult."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(mcp_url) as (read, write, *_), ClientSession(read, write) as session:
        await session.initialize()
        return await session.call_tool(name, arguments)
