"""The `compose` command line: inspect and call remote Gradio apps, deploy a spaces/ folder, run the demo.

Usage:
    compose inspect owner/name [--json]
    compose call owner/name /predict "hello" --param target_language=French [--json]
    compose deploy spaces/calculator --space-id owner/calculator [--dry-run]
    compose demo [--host 127.0.0.1] [--port 7860] [--spaces a/b,c/d] [--model router] [--verbose]

Exit codes: 0 success, 1 the call or deploy failed, 2 a usage error (bad arguments, unknown endpoint, bad source).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from ..errors import AppError, ComposeError, ConfigError, InvalidArguments
from ..schema import output_labels

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ..endpoint import Endpoint
    from ..schema import Parameter, Return
    from ..space import Space
    from ..updates import Update

__all__ = ["app", "coerce", "parse_value"]

app = typer.Typer(
    name="compose",
    help="Use remote Gradio apps from the command line: inspect them, call them, deploy a spaces/ folder.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold a token
)


# --- output helpers -------------------------------------------------------------------------------------------------


def _err() -> Console:
    # Made per use so it writes to whatever sys.stderr is now (a test runner swaps it).
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _out() -> Console:
    return Console(soft_wrap=True, highlight=False)


def _write(text: str) -> None:
    """Plain text to stdout, flushed at once (streamed output must show as it arrives, unwrapped)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str, code: int = 1) -> NoReturn:
    _err().print(Text(f"error: {_one_line(message)}", style="bold red"))
    raise typer.Exit(code)


def _error_message(e: ComposeError, space: str = "", api_name: str = "") -> str:
    """One line naming the Space, the endpoint and the parameter when they are known."""
    if isinstance(e, AppError):
        where = " ".join(p for p in (e.space or space, e.api_name or api_name) if p)
        body = f"{e.title}: {e.message}" if e.title and e.title != "Error" else e.message
        return f"{where}: {body}" if where else body
    text = str(e)
    if space and space not in text:
        where = " ".join(p for p in (space, api_name) if p)
        text = f"{where}: {text}"
    parameter = getattr(e, "parameter", None)
    if parameter and repr(parameter) not in text:
        text += f" (parameter {parameter!r})"
    return text


def _exit_code(e: ComposeError) -> int:
    return 2 if isinstance(e, (InvalidArguments, ConfigError)) else 1


@contextmanager
def _errors(space: str = "", api_name: str = "") -> Iterator[None]:
    """Turn compose errors into a one-line red message and an exit code; Ctrl-C into exit 130."""
    try:
        yield
    except ComposeError as e:
        _fail(_error_message(e, space, api_name), _exit_code(e))
    except KeyboardInterrupt:
        _err().print(Text("cancelled", style="yellow"))
        raise typer.Exit(130) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(_jsonable(value), indent=indent, ensure_ascii=False, default=str)


