"""Check a `spaces/` folder and upload it to Hugging Face Spaces (what `compose deploy` runs).

Validation works offline and covers what makes a Space fail to build or start: the README front matter (`sdk:
gradio`, an `sdk_version` equal to the installed gradio, an `app_file` that exists), a `requirements.txt` that
installs what the app imports (gradio-compose when the app imports `compose`, gradio otherwise), and the app
importing cleanly in a fresh interpreter (without launching: Spaces guard `launch()` under `__main__`).

Usage:
    report = validate_folder("spaces/calculator")
    if report.ok:
        url = upload_folder("spaces/calculator", "owner/calculator", token=token)
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "ValidationReport",
    "carries_compose",
    "check_space_id",
    "front_matter",
    "installed_gradio_version",
    "stage_with_compose",
    "upload_folder",
    "validate_folder",
]

IMPORT_TIMEOUT = 60.0
# What never goes to a Space: caches, environments, local state (names for copying, globs for uploading).
_SKIP_DIRS = ("__pycache__", ".venv", ".git", ".gradio", "flagged")
_SKIP_FILES = ("*.pyc", ".DS_Store")
_IGNORE = [*(f"{d}/*" for d in _SKIP_DIRS), "**/__pycache__/*", *_SKIP_FILES]


@dataclass(frozen=True)
class Check:
    """One validation step: its name, whether it passed and what it found."""

    name: str
    ok: bool
    detail: str


@dataclass
class ValidationReport:
    """Every check run on a folder; `ok` when all passed."""

    folder: Path
    checks: list[Check] = field(default_factory=list)
    front_matter: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


def check_space_id(space_id: str) -> bool:
    """True for a well-formed Space id, 'owner/name'."""
    from ..space import is_space_id  # the one rule, the Hub's (resolve_src and Space.duplicate use it too)

    return is_space_id(space_id)


def installed_gradio_version() -> str | None:
    """The gradio version installed here (what the Space's `sdk_version` must equal), or None without gradio."""
    try:
        return importlib.metadata.version("gradio")
    except importlib.metadata.PackageNotFoundError:
        return None


def front_matter(readme: str) -> dict[str, Any]:
    """The YAML front matter of a Space README (between the leading `---` lines). Raises ValueError if absent."""
    import yaml

    lines = readme.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ValueError("README.md does not start with a '---' front matter block")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise ValueError("README.md front matter has no closing '---'") from None
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"README.md front matter is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("README.md front matter is not a mapping of keys to values")
    return data


def imports_compose(folder: Path) -> bool:
    """True if any Python file of the folder imports the `compose` package."""
    for path in sorted(folder.rglob("*.py")):
        if any(part in (".venv", "__pycache__") or part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue  # the import check reports a file that does not parse
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "compose" for a in node.names):
                return True
            if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                    and node.module.split(".")[0] == "compose"):
                return True
    return False


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    name: str | None  # normalised distribution name; None for a URL line
    specifier: str


def _normalise(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _requirements(text: str) -> tuple[list[_Line], list[str]]:
    """Parsed requirement lines and the complaints about lines that could not be read."""
    from packaging.requirements import InvalidRequirement, Requirement

    lines: list[_Line] = []
    bad: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):  # pip options such as --extra-index-url or -r other.txt
            continue
        if re.match(r"^(git\+\S+|https?://\S+)$", line):
            egg = re.search(r"[#&]egg=([\w.-]+)", line)
            lines.append(_Line(number, line, _normalise(egg.group(1)) if egg else None, ""))
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as e:
            bad.append(f"line {number} ({line!r}): {e}")
            continue
        lines.append(_Line(number, line, _normalise(req.name), str(req.specifier)))
    return lines, bad


