"""gradio demo/datetimes-style: a DateTime input shifted by a number of days."""

import datetime as dt

import gradio as gr


def shift(when: float, days: float) -> str:
    return (dt.datetime.fromtimestamp(when) + dt.timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


with gr.Blocks() as demo:
    when = gr.DateTime("2024-01-01 00:00:00", label="When", type="timestamp")
    days = gr.Slider(0, 30, value=1, step=1, label="Days")
    out = gr.DateTime(label="Later", include_time=True)
    gr.Button("Shift").click(shift, [when, days], out, api_name="shift")

CALLS = {"/shift": [{"when": "2024-03-01 12:00:00", "days": 2}]}
