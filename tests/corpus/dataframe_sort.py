"""gradio demo/filter_records-style: a Dataframe in and out, with headers and types."""

import gradio as gr
import pandas as pd


def sort_records(records: pd.DataFrame, column: str) -> pd.DataFrame:
    return records.sort_values(column, ascending=False)


demo = gr.Interface(
    sort_records,
    [gr.Dataframe(headers=["name", "age"], datatype=["str", "number"], value=[["Ann", 31], ["Bo", 45]],
                  label="Records"),
     gr.Radio(["name", "age"], value="age", label="Sort by")],
    gr.Dataframe(label="Sorted"),
    examples=[[[["Cy", 20], ["Di", 70]], "age"]],
    api_name="sort",
)

CALLS = {"/sort": [{"records": {"headers": ["name", "age"], "data": [["Ann", 31], ["Bo", 45]]}, "column": "age"}]}
