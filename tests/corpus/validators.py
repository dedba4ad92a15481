"""gradio demo/validator_chatinterface-style: a Gradio 6 validator that checks each input before the job runs."""

import gradio as gr


def validate(age: float, location: str) -> list:
    return [
        gr.validate(age >= 3, "Age must be at least 3"),
        gr.validate(location in ("Paris", "Tokyo"), "Location must be Paris or Tokyo"),
    ]


def describe(age: float, location: str) -> str:
    return f"{int(age)} years old, in {location}"


with gr.Blocks() as demo:
    age = gr.Number(label="Age")
    location = gr.Textbox(label="Location")
    out = gr.Textbox(label="Description")
    gr.Button("Describe").click(describe, [age, location], out, validator=validate, api_name="describe")

CALLS = {"/describe": [{"age": 30, "location": "Paris"}]}
INVALID = {"/describe": [({"age": 1, "location": "Mars"}, {"age": "Age must be at least 3",
                                                            "location": "Location must be Paris or Tokyo"})]}