def _text(value: Any) -> str:
    """How one output value reads on a terminal: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return _dumps(value)


def _as_list(value: Any, count: int) -> list[Any]:
    if count == 0:
        return []
    if count == 1:
        return [value]
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _render_result(value: Any, returns: tuple[Return, ...]) -> str:
    """A result as text: one output as its value, several as 'Label: value' lines."""
    if not returns:
        return "" if value is None else _text(value)
    values = _as_list(value, len(returns))
    if len(values) == 1:
        return _text(values[0])
    return "\n".join(f"{label}: {_text(v)}" for label, v in zip(output_labels(returns), values, strict=False))


def _result_json(value: Any, returns: tuple[Return, ...]) -> Any:
    """A result for --json: one output as its value, several as an object keyed by the output labels."""
    if len(returns) <= 1:
        return _jsonable(value)
    values = _as_list(value, len(returns))
    return {label: _jsonable(v) for label, v in zip(output_labels(returns), values, strict=False)}


def _files_in(value: Any, returns: tuple[Return, ...]) -> list[tuple[str, str]]:
    """(label, local path) of every file output that was saved."""
    found: list[tuple[str, str]] = []
    for label, r, v in zip(output_labels(returns), returns, _as_list(value, len(returns)), strict=False):
        if r.is_file and isinstance(v, str) and Path(v).is_file():
            found.append((label, str(Path(v).resolve())))
    return found


def _into(value: Any, returns: tuple[Return, ...], folder: Path) -> Any:
    """With --output-dir: each file output moved into `folder` itself under its own name (`name-2.ext` when that is
    taken), not compose's per-user and per-download folders below it; the result names the moved files."""
    moved: dict[str, str] = {}
    target = folder.resolve()
    for _, path in _files_in(value, returns):
        src = Path(path)
        if src.parent == target:
            continue
        dest = target / src.name
        n = 1
        while dest.exists():
            n += 1
            dest = target / f"{src.stem}-{n}{src.suffix}"
        shutil.move(src, dest)
        moved[path] = str(dest)
        with suppress(OSError):  # the emptied download folders under `folder` (up to a non-empty one)
            for parent in src.parents:
                if parent == target or target not in parent.parents:
                    break
                parent.rmdir()
    if not moved:
        return value
    values = [moved.get(str(Path(v).resolve()), v) if isinstance(v, str) else v
              for v in _as_list(value, len(returns))]
    return values[0] if len(returns) == 1 else tuple(values)


# --- argument parsing -----------------------------------------------------------------------------------------------


