"""The `compose` command line against the real local apps: inspect, call (streaming, files, errors) and deploy."""

from __future__ import annotations

import importlib.metadata
import json
import os
import pty
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from typer.testing import CliRunner

from compose.apps.cli import app

pytestmark = pytest.mark.timeout(30, func_only=True)

SPACES_DIR = Path(__file__).resolve().parent.parent / "spaces"
FOLDERS = sorted(p.name for p in SPACES_DIR.iterdir() if (p / "README.md").is_file())
GRADIO = importlib.metadata.version("gradio")

# Plain, wide output whatever the developer's terminal settings: what a pipe or a log file would receive.
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "FORCE_COLOR": None, "TTY_COMPATIBLE": None})


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any attempt to open a connection, or to reach the Hub, fails the command and is recorded."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[1:] or kwargs)[:200])
        raise OSError("network use in a test that must stay offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", refuse)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", refuse)
    return attempts


# --- inspect -------------------------------------------------------------------------------------------------------


def test_inspect_table_shows_endpoints_parameters_defaults_and_choices(urls: dict[str, str]) -> None:
    result = run("inspect", urls["calculator"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "/calculate" in out and "/stats" in out
    assert "Apply an arithmetic operation to two numbers." in out
    row = next(line for line in out.splitlines() if " operation " in line)
    assert "Radio" in row and "add, subtract, multiply, divide" in row
    a_row = next(line for line in out.splitlines() if " a " in line and "Number" in line)
    assert " 12 " in a_row  # the remote default
    assert "Result" in out  # what it returns


def test_inspect_json_is_machine_readable(urls: dict[str, str]) -> None:
    result = run("inspect", urls["calculator"], "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    eps = {ep["name"]: ep for ep in info["endpoints"]}
    assert set(eps) == {"/calculate", "/stats"}
    calc = eps["/calculate"]
    assert calc["streams"] is False
    params = {p["name"]: p for p in calc["parameters"]}
    assert list(params) == ["a", "operation", "b"]
    assert params["operation"]["choices"] == ["add", "subtract", "multiply", "divide"]
    assert (params["operation"]["default"], params["operation"]["component"]) == ("add", "Radio")
    assert (params["a"]["default"], params["a"]["required"], params["a"]["type"]) == (12, False, "float")
    assert [r["label"] for r in eps["/stats"]["returns"]] == ["Sum", "Mean", "Max"]

    streaming = json.loads(run("inspect", urls["streaming"], "--json").stdout)
    count_up = next(ep for ep in streaming["endpoints"] if ep["name"] == "/count_up")
    assert count_up["streams"] is True
    n = count_up["parameters"][0]
    assert (n["name"], n["component"], n["min"], n["max"]) == ("n", "Slider", 1, 50)


def test_inspect_of_an_unreachable_app_fails_cleanly() -> None:
    result = run("inspect", "http://127.0.0.1:1/nothing-here")
    assert result.exit_code == 1
    assert "error:" in result.stderr and "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.output


# --- call ----------------------------------------------------------------------------------------------------------


def test_call_with_positional_arguments_and_param(urls: dict[str, str]) -> None:
    result = run("call", urls["translator"], "/translate", "good night", "--param", "target_language=German")
    assert result.exit_code == 0, result.output
    assert result.stdout == "gute Nacht\n"
    result = run("call", urls["translator"], "translate", "thank you", "Spanish")
    assert (result.exit_code, result.stdout) == (0, "gracias\n")
    # Text parameters keep exactly what was typed, even when it looks like JSON.
    assert run("call", urls["translator"], "/word_count", "-p", "text=1 2 3 4").stdout == "4\n"


def test_call_json_output_parses(urls: dict[str, str]) -> None:
    # "12" and "3" are coerced to numbers for the Number parameters; the Radio takes the choice as typed.
    result = run("call", urls["calculator"], "/calculate", "12", "multiply", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == 36
    result = run("call", urls["calculator"], "/stats", "--param", "numbers=4, 8, 6", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"Sum": 18, "Mean": 6, "Max": 8}


def test_streaming_call_prints_every_partial_output_in_order(urls: dict[str, str]) -> None:
    result = run("call", urls["streaming"], "/count_up", "3", "--param", "delay=0.05")
    assert result.exit_code == 0, result.output
    # "1", then " 2", then " 3": each new part once, in order, ending the line.
    assert result.stdout == "1 2 3\n"
    result = run("call", urls["streaming"], "/count_up", "3", "--param", "delay=0.05", "--json")
    assert json.loads(result.stdout) == "1 2 3"


def test_streaming_call_shows_outputs_before_the_call_ends(urls: dict[str, str]) -> None:
    # Through the real console entry point and a pipe: the first number must arrive on its own, while the
    # generator is still sleeping before the next one.
    proc = subprocess.Popen(
        [sys.executable, "-m", "compose.apps.cli", "call", urls["streaming"], "/count_up", "3", "--param", "delay=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert proc.stdout is not None
        first = os.read(proc.stdout.fileno(), 1024)
        assert first == b"1", first  # not "1 2 3" all at once at the end
        rest, _ = proc.communicate(timeout=20)  # bounded, unlike a bare read() to EOF
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert first + rest == b"1 2 3\n"


def test_call_saves_output_files_and_prints_their_paths(urls: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "notes.txt"
    src.write_text("twelve bytes")
    out_dir = tmp_path / "out"
    result = run("call", urls["media"], "/file_info", str(src), "--output-dir", str(out_dir))
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    saved = Path(lines["Report"])
    assert saved.is_file() and saved.parent == out_dir.resolve()  # in the folder itself, under its own name
    assert saved.read_text() == "notes.txt: 12 bytes\n"
    assert lines["Summary"] == "notes.txt: 12 bytes"
    assert str(saved) in result.stderr  # "saved Report: <path>"

    as_json = json.loads(run("call", urls["media"], "/file_info", str(src), "-o", str(out_dir), "--json").stdout)
    again = Path(as_json["Report"])
    assert again.read_text() == "notes.txt: 12 bytes\n"
    assert again.parent == out_dir.resolve() and again != saved  # the first one is not overwritten
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([saved.name, again.name])  # nothing else left


def test_on_a_terminal_a_saved_file_is_named_once(urls: dict[str, str], tmp_path: Path) -> None:
    # stdout and stderr on one terminal, as a user runs it: the result line already names the file, so the
    # "saved" line (meant for when stdout is piped away) would only repeat it.
    src = tmp_path / "notes.txt"
    src.write_text("twelve bytes")
    out_dir = tmp_path / "out"
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "compose.apps.cli", "call", urls["media"], "/file_info", str(src),
                             "-o", str(out_dir)], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "400"})
    os.close(follower)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process closed its end of the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(20) == 0, seen
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    (saved,) = list(out_dir.iterdir())
    assert seen.decode(errors="replace").count(saved.name) == 1, seen


def test_app_error_exits_1_with_the_remote_message(urls: dict[str, str]) -> None:
    result = run("call", urls["calculator"], "/calculate", "1", "divide", "0")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Cannot divide by zero." in result.stderr
    assert "/calculate" in result.stderr and urls["calculator"] in result.stderr
    assert "Traceback" not in result.output


def test_unknown_endpoint_is_a_usage_error_listing_the_available_ones(urls: dict[str, str]) -> None:
    result = run("call", urls["calculator"], "/nope")
    assert result.exit_code == 2
    assert "/nope" in result.stderr and "/calculate" in result.stderr and "/stats" in result.stderr


def test_bad_arguments_name_the_parameter_and_send_nothing(urls: dict[str, str], tmp_path: Path) -> None:
    result = run("call", urls["calculator"], "/calculate", "1", "divide", "zero")
    assert result.exit_code == 2
    assert "'b'" in result.stderr and "zero" in result.stderr
    result = run("call", urls["calculator"], "/calculate", "--param", "c=1")
    assert result.exit_code == 2 and "'c'" in result.stderr and "a, operation, b" in result.stderr
    result = run("call", urls["media"], "/file_info", str(tmp_path / "missing.txt"))
    assert result.exit_code == 2 and "'file'" in result.stderr and "missing.txt" in result.stderr


# --- deploy --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS)
def test_deploy_dry_run_passes_for_every_space_folder(folder: str, no_network: list[str]) -> None:
    result = run("deploy", str(SPACES_DIR / folder), "--space-id", f"someone/{folder}", "--dry-run")
    assert result.exit_code == 0, result.output
    for check in ("sdk", "sdk_version", "app_file", "requirements.txt", "app imports"):
        assert f"✓ {check}:" in result.stdout
    assert "nothing was uploaded" in result.stdout
    assert no_network == []


def _broken_copy(tmp_path: Path, name: str = "calculator") -> Path:
    target = tmp_path / name
    shutil.copytree(SPACES_DIR / name, target)
    return target


def test_deploy_dry_run_fails_on_a_wrong_sdk_version(tmp_path: Path, no_network: list[str]) -> None:
    folder = _broken_copy(tmp_path)
    readme = folder / "README.md"
    readme.write_text(readme.read_text().replace(f"sdk_version: {GRADIO}", "sdk_version: 4.44.1"))
    result = run("deploy", str(folder), "--space-id", "someone/calculator", "--dry-run")
    assert result.exit_code == 1
    assert "✗ sdk_version:" in result.stdout
    assert "4.44.1" in result.stderr and GRADIO in result.stderr and "sdk_version" in result.stderr
    assert no_network == []


def test_deploy_checks_requirements_against_what_the_app_imports(tmp_path: Path, no_network: list[str]) -> None:
    folder = _broken_copy(tmp_path)
    app_py = folder / "app.py"
    app_py.write_text("import compose\nimport not_a_module_anyone_has\n" + app_py.read_text())
    # --no-vendor: the Space is to install compose from requirements.txt, so that file must name it.
    result = run("deploy", str(folder), "--space-id", "someone/calculator", "--dry-run", "--no-vendor")
    assert result.exit_code == 1
    assert "✗ requirements.txt:" in result.stdout and "gradio-compose" in result.stderr
    assert "✗ app imports:" in result.stdout and "not_a_module_anyone_has" in result.stdout

    # A composed app that lists the library (here by URL) and imports cleanly passes.
    app_py.write_text(app_py.read_text().replace("import not_a_module_anyone_has\n", ""))
    (folder / "requirements.txt").write_text(
        f"gradio=={GRADIO}\ngradio-compose @ git+https://github.com/example/gradio-compose\n")
    result = run("deploy", str(folder), "--space-id", "someone/calculator", "--dry-run", "--no-vendor")
    assert result.exit_code == 0, result.output
    assert no_network == []


def test_deploy_without_a_token_fails_before_any_network(monkeypatch: pytest.MonkeyPatch,
                                                         no_network: list[str]) -> None:
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # no stored login either
    result = run("deploy", str(SPACES_DIR / "calculator"), "--space-id", "someone/calculator")
    assert result.exit_code == 1
    assert "token" in result.stderr and "--dry-run" in result.stderr
    assert no_network == []


def test_deploy_uploads_with_the_token_and_never_prints_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    secret = "hf_not_a_real_token_0123456789"

    def record(name: str) -> Any:
        def method(self: huggingface_hub.HfApi, *args: Any, **kwargs: Any) -> None:
            assert self.token == secret
            calls.append((name, {"args": args, **kwargs}))
        return method

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", record("create_repo"))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", record("upload_folder"))
    folder = SPACES_DIR / "translator"
    result = run("deploy", str(folder), "--space-id", "someone/translator", "--token", secret)
    assert result.exit_code == 0, result.output
    assert [name for name, _ in calls] == ["create_repo", "upload_folder"]
    create, upload = calls[0][1], calls[1][1]
    assert create["args"] == ("someone/translator",)
    assert (create["repo_type"], create["space_sdk"], create["exist_ok"]) == ("space", "gradio", True)
    assert (upload["repo_id"], upload["repo_type"], upload["folder_path"]) == ("someone/translator", "space",
                                                                               str(folder))
    assert "https://huggingface.co/spaces/someone/translator" in result.stdout
    assert secret not in result.output


def test_an_app_that_imports_compose_is_deployed_with_compose_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    """gradio-compose need not be on PyPI for a composed app to build: the upload carries compose itself and
    requirements.txt lists compose's own dependencies instead of it."""
    uploaded: dict[str, Any] = {}

    def upload(self: huggingface_hub.HfApi, *args: Any, folder_path: str, **kwargs: Any) -> None:
        root = Path(folder_path)  # a staging copy, gone after the command: look at it now
        uploaded.update(files=sorted(p.name for p in root.iterdir()),
                        package=(root / "compose" / "__init__.py").is_file(),
                        requirements=(root / "requirements.txt").read_text())

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, *a, **k: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload)
    folder = SPACES_DIR / "agent-chat"
    before = (folder / "requirements.txt").read_text()
    result = run("deploy", str(folder), "--space-id", "someone/chat", "--token", "hf_x")
    assert result.exit_code == 0, result.output
    assert "compose vendored" in result.stdout
    assert uploaded["package"] and {"app.py", "README.md", "requirements.txt", "compose"} <= set(uploaded["files"])
    requirements = uploaded["requirements"].splitlines()
    assert not any(line.startswith("gradio-compose") for line in requirements)
    assert f"gradio=={GRADIO}" in requirements and any(line.startswith("httptools") for line in requirements)
    assert (folder / "requirements.txt").read_text() == before  # the developer's folder is left as it was
    assert not (folder / "compose").exists()

    uploaded.clear()
    result = run("deploy", str(folder), "--space-id", "someone/chat", "--token", "hf_x", "--no-vendor")
    assert result.exit_code == 0, result.output
    assert not uploaded["package"] and uploaded["requirements"] == before


def test_a_failed_upload_is_reported_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hf_not_a_real_token_0123456789"

    def fail(self: huggingface_hub.HfApi, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"401 Unauthorized for token {secret}")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", fail)
    folder = SPACES_DIR / "translator"
    result = run("deploy", str(folder), "--space-id", "someone/translator", "--token", secret)
    assert result.exit_code == 1
    assert "upload to someone/translator failed" in result.stderr and "401" in result.stderr
    assert secret not in result.output


def test_deploy_rejects_a_malformed_space_id() -> None:
    result = run("deploy", str(SPACES_DIR / "calculator"), "--space-id", "just-a-name", "--dry-run")
    assert result.exit_code == 2 and "owner/name" in result.stderr


def test_nothing_listening_says_so_plainly() -> None:
    from compose.apps.processes import free_port

    result = run("call", f"http://127.0.0.1:{free_port()}", "/predict", "hi")
    assert result.exit_code == 1
    assert "connection refused (nothing listens there)" in result.stderr
    assert "ssl:default" not in result.stderr  # aiohttp's wording, which named an SSL setting for plain http
