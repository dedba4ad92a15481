"""An app launched with Gradio's `auth=` (its own username and password page), called through `Space(auth=...)`.

A real Gradio app with a login on 127.0.0.1: compose signs in as gradio_client's `auth=` does, every request of
every user carries the sign-in (schema, uploads, joins, data streams, file downloads), upstream sessions stay one per
end user, and a sign-in the app forgot (a logout of that user elsewhere) is made again without the caller noticing.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from gradio_client import Client
from outer import serve
from raw_server import RawSocketServer, json_answer, read_request
from typer.testing import CliRunner

import compose
from compose.apps.cli import app as cli

USER, PASSWORD = "ada", "correct horse battery"


def _app() -> gr.Blocks:
    with gr.Blocks() as demo:
        gr.Image(value=np.full((4, 4, 3), 90, dtype=np.uint8), label="banner")
        text, out, count = gr.Textbox(), gr.Textbox(), gr.State(0)

        def greet(name: str, n: int, request: gr.Request) -> tuple[str, int]:
            return f"{name}, from {request.username}, call {n + 1}", n + 1

        gr.Button().click(greet, [text, count], [out, count], api_name="greet")
        def leak(request: gr.Request) -> str:
            raise gr.Error(f"your cookie: {request.headers.get('cookie')}")  # an app that echoes its request

        gr.Button().click(leak, None, out, api_name="leak")
        given, back = gr.File(), gr.File()
        gr.Button().click(lambda path: path, given, back, api_name="echo_file")
    return demo


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(_app(), auth=(USER, PASSWORD)) as address:
        yield address


Make = Callable[..., compose.Space]  # conftest's make_space: Spaces closed when the test ends


def test_calls_are_signed_in_and_sessions_stay_per_user(url: str, make_space: Make) -> None:
    greet = make_space(url, auth=(USER, PASSWORD)).endpoint("/greet")
    with compose.identity(session="first user"):
        assert greet.predict("Hi") == f"Hi, from {USER}, call 1"
        assert greet.predict("Hi") == f"Hi, from {USER}, call 2"
    with compose.identity(session="second user"):
        assert greet.predict("Hello") == f"Hello, from {USER}, call 1"  # their own gr.State
    # What gradio_client's own auth= gets from the same app.
    reference = Client(url, auth=(USER, PASSWORD), verbose=False)
    assert reference.predict("Hi", api_name="/greet") == f"Hi, from {USER}, call 1"


def test_files_go_up_and_come_back_signed_in(url: str, tmp_path: Path, make_space: Make) -> None:
    sent = tmp_path / "notes.txt"
    sent.write_text("signed in")
    back = make_space(url, auth=(USER, PASSWORD), allowed_paths=[tmp_path]).endpoint("/echo_file").predict(str(sent))
    assert Path(back).read_text() == "signed in" and Path(back) != sent


def test_a_wrong_password_names_the_account_and_never_the_password(url: str, make_space: Make) -> None:
    wrong = "not the password at all"
    with pytest.raises(compose.ConfigError, match="refused the sign-in of 'ada'") as e:
        make_space(url, auth=(USER, wrong)).endpoint("/greet")
    assert url in str(e.value) and wrong not in str(e.value)


def test_the_sign_in_token_never_shows_in_an_error(url: str, make_space: Make) -> None:
    space = make_space(url, auth=(USER, PASSWORD))
    with pytest.raises(compose.AppError, match="your cookie") as e:
        space.endpoint("/leak").predict()
    cookie = space.upstream.login.cookie  # type: ignore[union-attr]
    assert cookie
    tokens = {part.split("=", 1)[1] for part in cookie.split("; ")}
    assert tokens and not any(token in str(e.value) for token in tokens)


def test_an_app_behind_a_login_without_auth_says_what_to_pass(url: str, make_space: Make) -> None:
    # Gradio's own 401 body is what tells a login from "no Gradio app there" (pins gradio's login_check answer).
    with pytest.raises(compose.ConfigError, match=r"asks for a login.*auth=\(username, password\)"):
        make_space(url).endpoint("/greet")


def test_a_schema_cached_under_a_sign_in_is_not_read_without_it(url: str, make_space: Make) -> None:
    make_space(url, auth=(USER, PASSWORD)).load()
    # The disk cache holds the schema now; a Space object without the login must still be told to sign in, not
    # handed the schema and then refused at its first call.
    with pytest.raises(compose.ConfigError, match="asks for a login"):
        make_space(url).endpoint("/greet")
    # The same account in a new Space object (a restarted script) reads it from disk, and signs in before calling.
    again = make_space(url, auth=(USER, PASSWORD))
    assert again.endpoint("/greet").predict("Back") == f"Back, from {USER}, call 1"
    assert again.upstream.from_disk


def test_a_sign_in_the_app_forgot_is_made_again(url: str, make_space: Make) -> None:
    space = make_space(url, auth=(USER, PASSWORD))
    greet = space.endpoint("/greet")
    with compose.identity(session="stays"):
        assert greet.predict("One") == f"One, from {USER}, call 1"
        # The same account logs out in a browser: Gradio forgets every token of that user, compose's too.
        with httpx.Client(base_url=url) as browser:
            assert browser.post("/login", data={"username": USER, "password": PASSWORD}).status_code == 200
            browser.get("/logout")
        assert httpx.get(f"{url}/config", headers={"cookie": space.upstream.login.cookie or ""}
                         ).status_code == 401  # type: ignore[union-attr]
        assert greet.predict("Two") == f"Two, from {USER}, call 2"  # signed in again; the session is kept


def test_a_download_after_the_app_forgot_the_sign_in_signs_in_again(url: str, make_space: Make) -> None:
    space = make_space(url, auth=(USER, PASSWORD))
    space.load()  # signed in
    with httpx.Client(base_url=url) as browser:  # the same account logs out in a browser: the token is forgotten
        assert browser.post("/login", data={"username": USER, "password": PASSWORD}).status_code == 200
        browser.get("/logout")
    # The banner of the app's layout is the first request after that: a download, refused, then made signed in.
    with gr.Blocks() as demo:
        space.render()
    (banner,) = [b for b in demo.blocks.values() if getattr(b, "label", None) == "banner"]
    assert banner.value is not None and Path(banner.value["path"]).stat().st_size > 0  # type: ignore[attr-defined]


def test_a_handler_of_a_signed_in_space_serves_the_outer_apps_visitors(url: str, make_space: Make) -> None:
    space = make_space(url, auth=(USER, PASSWORD))
    with gr.Blocks() as outer_app:
        name, greeting = gr.Textbox(), gr.Textbox()
        gr.Button().click(space.endpoint("/greet").handler(), name, greeting, api_name="greet")
    with serve(outer_app) as outer_url:
        visitor = Client(outer_url, verbose=False)
        assert visitor.predict("Grace", api_name="/greet") == f"Grace, from {USER}, call 1"
        assert visitor.predict("Grace", api_name="/greet") == f"Grace, from {USER}, call 2"


def test_the_whole_app_renders_with_its_pictures_signed_in(url: str, make_space: Make) -> None:
    # The banner is a file of the app behind the login: fetched signed in, also when the schema came from disk
    # (the second Space object: nothing has signed it in before it fetches the banner).
    for _ in range(2):
        with gr.Blocks() as demo:
            make_space(url, auth=(USER, PASSWORD)).render()
        (banner,) = [b for b in demo.blocks.values() if getattr(b, "label", None) == "banner"]
        assert banner.value is not None and Path(banner.value["path"]).stat().st_size > 0  # type: ignore[attr-defined]


def test_auth_must_be_a_username_and_password() -> None:
    for bad in ("ada:pw", ("ada",), ("", "pw"), ("ada", None)):
        with pytest.raises(compose.ConfigError, match="auth must be"):
            compose.Space("http://127.0.0.1:9", auth=bad)  # type: ignore[arg-type]


def test_the_command_line_signs_in_from_the_environment(url: str) -> None:
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "COMPOSE_AUTH": f"{USER}:{PASSWORD}"})
    result = runner.invoke(cli, ["call", url, "/greet", "Ada", "--json"])
    assert result.exit_code == 0, result.output
    assert f"from {USER}" in result.output
    refused = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "COMPOSE_AUTH": None}).invoke(cli, ["inspect", url])
    assert refused.exit_code != 0 and "auth=" in refused.output


def test_a_sign_in_answer_cannot_make_compose_carry_a_huge_cookie(make_space: Make) -> None:
    # A hostile "login" that answers with an 8 KiB token and a hundred more cookies: compose keeps none of them (a
    # token rides along with every request), and says that the sign-in gave it no token.
    def script(conn: socket.socket, number: int) -> None:
        with contextlib.suppress(ConnectionError):
            read_request(conn)
            cookies = b"".join(b"Set-Cookie: access-token-%d=%s\r\n" % (i, b"t" * 8192) for i in range(100))
            conn.sendall(json_answer({"success": True}, extra_headers=cookies))

    server = RawSocketServer(script)
    try:
        with pytest.raises(compose.SpaceUnavailable, match="set no access token"):
            make_space(server.url, auth=(USER, PASSWORD), retries=0).endpoint("/greet")
    finally:
        server.close()
