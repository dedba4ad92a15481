"""The guard on model-chosen file and URL arguments: every exfiltration attempt is refused with UnsafeInput and
nothing reaches the upstream; files under the allowed roots go up; text stays text."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from scripted import ScriptedModel
from smolagents import ToolCallingAgent
from smolagents.memory import ActionStep
from smolagents.monitoring import LogLevel
from smolagents.utils import AgentToolExecutionError
from uploads import upstream_has

import compose
from compose.agent.tools import SpaceTool
from compose.apps.processes import LocalSpace

META = {"_type": "gradio.FileData"}


@dataclass
class Env:
    """An allowed root with traps in it, and a secret outside it."""

    root: Path
    secret: Path
    content: bytes


@pytest.fixture
def env(tmp_path: Path) -> Env:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    content = f"secret-{uuid.uuid4().hex}".encode()
    secret = outside / "secret.txt"
    secret.write_bytes(content)
    (root / "link.txt").symlink_to(secret)  # a symlink inside the root pointing outside
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(root / "fifo")
    (root / "big.txt").write_bytes(content * 64)  # over the small cap below
    return Env(root, secret, content)


class Upstream:
    """An upstream app's upload folder, to tell whether anything arrived there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.before = self.files()

    def files(self) -> set[Path]:
        return {p for p in self.folder.rglob("*") if p.is_file()}

    def new_files(self) -> set[Path]:
        return self.files() - self.before

    def holds(self, content: bytes) -> bool:
        return upstream_has(self.folder, content)


@pytest.fixture
def media_uploads(local_spaces: dict[str, LocalSpace]) -> Iterator[Upstream]:
    yield Upstream(local_spaces["media"].temp_dir)


@pytest.fixture
def translator_uploads(local_spaces: dict[str, LocalSpace]) -> Iterator[Upstream]:
    yield Upstream(local_spaces["translator"].temp_dir)


def file_data(path: str) -> dict[str, Any]:
    return {"path": path, "meta": dict(META)}


def chat_with_file(path: str) -> list[dict[str, Any]]:
    """A chat history whose user message carries a file: a FileData dict nested in a non-file argument."""
    return [{"role": "user", "content": [{"type": "text", "text": "see attached"},
                                         {"type": "file", "file": file_data(path)}]}]