def _check_requirements(report: ValidationReport, folder: Path, uses_compose: bool, gradio_version: str | None
                        ) -> None:
    """requirements.txt must install what the app imports, and must not pin gradio away from sdk_version."""
    path = folder / "requirements.txt"
    if not path.is_file():
        need = "gradio-compose" if uses_compose else "gradio"
        report.add("requirements.txt", False, f"missing: {path} (it must list {need})")
        return
    try:
        lines, bad = _requirements(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        report.add("requirements.txt", False, f"cannot read {path}: {e}")
        return
    if bad:
        report.add("requirements.txt", False, "cannot parse " + "; ".join(bad))
        return
    compose_lines = [ln for ln in lines if _is_compose_line(ln)]
    urls = [ln for ln in lines if ln.name is None]
    gradio_lines = [ln for ln in lines if ln.name == "gradio"]
    if uses_compose and carries_compose(folder):
        detail = "the folder carries compose itself (./compose)"
    elif uses_compose:
        found = compose_lines or urls
        if not found:
            report.add("requirements.txt", False, "the app imports compose but requirements.txt does not list "
                       "gradio-compose (a 'gradio-compose' line, or a git+/https URL of it)")
            return
        detail = f"installs gradio-compose ({found[0].text})"
    else:
        if not gradio_lines and not compose_lines:
            report.add("requirements.txt", False, "requirements.txt does not list gradio")
            return
        detail = f"installs gradio ({(gradio_lines or compose_lines)[0].text})"
    if gradio_version:
        from packaging.specifiers import SpecifierSet

        for ln in gradio_lines:
            try:
                excluded = bool(ln.specifier) and not SpecifierSet(ln.specifier).contains(gradio_version,
                                                                                         prereleases=True)
            except ValueError:  # an sdk_version that is not a version: the sdk_version check reports it
                excluded = False
            if excluded:
                report.add("requirements.txt", False, f"line {ln.number} ({ln.text!r}) excludes gradio "
                           f"{gradio_version}, the sdk_version the Space will run")
                return
    report.add("requirements.txt", True, detail)


_IMPORT_SNIPPET = """
import importlib.util, os, sys
folder, app_file = sys.argv[1], sys.argv[2]
os.chdir(folder)
sys.path.insert(0, folder)
spec = importlib.util.spec_from_file_location("compose_space_app", os.path.join(folder, app_file))
module = importlib.util.module_from_spec(spec)
sys.modules["compose_space_app"] = module
spec.loader.exec_module(module)
"""


def check_import(folder: Path, app_file: str, timeout: float = IMPORT_TIMEOUT) -> tuple[bool, str]:
    """Import the app in a fresh interpreter, under a name that is not `__main__` (so it does not launch)."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORT_SNIPPET, str(folder.resolve()), app_file],
            cwd=folder, env=env, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, f"importing {app_file} did not finish within {timeout:g} s (does it launch or block at import?)"
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()][-8:]
        return False, f"importing {app_file} failed (exit {proc.returncode}):\n" + "\n".join(tail)
    return True, f"{app_file} imports cleanly"


def carries_compose(folder: Path) -> bool:
    """The folder holds compose itself (vendored by `stage_with_compose`, or by hand)."""
    return (folder / "compose" / "__init__.py").is_file()


def validate_folder(folder: str | os.PathLike[str], *, check_app_import: bool = True,
                    uses_compose: bool | None = None) -> ValidationReport:
    """Run every check on a Space folder; nothing here uses the network."""
    path = Path(folder)
    report = ValidationReport(path)
    if not path.is_dir():
        report.add("folder", False, f"{path} is not a directory")
        return report
    readme = path / "README.md"
    meta: dict[str, Any] | None = None
    if not readme.is_file():
        report.add("README front matter", False, f"missing: {readme}")
    else:
        try:
            meta = front_matter(readme.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            report.add("README front matter", False, str(e))
    gradio_version = installed_gradio_version()
    app_file: str | None = None
    if meta is not None:
        report.front_matter = meta
        sdk = meta.get("sdk")
        report.add("sdk", sdk == "gradio", "gradio" if sdk == "gradio"
                   else f"sdk is {sdk!r} in README.md; it must be 'gradio'")
        version = meta.get("sdk_version")
        if version is None:
            report.add("sdk_version", False, f"sdk_version is missing from README.md (installed gradio: "
                       f"{gradio_version})")
        elif gradio_version is None:
            report.add("sdk_version", False, "gradio is not installed here, so sdk_version cannot be checked")
        elif str(version) != gradio_version:
            report.add("sdk_version", False, f"sdk_version {version} in README.md does not match the installed "
                       f"gradio {gradio_version}")
        else:
            report.add("sdk_version", True, f"sdk_version {version} matches the installed gradio")
        raw_app = meta.get("app_file")
        if not raw_app:
            report.add("app_file", False, "app_file is missing from README.md's front matter")
        elif not (path / str(raw_app)).is_file():
            report.add("app_file", False, f"app_file {raw_app!r} does not exist in {path}")
        else:
            app_file = str(raw_app)
            report.add("app_file", True, f"app_file {app_file} exists")
    if uses_compose is None:  # the caller may know already (a staged copy: the same app, plus compose's files)
        uses_compose = imports_compose(path)
    runs = str(meta["sdk_version"]) if meta and meta.get("sdk_version") else gradio_version
    _check_requirements(report, path, uses_compose, runs)
    if check_app_import:
        if app_file is None:
            report.add("app imports", False, "not checked: no usable app_file")
        else:
            ok, detail = check_import(path, app_file)
            report.add("app imports", ok, detail)
    return report


def _is_compose_line(line: _Line) -> bool:
    return line.name == "gradio-compose" or (line.name is None and "compose" in line.text.lower())


def stage_with_compose(folder: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Copy `folder` to `dest` with the installed compose package inside it, ready to upload.

    A Space installs only what requirements.txt names, and gradio-compose may not be on PyPI (or not at the
    version the app was written against). The staged folder carries compose itself (`compose/`, found first on the
    app's path) and a requirements.txt whose gradio-compose line is replaced by compose's own dependencies.

    Usage: `upload_folder(stage_with_compose("spaces/agent-chat", tmp), "owner/chat", token=t)`.
    """
    import shutil

    source, target = Path(folder), Path(dest)
    skip = shutil.ignore_patterns(*_SKIP_DIRS, *_SKIP_FILES)
    shutil.copytree(source, target, ignore=skip)
    package = Path(__file__).resolve().parents[1]  # the compose package (this module is compose/apps/deploy.py)
    shutil.rmtree(target / "compose", ignore_errors=True)
    shutil.copytree(package, target / "compose", ignore=skip)
    requirements = target / "requirements.txt"
    kept: list[str] = []
    named: set[str] = set()
    if requirements.is_file():
        original = requirements.read_text(encoding="utf-8")
        parsed = {ln.number: ln for ln in _requirements(original)[0]}
        for number, text in enumerate(original.splitlines(), start=1):
            line = parsed.get(number)
            if line is not None and _is_compose_line(line):
                continue
            if line is not None and line.name:
                named.add(line.name)
            kept.append(text)
    own = [r for r in importlib.metadata.requires("gradio-compose") or [] if "extra ==" not in r]
    from packaging.requirements import Requirement

    extra = [r for r in own if _normalise(Requirement(r).name) not in named]
    kept += ["# gradio-compose travels in ./compose (compose deploy); these are its dependencies", *extra]
    requirements.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return target


def upload_folder(folder: str | os.PathLike[str], space_id: str, *, token: str, private: bool | None = None) -> str:
    """Create the Space if needed (sdk gradio) and upload the folder to it. Returns the Space's page URL."""
    from huggingface_hub import HfApi

    from ..hub import hub_endpoint

    api = HfApi(endpoint=hub_endpoint(), token=token)  # HF_ENDPOINT as it is now (a private hub, compose.testing)
    api.create_repo(space_id, repo_type="space", space_sdk="gradio", exist_ok=True, private=private)
    api.upload_folder(folder_path=str(folder), repo_id=space_id, repo_type="space",
                      commit_message="Deploy with compose deploy", ignore_patterns=_IGNORE)
    return f"{hub_endpoint()}/spaces/{space_id}"
