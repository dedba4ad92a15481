"""Diagnostics: what identity a call arrived with, and a per-session gr.State counter."""

import gradio as gr


def whoami(request: gr.Request) -> tuple[str, str]:
    """Return the x-ip-token header this call carried ("" if none) and the caller's session id."""
    return request.headers.get("x-ip-token", ""), request.session_hash or ""


def increment(count: int) -> tuple[int, int]:
    """Add one to this session's counter and return it."""
    return count + 1, count + 1


def ping() -> None:
    """Do nothing and return nothing: an endpoint with no outputs."""


with gr.Blocks(title="Diagnostics") as demo:
    token, session = gr.Textbox(label="x-ip-token"), gr.Textbox(label="Session")
    gr.Button("Who am I?").click(whoami, None, [token, session], api_name="whoami")
    state = gr.State(0)
    count = gr.Number(label="Count", precision=0)
    gr.Button("Increment").click(increment, state, [count, state], api_name="increment")
    gr.Button("Ping").click(ping, None, None, api_name="ping")

if __name__ == "__main__":
    demo.launch(mcp_server=True)  # the MCP schema publishes each argument's docstring line
