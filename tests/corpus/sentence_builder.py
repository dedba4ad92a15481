"""gradio demo/sentence_builder: Slider, Dropdown, CheckboxGroup, Checkbox, Radio, a multiselect Dropdown."""

import gradio as gr


def sentence_builder(quantity: int, animal: str, countries: list[str], place: str, activity_list: list[str],
                     morning: bool) -> str:
    return f"""The {quantity} {animal}s from {" and ".join(countries)} went to the {place} where they \
{" and ".join(activity_list)} until the {"morning" if morning else "night"}"""


demo = gr.Interface(
    sentence_builder,
    [
        gr.Slider(2, 20, value=4, step=1, label="Count", info="Choose between 2 and 20"),
        gr.Dropdown(["cat", "dog", "bird"], label="Animal", info="Will add more animals later!"),
        gr.CheckboxGroup(["USA", "Japan", "Pakistan"], label="Countries", info="Where are they from?"),
        gr.Radio(["park", "zoo", "road"], label="Location", info="Where did they go?"),
        gr.Dropdown(["ran", "swam", "ate", "slept"], value=["swam", "slept"], multiselect=True, label="Activity",
                    info="Lorem ipsum dolor sit amet"),
        gr.Checkbox(label="Morning", info="Did they do it in the morning?"),
    ],
    "text",
    examples=[[2, "cat", ["Japan", "Pakistan"], "park", ["ate", "swam"], True],
              [4, "dog", ["Japan"], "zoo", ["ate", "swam"], False]],
    api_name="predict",
)

CALLS = {"/predict": [{"quantity": 2, "animal": "cat", "countries": ["Japan"], "place": "park",
                       "activity_list": ["ate"], "morning": True}]}