def parse_value(raw: str) -> Any:
    """A command-line value: JSON when it is valid JSON, else the string as typed."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


_TRUE, _FALSE = {"true", "yes", "y", "on", "1"}, {"false", "no", "n", "off", "0"}


def coerce(p: Parameter, raw: str) -> Any:
    """Turn the text typed for parameter `p` into the value its remote type expects.

    A file parameter given a local path or URL is wrapped in `compose.file()`: typing it is an explicit choice.
    Values that do not fit are passed on as parsed, and rejected (naming the parameter) before anything is sent.
    """
    from ..files import file, is_url

    parsed = parse_value(raw)
    schema = p.json_schema
    if p.is_file:
        if isinstance(parsed, dict):
            return parsed  # a FileData object given as JSON
        if is_url(raw):
            return file(raw)
        path = Path(raw).expanduser()
        if not path.is_file():
            raise InvalidArguments(f"parameter {p.name!r} expects a file; no such file: {raw!r}", parameter=p.name)
        return file(path)
    choices = p.choices
    if choices is not None:
        if raw in choices:
            return raw
        if parsed in choices:
            return parsed
        matches = [c for c in choices if isinstance(c, str) and c.lower() == raw.lower()]
        return matches[0] if len(matches) == 1 else raw
    kind = schema.get("type")
    if kind == "string":
        return raw  # text stays exactly as typed, even when it looks like JSON ("42", "true")
    if kind == "number":
        if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            return float(parsed)
        try:
            return float(raw)
        except ValueError:
            return parsed
    if kind == "integer":
        if isinstance(parsed, float) and parsed.is_integer():
            return int(parsed)
        return parsed
    if kind == "boolean":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        return parsed
    return parsed


def _bind(ep: Endpoint, args: list[str], params: list[str]) -> tuple[list[Any], dict[str, Any]]:
    by_name = {p.name: p for p in ep.parameters}
    positional = [coerce(ep.parameters[i], raw) if i < len(ep.parameters) else parse_value(raw)
                  for i, raw in enumerate(args)]
    named: dict[str, Any] = {}
    for item in params:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidArguments(f"--param expects name=value, got {item!r}")
        named[name] = coerce(by_name[name], raw) if name in by_name else parse_value(raw)
    return positional, named


# --- inspect --------------------------------------------------------------------------------------------------------


def _make_space(src: str, token: str | None, download_dir: Path | None = None, auth: str | None = None) -> Space:
    from ..space import Space

    sign_in: tuple[str, str] | None = None
    if auth is not None:
        username, colon, password = auth.partition(":")
        if not colon or not username:
            _fail("--auth takes USERNAME:PASSWORD (the login of an app launched with Gradio's auth=)")
        sign_in = (username, password)
    # No --token: the environment's (token=True), which Space sends to Hugging Face origins only.
    return Space(src, token=True if token is None else token, download_dir=download_dir, auth=sign_in)


# An app launched with Gradio's auth=: from the environment rather than the command line, where other users of the
# machine can read it (ps).
_AUTH_HELP = "USERNAME:PASSWORD for an app launched with Gradio's auth= (better: the COMPOSE_AUTH variable)."


def _param_json(p: Parameter) -> dict[str, Any]:
    cfg = p.component_config
    return {
        "name": p.name,
        "label": p.label,
        "type": p.type_name,
        "default": p.default,
        "required": p.required,
        "component": p.component,
        "choices": p.choices,
        "min": cfg.get("minimum"),
        "max": cfg.get("maximum"),
        "file": p.is_file,
        "description": p.description,
    }


def _return_json(r: Return) -> dict[str, Any]:
    return {"label": r.label, "component": r.component, "type": r.type_name, "file": r.is_file}


def describe(space: Space) -> dict[str, Any]:
    """A machine-readable description of a Space's public endpoints (what `compose inspect --json` prints)."""
    space.load()  # a Space id's URL is the Hub's answer: known once loaded
    return {
        "space": space.name,
        "url": space.url,
        "endpoints": [
            {
                "name": name,
                "description": ep.description,
                "streams": ep.streams,
                "parameters": [_param_json(p) for p in ep.parameters],
                "returns": [_return_json(r) for r in ep.returns],
            }
            for name, ep in space.endpoints.items()
        ],
    }


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_tables(info: dict[str, Any]) -> None:
    from rich.table import Table

    out = _out()
    count = len(info["endpoints"])
    where = "" if info["url"] == info["space"] else f"  {info['url']}"
    out.print(Text.assemble((info["space"], "bold"), f"{where}  ·  {count} endpoint{'s' * (count != 1)}"))
    for ep in info["endpoints"]:
        title = Text.assemble((ep["name"], "bold cyan"), (" (streams)" if ep["streams"] else "", "magenta"))
        table = Table(title=title, title_justify="left", caption=ep["description"] or None, caption_justify="left",
                      show_lines=False, expand=False)
        for column in ("parameter", "type", "default", "component", "choices / range"):
            table.add_column(column, overflow="fold")
        for p in ep["parameters"]:
            if p["choices"] is not None:
                allowed = ", ".join(str(c) for c in p["choices"])
            elif p["min"] is not None or p["max"] is not None:
                allowed = f"{p['min']} … {p['max']}"
            else:
                allowed = ""
            default = Text("required", style="yellow") if p["required"] else Text(_short(p["default"]))
            if p["file"]:
                type_name = "file (local path or URL)"
            elif p["choices"] is not None:
                type_name = "one of the choices"
            else:
                type_name = _short(p["type"], 40)
            table.add_row(Text(p["name"], style="bold"), Text(type_name), default, Text(p["component"]),
                          Text(allowed))
        if not ep["parameters"]:
            table.add_row(Text("(none)", style="dim"), "", "", "", "")
        out.print()
        out.print(table)
        returns = ", ".join(f"{r['label']} ({r['component']}{', file' if r['file'] else ''}: {_short(r['type'], 50)})"
                            for r in ep["returns"]) or "nothing"
        out.print(Text("returns: ", style="dim") + Text(returns))


