"""An app that enables gradio's MCP server: docstring descriptions, a Radio with choices, defaults."""

import gradio as gr


def convert(value: float, unit: str = "km", precision: int = 2) -> str:
    """Converts a distance in metres to another unit.

    Args:
        value: the distance in metres
        unit: the unit to convert to
        precision: digits after the decimal point
    """
    factor = {"km": 1000.0, "mi": 1609.344, "ft": 0.3048}[unit]
    return f"{value / factor:.{int(precision)}f} {unit}"


demo = gr.Interface(convert, [gr.Number(label="Metres"), gr.Radio(["km", "mi", "ft"], value="km", label="Unit"),
                              gr.Slider(0, 6, value=2, step=1, label="Precision")],
                    gr.Textbox(label="Converted"), api_name="convert")

MCP = True
CALLS = {"/convert": [{"value": 5000, "unit": "mi", "precision": 3}, {"value": 1500}]}
