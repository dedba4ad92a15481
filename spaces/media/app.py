"""Media: image and file in and out, a Dataframe, a DateTime and a Chatbot with message metadata."""


import gradio as gr
import pandas as pd
from PIL import Image, ImageOps


def invert(image: Image.Image) -> tuple[Image.Image, str]:
    """Invert an image's colours and describe its size.

    Args:
        image: the picture to invert.
    """
    return ImageOps.invert(image.convert("RGB")), f"{image.width}x{image.height}"


def file_info(file: str) -> tuple[str, str]:
    """Write a report file about an uploaded file, and return it with a one-line summary.

    Args:
        file: the file to describe.
    """
    with open(file, "rb") as f:
        data = f.read()
    report = f"{file.rsplit('/', 1)[-1]}: {len(data)} bytes"
    path = file + ".report.txt"
    with open(path, "w") as f:
        f.write(report + "\n")
    return path, report


def totals(table: pd.DataFrame) -> pd.DataFrame:
    """Add a 'total' column: quantity times price.

    Args:
        table: rows of item, quantity and price.
    """
    table = table.copy()
    table["total"] = table["quantity"].astype(float) * table["price"].astype(float)
    return table


def add_days(when: float, days: float = 1) -> float:
    """Move a timestamp forward by a number of days.

    Args:
        when: the starting date and time.
        days: how many days to add.
    """
    return when + days * 86400


def chat(history: list[dict]) -> list[dict]:
    """Answer the last user message, showing a finished 'thinking' step in message metadata.

    Args:
        history: the conversation so far, as messages.
    """
    last = history[-1]["content"] if history else ""
    if isinstance(last, list):
        last = " ".join(part.get("text", "") for part in last if isinstance(part, dict))
    return [
        *history,
        {"role": "assistant", "content": f"Counted {len(str(last))} characters.",
         "metadata": {"title": "Thinking", "status": "done", "duration": 0.1}},
        {"role": "assistant", "content": f"You said: {last}"},
    ]


with gr.Blocks(title="Media") as demo:
    with gr.Row():
        image_in = gr.Image(type="pil", label="Image")
        image_out = gr.Image(type="pil", label="Inverted")
    size = gr.Textbox(label="Size")
    gr.Button("Invert").click(invert, image_in, [image_out, size], api_name="invert")
    file_in, file_out = gr.File(label="File", type="filepath"), gr.File(label="Report")
    summary = gr.Textbox(label="Summary")
    gr.Button("Describe file").click(file_info, file_in, [file_out, summary], api_name="file_info")
    table_in = gr.Dataframe(headers=["item", "quantity", "price"], datatype=["str", "number", "number"],
                            value=[["apple", 3, 0.5]], type="pandas", label="Order")
    table_out = gr.Dataframe(label="Totals", type="pandas")
    gr.Button("Totals").click(totals, table_in, table_out, api_name="totals")
    when = gr.DateTime(include_time=True, type="timestamp", label="When")
    days = gr.Number(value=1, label="Days")
    later = gr.DateTime(include_time=True, type="timestamp", label="Later")
    gr.Button("Add days").click(add_days, [when, days], later, api_name="add_days")
    bot = gr.Chatbot(label="Chat")
    gr.Button("Reply").click(chat, bot, bot, api_name="chat")

if __name__ == "__main__":
    demo.launch(mcp_server=True)  # the MCP schema publishes each argument's docstring line
