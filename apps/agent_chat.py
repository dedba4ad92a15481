"""The main composed app: an agent chat whose tools are Gradio Spaces.

Run: `make demo` (or `compose demo`). With no arguments it starts the local spaces/ on loopback and the embedded
local model; `--spaces owner/a,owner/b` (or COMPOSE_SPACES) points it at real Spaces instead.
"""

import argparse

from compose.apps.demo import run_demo

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860, help="the next free one when it is taken")
    parser.add_argument("--spaces", default="", help="comma-separated Space ids or URLs")
    parser.add_argument("--model", default=None, help='"local", "router", or a model id')
    parser.add_argument("--verbose", action="store_true", help="print each agent step on the console")
    args = parser.parse_args()
    run_demo(host=args.host, port=args.port, spaces=[s for s in args.spaces.split(",") if s], model=args.model,
             verbose=args.verbose)
