"""Two Spaces chained: the calculator's result, put in a sentence, feeds the translator — in one event.

Both calls carry the end user's identity (their x-ip-token and their own upstream sessions) without passing it.
Run: python examples/chain_spaces.py [CALCULATOR TRANSLATOR]   (default: the local spaces/ on loopback)
"""

import sys

import gradio as gr

import compose


def build(calculator: str, translator: str) -> gr.Blocks:
    calculate = compose.Space(calculator).endpoint("/calculate")
    translate = compose.Space(translator).endpoint("/translate")

    async def calculate_and_translate(a: float, operation: str, b: float, language: str) -> tuple[float, str]:
        result = await calculate.call(a, operation, b)
        return result, await translate.call(f"the answer is {result:g}", language)

    with gr.Blocks(title="Calculate, then translate") as demo:
        with gr.Row():
            a, b = gr.Number(value=12, label="a"), gr.Number(value=7, label="b")
            op = gr.Radio(["add", "subtract", "multiply", "divide"], value="multiply", label="operation")
            language = gr.Radio(["French", "Spanish", "German"], value="French", label="language")
        result, translated = gr.Number(label="Result"), gr.Textbox(label="Translated")
        gr.Button("Calculate and translate").click(calculate_and_translate, [a, op, b, language],
                                                   [result, translated], api_name="calculate_and_translate")
    return demo


if __name__ == "__main__":
    from compose.apps.processes import launch_spaces

    if len(sys.argv) > 2:
        build(sys.argv[1], sys.argv[2]).launch()
    else:
        with launch_spaces(["calculator", "translator"]) as running:
            build(running["calculator"].url, running["translator"].url).launch()
