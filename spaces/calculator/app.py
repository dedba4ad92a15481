"""Calculator: two numbers and a gr.Radio operation; dividing by zero raises gr.Error."""

import gradio as gr


def calculate(a: float, operation: str, b: float) -> float:
    """Apply an arithmetic operation to two numbers.

    Args:
        a: the first number.
        operation: which operation to apply.
        b: the second number.
    """
    if operation == "add":
        return a + b
    if operation == "subtract":
        return a - b
    if operation == "multiply":
        return a * b
    if b == 0:
        raise gr.Error("Cannot divide by zero.", title="Math error")
    return a / b


def stats(numbers: str) -> tuple[float, float, float]:
    """Sum, mean and maximum of comma-separated numbers.

    Args:
        numbers: numbers separated by commas, such as "1, 2, 3".
    """
    values = [float(n) for n in numbers.split(",") if n.strip()]
    if not values:
        raise gr.Error("Give at least one number.")
    return sum(values), sum(values) / len(values), max(values)


with gr.Blocks(title="Calculator") as demo:
    with gr.Row():
        a = gr.Number(label="a", value=12)
        op = gr.Radio(["add", "subtract", "multiply", "divide"], value="add", label="operation")
        b = gr.Number(label="b", value=7)
    result = gr.Number(label="Result")
    gr.Button("Calculate").click(calculate, [a, op, b], result, api_name="calculate")
    numbers = gr.Textbox(label="Numbers", value="1, 2, 3")
    total, mean, biggest = gr.Number(label="Sum"), gr.Number(label="Mean"), gr.Number(label="Max")
    gr.Button("Stats").click(stats, numbers, [total, mean, biggest], api_name="stats")

if __name__ == "__main__":
    demo.launch(mcp_server=True)  # the MCP schema publishes each argument's docstring line
