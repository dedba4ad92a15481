"""gradio demo/chatbot_retry / chatbot_undo / chatbot_core_components-style: like, retry and undo."""

import gradio as gr


def respond(message: str, history: list) -> tuple[str, list]:
    history = [*history, {"role": "user", "content": message},
               {"role": "assistant", "content": f"You said {len(message)} characters."}]
    return "", history


def vote(data: gr.LikeData) -> str:
    return f"{'up' if data.liked else 'down'} on message {data.index}"


def retry(history: list, data: gr.RetryData) -> list:
    return history[: data.index]


def undo(history: list, data: gr.UndoData) -> list:
    return history[: data.index]


with gr.Blocks() as demo:
    chatbot = gr.Chatbot(label="Chat", feedback_options=("Like", "Dislike"))
    box = gr.Textbox(label="Message")
    votes = gr.Textbox(label="Votes")
    box.submit(respond, [box, chatbot], [box, chatbot], api_name="respond")
    chatbot.like(vote, None, votes)
    chatbot.retry(retry, chatbot, chatbot)
    chatbot.undo(undo, chatbot, chatbot)

CALLS = {"/respond": [{"message": "hello", "history": []}]}
