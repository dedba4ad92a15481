"""gradio demo/calculator: Number, Radio, Number with examples; a division by zero raises gr.Error."""

import gradio as gr


def calculator(num1: float, operation: str, num2: float) -> float:
    """Does arithmetic on two numbers.

    Args:
        num1: the first operand
        operation: what to do with them
        num2: the second operand
    """
    if operation == "add":
        return num1 + num2
    if operation == "subtract":
        return num1 - num2
    if operation == "multiply":
        return num1 * num2
    if num2 == 0:
        raise gr.Error("Cannot divide by zero!")
    return num1 / num2


demo = gr.Interface(
    calculator,
    [gr.Number(4), gr.Radio(["add", "subtract", "multiply", "divide"], value="add"), "number"],
    "number",
    examples=[[45, "add", 3], [3.14, "divide", 2], [144, "multiply", 2.5], [0, "subtract", 1.2]],
    title="Toy Calculator",
    description="Here's a sample toy calculator.",
    api_name="predict",
)

CALLS = {"/predict": [{"num1": 45, "operation": "add", "num2": 3}, {"num1": 3, "operation": "divide", "num2": 4}]}
ERRORS = {"/predict": [({"num1": 1, "operation": "divide", "num2": 0}, "Cannot divide by zero!")]}