# Each attack: (endpoint, argument name, value built from the Env, the reason the refusal gives).
Attack = tuple[str, str, Callable[[Env], Any], str]
ATTACKS: dict[str, Attack] = {
    "etc-passwd": ("/file_info", "file", lambda e: "/etc/passwd", "not a file this user uploaded"),
    "secret-outside-root": ("/file_info", "file", lambda e: str(e.secret), "not a file this user uploaded"),
    "relative-path": ("/file_info", "file", lambda e: "../outside/secret.txt", "not a file this user uploaded"),
    "file-url": ("/file_info", "file", lambda e: f"file://{e.secret}", "file:// URLs are not accepted"),
    "dotdot-escape": ("/file_info", "file", lambda e: f"{e.root}/sub/../../outside/secret.txt",
                      "not a file this user uploaded"),
    "symlink-to-file-outside": ("/file_info", "file", lambda e: str(e.root / "link.txt"),
                                "not a file this user uploaded"),
    "symlinked-dir-outside": ("/file_info", "file", lambda e: str(e.root / "linked_dir" / "secret.txt"),
                              "not a file this user uploaded"),
    "fifo": ("/file_info", "file", lambda e: str(e.root / "fifo"), "not a regular file"),
    "device": ("/file_info", "file", lambda e: "/dev/zero", "not a file this user uploaded"),
    "oversized": ("/file_info", "file", lambda e: str(e.root / "big.txt"), "over the limit of 64"),
    "file-data-dict": ("/file_info", "file", lambda e: file_data(str(e.secret)), "not a file this user uploaded"),
    "image-outside-root": ("/invert", "image", lambda e: str(e.secret), "not a file this user uploaded"),
    "nested-in-chat-history": ("/chat", "history", lambda e: chat_with_file(str(e.secret)),
                               "not a file this user uploaded"),
    "nested-dotdot-in-chat": ("/chat", "history", lambda e: chat_with_file(f"{e.root}/../outside/secret.txt"),
                              "not a file this user uploaded"),
    "nested-metadata-url": ("/chat", "history", lambda e: chat_with_file("http://169.254.169.254/latest/meta-data"),
                            "not a public address"),
    "loopback": ("/file_info", "file", lambda e: "http://127.0.0.1:7860/gradio_api/file=/etc/passwd",
                 "not a public address"),
    "localhost": ("/file_info", "file", lambda e: "http://localhost/secret", "local or metadata host"),
    "private": ("/file_info", "file", lambda e: "http://10.0.0.1/secret", "not a public address"),
    "link-local-metadata": ("/file_info", "file", lambda e: "http://169.254.169.254/latest/meta-data/",
                            "not a public address"),
    "ipv6-loopback": ("/file_info", "file", lambda e: "http://[::1]/secret", "not a public address"),
    "ipv4-mapped-ipv6": ("/file_info", "file", lambda e: "http://[::ffff:127.0.0.1]/", "not a public address"),
    "decimal-loopback": ("/file_info", "file", lambda e: "http://2130706433/", "not a public address"),
    "metadata-hostname": ("/invert", "image", lambda e: "http://metadata.google.internal/computeMetadata/v1/",
                          "local or metadata host"),
    "nul-byte": ("/file_info", "file", lambda e: f"{e.root}/ok.txt\x00/../../etc/passwd", "NUL byte"),
    "nested-nul-byte": ("/chat", "history", lambda e: chat_with_file(f"{e.root}/ok.txt\x00"), "NUL byte"),
    "not-http": ("/file_info", "file", lambda e: "ftp://example.com/secret", "not a file this user uploaded"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_exfiltration_attempt_is_refused_and_nothing_is_uploaded(attack: str, media: compose.Space, env: Env,
                                                                 media_uploads: Upstream) -> None:
    api_name, argument, build, reason = ATTACKS[attack]
    tool = SpaceTool(media.endpoint(api_name), roots=(env.root,), max_file_bytes=64)
    with pytest.raises(compose.UnsafeInput, match=reason):
        tool(**{argument: build(env)})
    assert media_uploads.new_files() == set()
    assert not media_uploads.holds(env.content)


def test_a_device_inside_an_allowed_root_is_still_refused(media: compose.Space, media_uploads: Upstream) -> None:
    tool = SpaceTool(media.endpoint("/file_info"), roots=(Path("/dev"),))
    with pytest.raises(compose.UnsafeInput, match="not a regular file"):
        tool(file="/dev/zero")
    assert media_uploads.new_files() == set()


def test_an_agent_sees_each_refusal_and_nothing_is_uploaded(media: compose.Space, env: Env,
                                                            media_uploads: Upstream) -> None:
    tools = [SpaceTool(media.endpoint(api), roots=(env.root,)) for api in ("/file_info", "/chat")]
    attempts = [
        ("media_file_info", {"file": "/etc/passwd"}),
        ("media_file_info", {"file": str(env.root / "link.txt")}),
        ("media_file_info", {"file": "http://169.254.169.254/latest/meta-data/"}),
        ("media_chat", {"history": chat_with_file(str(env.secret))}),
    ]
    model = ScriptedModel([[call] for call in attempts] + [[("final_answer", {"answer": "refused"})]])
    agent = ToolCallingAgent(tools=tools, model=model, verbosity_level=LogLevel.OFF)
    assert agent.run("read the files") == "refused"

    steps = [s for s in agent.memory.steps if isinstance(s, ActionStep)][: len(attempts)]
    for step, (name, _) in zip(steps, attempts, strict=True):
        assert isinstance(step.error, AgentToolExecutionError)
        assert f"Error executing tool '{name}'" in str(step.error)
        assert "UnsafeInput" in str(step.error) and "refused" in str(step.error)
    assert "169.254.169.254 is not a public address" in str(model.seen[3])
    assert media_uploads.new_files() == set()
    assert not media_uploads.holds(env.content)


def test_files_under_the_allowed_root_are_uploaded(media: compose.Space, env: Env, media_uploads: Upstream) -> None:
    """The positive case, which also shows the upload checks above would see a leak."""
    mine = env.root / "sub" / "notes.txt"
    mine.write_bytes(env.content)
    info = SpaceTool(media.endpoint("/file_info"), roots=(env.root,))
    result = info(file=str(mine))
    assert result["Summary"] == f"notes.txt: {len(env.content)} bytes"
    assert Path(result["Report"]).read_text() == result["Summary"] + "\n"
    assert media_uploads.holds(env.content)

    # A file inside the root reached through `..` that stays inside is fine too, and so is one nested in a chat.
    again = info(file=f"{env.root}/sub/../sub/notes.txt")
    assert again["Summary"] == result["Summary"]
    history = SpaceTool(media.endpoint("/chat"), roots=(env.root,))(history=chat_with_file(str(mine)))
    sent = history[0]["content"][1]["file"]
    assert sent["orig_name"] == "notes.txt" and sent["path"] != str(mine)  # the upstream's copy, not our path
    assert history[-1]["content"][0]["text"].startswith("You said: see attached")


def test_a_text_argument_naming_a_file_is_sent_as_text(translator: compose.Space, env: Env,
                                                       translator_uploads: Upstream) -> None:
    mine = env.root / "notes.txt"
    mine.write_bytes(env.content)
    translate = SpaceTool(translator.endpoint("/translate"), roots=(env.root,))
    assert translate(text="/etc/passwd") == "/etc/passwd"
    assert translate(text=str(mine)) == str(mine).lower()  # even a file the guard would allow stays text
    assert translator_uploads.new_files() == set()
    assert not translator_uploads.holds(env.content)


def test_a_received_file_may_go_to_another_space_but_not_to_another_user(urls: dict[str, str],
                                                                          tmp_path: Path) -> None:
    """What a Space returned to this user (an AgentImage) is theirs to pass on, also to a different Space; another
    user's agent cannot send it, even knowing its path."""
    first = compose.Space(urls["media"], download_dir=tmp_path / "first")  # two Spaces, each with its own folder
    second = compose.Space(urls["media"], download_dir=tmp_path / "second")
    (tmp_path / "in").mkdir()
    Image.new("RGB", (3, 2), (255, 0, 0)).save(tmp_path / "in" / "red.png")
    invert = SpaceTool(first.endpoint("/invert"), roots=(tmp_path / "in",))
    describe = SpaceTool(second.endpoint("/file_info"))  # default roots: uploads and this user's received files

    run = uuid.uuid4().hex[:8]
    with compose.identity(session=f"alice-{run}"):
        image = invert(image=str(tmp_path / "in" / "red.png"))["Inverted"]
        assert (tmp_path / "first") in Path(image.to_string()).parents
        summary = describe(file=image)["Summary"]
        assert summary == f"{Path(image.to_string()).name}: {Path(image.to_string()).stat().st_size} bytes"
    with compose.identity(session=f"bob-{run}"), pytest.raises(compose.UnsafeInput, match="not a file this user"):
        describe(file=image.to_string())
