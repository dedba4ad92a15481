"""A dict result (gr.JSON) and a Label: structured outputs agents should get as JSON."""

import gradio as gr


def stats(numbers: str) -> tuple[dict, dict]:
    """Summary statistics of comma-separated numbers.

    Args:
        numbers: comma-separated numbers, e.g. "1, 2, 3"
    """
    values = [float(x) for x in numbers.split(",") if x.strip()]
    total = sum(values)
    return {"Sum": total, "Mean": total / len(values), "Count": len(values)}, {"big": 0.7, "small": 0.3}


demo = gr.Interface(stats, gr.Textbox(label="Numbers"), [gr.JSON(label="Stats"), gr.Label(label="Size")],
                    examples=[["1, 2, 3"]], api_name="stats")

CALLS = {"/stats": [{"numbers": "1, 2, 3"}]}
