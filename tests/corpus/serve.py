"""Serve every corpus app from one process: `python serve.py PORT` mounts each at /NAME (a real uvicorn server).

One process for the whole corpus keeps the harness fast on two cores; each app is still its own Gradio app with
its own config, API info, queue and (where the app asks) MCP server.
"""

from __future__ import annotations

import importlib
import socket
import sys
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import APPS


def build() -> FastAPI:
    app = FastAPI()
    for name in APPS:
        module = importlib.import_module(f"corpus.{name}")
        gr.mount_gradio_app(app, module.demo, path=f"/{name}", mcp_server=bool(getattr(module, "MCP", False)),
                            i18n=getattr(module, "I18N", None), show_error=True)
    return app


if __name__ == "__main__":
    app = build()
    # Listen before saying so: a client that reads the URL below can connect at once (the backlog holds it).
    sock = socket.socket()
    sock.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    sock.listen(128)
    print(f"Running on local URL:  http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
