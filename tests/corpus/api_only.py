"""gr.api endpoints (function-only, typed by annotations), next to a small UI."""

import gradio as gr


def add_tags(text: str, tags: list[str], upper: bool = False) -> dict:
    """Adds hashtags to a text.

    Args:
        text: the text to tag
        tags: the tags to add
        upper: shout the result
    """
    out = text + " " + " ".join("#" + t for t in tags)
    return {"text": out.upper() if upper else out, "count": len(tags)}


with gr.Blocks() as demo:
    gr.Markdown("An API-first app.")
    gr.api(add_tags, api_name="add_tags")

CALLS = {"/add_tags": [{"text": "hi", "tags": ["a", "b"]}, {"text": "x", "tags": [], "upper": True}]}