@app.command()
def inspect(
    src: Annotated[str, typer.Argument(help="A Space id (owner/name) or the URL of a Gradio app.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable description.")] = False,
    token: Annotated[str | None, typer.Option(help="Hugging Face token (default: HF_TOKEN or your login).",
                                              show_default=False)] = None,
    auth: Annotated[str | None, typer.Option(help=_AUTH_HELP, envvar="COMPOSE_AUTH", show_default=False,
                                             show_envvar=False)] = None,
) -> None:
    """List a Space's endpoints with their parameters, types, defaults and choices."""
    with _errors(src):
        space = _make_space(src, token, auth=auth)
        try:
            info = describe(space)
        finally:
            space.close()
    if as_json:
        _write(_dumps(info) + "\n")
    else:
        _print_tables(info)


# --- call -----------------------------------------------------------------------------------------------------------


class _Display:
    """The live view of one call: a progress line on stderr, outputs on stdout as they stream."""

    def __init__(self, ep: Endpoint, *, as_json: bool) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.err = _err()
        self.as_json = as_json
        self.returns = ep.returns
        self.stdout_tty = _out().is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        if self.err.is_terminal:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                     TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                     console=self.err, transient=True)
            self.task = self.progress.add_task(f"{ep.space.name} {ep.api_name}", total=None, detail="connecting")
            self.progress.start()
        self.shown: Any = None  # the last output printed
        self.open_line = False  # the last printed text did not end with a newline
        self.streamed = False

    def _set(self, detail: str, completed: float | None = None, total: float | None = None) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, detail=detail, completed=completed or 0, total=total)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def update(self, u: Update) -> None:
        if u.kind == "status":
            if u.stage == "queued":
                where = f"queued {u.rank + 1}/{u.queue_size}" if u.rank is not None and u.queue_size else "queued"
                eta = f", eta {u.eta:.0f}s" if u.eta is not None else ""
                self._set(where + eta)
            else:
                self._set("running" + (f", eta {u.eta:.0f}s" if u.eta is not None else ""))
        elif u.kind == "progress" and u.progress:
            unit = u.progress[-1]
            if unit.index is not None and unit.length:
                self._set(unit.describe(), float(unit.index), float(unit.length))
            elif unit.fraction is not None:
                self._set(unit.describe(), unit.fraction, 1.0)
            else:
                self._set(unit.describe())
        elif u.kind == "log" and u.message:
            style = {"warning": "yellow", "error": "red"}.get((u.level or "").lower(), "cyan")
            console = self.progress.console if self.progress is not None else self.err
            console.print(Text(f"{(u.level or 'info').lower()}: {_one_line(u.message)}", style=style))
        elif u.kind == "output" and not u.final and not self.as_json:
            self.output(u.value)

    def output(self, value: Any) -> None:
        """Print a streamed output: the new suffix of a growing string, else the whole value."""
        if self.streamed and value == self.shown:
            return
        if self.progress is not None and self.stdout_tty:
            self.stop()  # streamed text and a live bar on one terminal would overwrite each other
        previous, self.shown, first = self.shown, value, not self.streamed
        self.streamed = True
        if (not first and len(self.returns) == 1 and isinstance(value, str) and isinstance(previous, str)
                and value.startswith(previous)):
            suffix = value[len(previous):]
            if suffix:
                _write(suffix)
                self.open_line = not suffix.endswith("\n")
            return
        if self.open_line:
            _write("\n")
        text = _render_result(value, self.returns)
        if len(self.returns) == 1 and isinstance(value, str):
            _write(text)  # it may grow: keep the line open for the next suffix
            self.open_line = bool(text) and not text.endswith("\n")
        else:
            _write(text + "\n")
            self.open_line = False

    def finish(self, result: Any) -> None:
        self.stop()
        if self.as_json:
            _write(_dumps(_result_json(result, self.returns)) + "\n")
        elif self.streamed:
            self.output(result)
            if self.open_line:
                _write("\n")
        else:
            text = _render_result(result, self.returns)
            if text:
                _write(text + ("" if text.endswith("\n") else "\n"))
        if self.stdout_tty:
            return  # the result just printed on this terminal names each saved file already
        for label, path in _files_in(result, self.returns):  # stdout goes to a pipe or file: say it here too
            self.err.print(Text(f"saved {label}: {path}", style="green"))


