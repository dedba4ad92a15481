"""A conformance corpus: small Gradio apps shaped like real Spaces (after gradio's own demo/ folder).

Each module defines `demo` (a gr.Blocks, Interface or ChatInterface) and `CALLS`: for each public api_name, a list
of keyword-argument cases the harness sends both straight to the app (gradio_client) and through compose. Optional:
`ERRORS` (api_name → kwargs that make the app raise), `MCP = True` to serve it with gradio's MCP server, `I18N`.
`APPS` lists the module names; `serve.py` mounts them all in one server process.
"""

# A Space with Hugging Face OAuth enabled (gr.LoginButton): gradio wants these set, never calls the provider here.
OAUTH_ENV = {"SYSTEM": "spaces", "SPACE_ID": "compose/corpus", "OAUTH_CLIENT_ID": "corpus",
             "OAUTH_CLIENT_SECRET": "corpus", "OAUTH_SCOPES": "openid profile",
             "OPENID_PROVIDER_URL": "http://127.0.0.1:9"}

APPS = [
    "hello_world", "calculator", "sentence_builder", "chat_echo", "chat_streaming", "chat_multimodal",
    "blocks_flipper", "navbar", "multipage", "i18n_labels", "validators", "state_counter", "dataframe_sort",
    "datetime_shift", "chatbot_actions", "file_info", "image_filter", "login", "hidden_endpoints", "generator",
    "progress", "errors", "api_only", "markup", "json_results", "dropdown_empty", "tabbed_interface",
    "event_chain", "mcp_docstrings", "choices_pairs", "title_fill", "download",
]


def cases(name: str, variable: str = "CALLS") -> dict:
    """A module's literal test cases (CALLS, ERRORS, INVALID) without importing it (importing builds the app)."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).parent / f"{name}.py").read_text())
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == variable and node.value is not None:
            return ast.literal_eval(node.value)
    return {}
