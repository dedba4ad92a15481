"""Translator: text in, text out (a phrase book, so it runs offline and answers deterministically)."""

import gradio as gr

PHRASES = {
    "French": {"good morning": "bonjour", "good night": "bonne nuit", "thank you": "merci", "hello": "bonjour",
               "goodbye": "au revoir", "cat": "chat", "dog": "chien", "friend": "ami", "water": "eau",
               "the": "la", "answer": "réponse", "is": "est"},
    "Spanish": {"good morning": "buenos días", "good night": "buenas noches", "thank you": "gracias",
                "hello": "hola", "goodbye": "adiós", "cat": "gato", "dog": "perro", "friend": "amigo", "water": "agua",
                "the": "la", "answer": "respuesta", "is": "es"},
    "German": {"good morning": "guten Morgen", "good night": "gute Nacht", "thank you": "danke", "hello": "hallo",
               "goodbye": "auf Wiedersehen", "cat": "Katze", "dog": "Hund", "friend": "Freund", "water": "Wasser",
               "the": "die", "answer": "Antwort", "is": "ist"},
}


def translate(text: str, target_language: str = "French") -> str:
    """Translate an English phrase into another language.

    Args:
        text: the English text to translate.
        target_language: the language to translate into.
    """
    book = PHRASES[target_language]
    phrase = text.strip().strip("'\"").lower()
    if phrase in book:
        return book[phrase]
    return " ".join(book.get(word, word) for word in phrase.split())


def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: the text whose words to count.
    """
    return len(text.split())


with gr.Blocks(title="Translator") as demo:
    text = gr.Textbox(label="Text", value="good morning")
    language = gr.Radio(list(PHRASES), value="French", label="Target language")
    out = gr.Textbox(label="Translation")
    gr.Button("Translate").click(translate, [text, language], out, api_name="translate")
    count = gr.Number(label="Words", precision=0)
    gr.Button("Count words").click(word_count, text, count, api_name="word_count")

if __name__ == "__main__":
    demo.launch(mcp_server=True)  # the MCP schema publishes each argument's docstring line