async def _follow(ep: Endpoint, args: list[Any], kwargs: dict[str, Any], display: _Display) -> Any:
    result: Any = None
    async for u in ep.stream(*args, **kwargs):
        display.update(u)
        if u.kind == "output" and u.final:
            result = u.value
    return result


def _settle_cancels(ep: Endpoint, timeout: float = 5.0) -> None:
    """Give the cancel request of an interrupted call the moment it needs to reach the Space before we exit."""
    from ..loop import run_sync

    async def settle() -> None:
        for _ in range(20):  # the cancelled call unwinds within a few loop turns, and starts its cancel request
            await asyncio.sleep(0.01)
            if ep.space.upstream.background:
                break
        await ep.space.upstream.settle(timeout)

    with suppress(Exception):
        run_sync(settle())


def _run_call(ep: Endpoint, args: list[Any], kwargs: dict[str, Any], display: _Display) -> Any:
    """Follow the call's updates on a private event loop (never installed as the thread's current loop, so
    whatever loop the caller has stays as it was); Ctrl-C cancels the call, and so the upstream job."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(_follow(ep, args, kwargs, display))
    try:
        return loop.run_until_complete(task)
    except KeyboardInterrupt:
        task.cancel()
        with suppress(BaseException):
            loop.run_until_complete(task)
        _settle_cancels(ep)
        raise
    finally:
        with suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@app.command(no_args_is_help=True)
def call(
    src: Annotated[str, typer.Argument(help="A Space id (owner/name) or the URL of a Gradio app.")],
    api_name: Annotated[str, typer.Argument(help="The endpoint, such as /predict (see `compose inspect`).")],
    args: Annotated[list[str] | None, typer.Argument(
        help="Values in parameter order: JSON when valid JSON, else text; put -- before negative numbers.",
        show_default=False)] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A parameter by name, name=value (repeatable).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the final result, as JSON.")] = False,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", "-o", help="Where to save output files (default: compose's download cache).",
        show_default=False)] = None,
    token: Annotated[str | None, typer.Option(help="Hugging Face token (default: HF_TOKEN or your login).",
                                              show_default=False)] = None,
    auth: Annotated[str | None, typer.Option(help=_AUTH_HELP, envvar="COMPOSE_AUTH", show_default=False,
                                             show_envvar=False)] = None,
) -> None:
    """Call an endpoint, with live queue position and progress; streams generator outputs as they come."""
    name = "/" + api_name.lstrip("/")
    with _errors(src, name):
        space = _make_space(src, token, output_dir, auth)
        try:
            # A sleeping or starting Space is waited for: say so, rather than sit silent for a minute.
            space.load(progress=lambda text: _err().print(Text(text, style="dim")))
            ep = space.endpoint(name)
            positional, named = _bind(ep, list(args or []), list(param or []))
            display = _Display(ep, as_json=as_json)
            try:
                result = _run_call(ep, positional, named, display)
            finally:
                display.stop()
            if output_dir is not None:
                result = _into(result, ep.returns, output_dir)
            display.finish(result)
        finally:
            space.close()


# --- deploy ---------------------------------------------------------------------------------------------------------


@app.command(no_args_is_help=True)
def deploy(
    folder: Annotated[Path, typer.Argument(help="A Space folder (README.md, requirements.txt, app.py).")],
    space_id: Annotated[str, typer.Option("--space-id", help="The target Space, owner/name.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; nothing is uploaded (works offline).")
                       ] = False,
    token: Annotated[str | None, typer.Option(help="Hugging Face token with write access (default: HF_TOKEN or "
                                                   "your login).", show_default=False)] = None,
    private: Annotated[bool | None, typer.Option("--private/--public", help="Visibility of a newly created Space.",
                                                 show_default=False)] = None,
    vendor: Annotated[bool | None, typer.Option(
        "--vendor/--no-vendor", show_default=False,
        help="Upload compose itself inside the Space, its dependencies in requirements.txt (default: when the app "
             "imports compose and does not carry it already; --no-vendor relies on requirements.txt).")] = None,
) -> None:
    """Validate a spaces/ folder (front matter, requirements, the app imports), then upload it."""
    from . import deploy as dep

    if not dep.check_space_id(space_id):
        _fail(f"--space-id must look like owner/name, got {space_id!r}", 2)
    if not dry_run:
        if token is None:
            from huggingface_hub import get_token

            token = get_token()
        if not token:
            _fail("no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login` "
                  "(or use --dry-run to validate without uploading); nothing was uploaded")
    uses_compose = dep.imports_compose(folder)
    if vendor is None:
        vendor = uses_compose and not dep.carries_compose(folder)
    vendor = vendor and folder.is_dir()  # a missing folder is reported by the checks below
    with tempfile.TemporaryDirectory(prefix="compose-deploy-") as staging:
        target = dep.stage_with_compose(folder, Path(staging) / folder.name) if vendor else folder
        _deploy(folder, target, space_id, dry_run=dry_run, token=token, private=private, vendored=vendor,
                uses_compose=uses_compose)


def _deploy(folder: Path, target: Path, space_id: str, *, dry_run: bool, token: str | None, private: bool | None,
            vendored: bool, uses_compose: bool) -> None:
    """Validate `target` (the folder as it will be uploaded) and upload it; messages name `folder`."""
    from . import deploy as dep

    out = _out()
    out.print(Text.assemble("Checking ", (str(folder), "bold"), f" for {space_id}",
                            " (with compose vendored into it)" if vendored else ""))
    report = dep.validate_folder(target, uses_compose=uses_compose)
    for check in report.checks:
        mark = Text("  ✓ ", style="green") if check.ok else Text("  ✗ ", style="bold red")
        first, *rest = check.detail.splitlines() or [""]
        out.print(mark + Text(f"{check.name}: ", style="bold") + Text(first))
        for line in rest:
            out.print(Text(f"      {line}", style="dim"))
    if not report.ok:
        names = ", ".join(c.name for c in report.problems)
        _fail(f"{folder} is not ready to deploy ({names}): " + "; ".join(c.detail.splitlines()[0]
                                                                          for c in report.problems))
    if dry_run:
        out.print(Text(f"dry run: {folder} is valid; nothing was uploaded to {space_id}", style="green"))
        return
    assert token is not None
    try:
        url = dep.upload_folder(target, space_id, token=token, private=private)
    except Exception as e:  # the hub's errors: say what failed, never the token
        message = _one_line(str(e)).replace(token, "***")
        _fail(f"upload to {space_id} failed: {type(e).__name__}: {message}")
    out.print(Text.assemble(("deployed ", "green"), (url, "bold")))


# --- demo -----------------------------------------------------------------------------------------------------------


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on (the next free one if it is taken).")] = 7860,
    spaces: Annotated[str | None, typer.Option(
        help="Comma-separated Space ids or URLs to compose (default: the local spaces/ apps, launched on loopback).",
        show_default=False)] = None,
    model: Annotated[str | None, typer.Option(
        help='"local", "router", "hf:<id>", "openai:<id>" (default: a provider whose credentials are set, else the '
             "embedded model, else the router).", show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Print each agent step on the console.")] = False,
) -> None:
    """Run the main demo app (what `make demo` runs)."""
    try:
        from .demo import run_demo  # imported only when the demo runs: it loads gradio and the apps
    except ImportError as e:
        _fail(f"the demo cannot start: {e}")

    chosen = [s.strip() for s in spaces.split(",") if s.strip()] if spaces else None
    with _errors():
        run_demo(host=host, port=port, spaces=chosen, model=model, verbose=verbose)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
