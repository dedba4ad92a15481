"""SECURITY.md matches the code: every default its limits table states is the one the code has, every `Limits`
field has a row, and every test it names as holding a promise exists.

The table's "Default" cells are read as numbers with their units (`20 MiB`, `3600 s`, `2,000`), parenthesised
remarks left out; each row's numbers must equal, in order, the values the code defines for that row.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import compose
from compose import calls, cookies, redact, streams, sweep
from compose.aiohttp_backend import AiohttpBackend
from compose.http import Request
from compose.transport import Transport

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "SECURITY.md").read_text()
UNITS = {"MiB": 2**20, "KiB": 2**10, "s": 1}
NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(MiB|KiB|s\b)?")


def default(of: Any, name: str) -> Any:
    return inspect.signature(of).parameters[name].default


def table() -> dict[str, list[float]]:
    """The limits table: its first cell (as written) -> the numbers of its Default cell, units applied."""
    section = DOC.split("## Limits and their defaults", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[float]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("Limit", "---"):
            continue
        text = re.sub(r"\([^)]*\)", "", cells[1])  # remarks in parentheses are not the default
        rows[cells[0]] = [float(n.replace(",", "")) * UNITS.get(unit or "", 1) for n, unit in NUMBER.findall(text)]
    return rows


def expected() -> dict[str, list[float]]:
    limits = compose.Limits()
    rows = {f"`Limits.{f.name}`": [getattr(limits, f.name)] for f in dataclasses.fields(compose.Limits)}
    space = compose.Space.__init__
    rows.update({
        "`Space(idle_timeout=)`": [default(space, "idle_timeout")],
        "`Space(max_upload_bytes=)`": [default(space, "max_upload_bytes")],
        "`Space(max_download_bytes=)`": [default(space, "max_download_bytes")],
        "`Space(retries=, max_wait=)`": [default(space, "retries"), default(space, "max_wait")],
        "`Space(schema_ttl=)`": [default(space, "schema_ttl")],
        "`SpaceTool(max_file_bytes=)`": [default(compose.SpaceTool.__init__, "max_file_bytes")],
        "an answer's body / headers": [default(Transport.__init__, "max_body"),
                                       default(AiohttpBackend.__init__, "max_headers"),
                                       default(AiohttpBackend.__init__, "max_field_size")],
        "a data-stream message": [streams.MAX_EVENT],
        "a request body the server stops reading": [default(AiohttpBackend.__init__, "write_timeout")],
        "connect / join answer": [default(Request, "connect_timeout"), calls.JOIN_ANSWER_TIMEOUT],
        "cookies kept per Space": [cookies.MAX_SESSIONS, cookies.MAX_COOKIES, cookies.MAX_VALUE],
        "remembered credentials to redact": [redact.MAX_REMEMBERED],
        "the download folder sweep": [sweep.EVERY, sweep.GRACE],
    })
    return rows


def test_the_limits_table_states_the_defaults_the_code_has() -> None:
    documented, actual = table(), expected()
    assert sorted(documented) == sorted(actual), "rows in SECURITY.md and in this test differ"
    wrong = {row: (documented[row], values) for row, values in actual.items() if documented[row] != values}
    assert not wrong, f"SECURITY.md says / the code has: {wrong}"


def test_every_test_security_md_names_exists() -> None:
    named = set(re.findall(r"`(test_\w+?)(?:\.\.\.)?`", DOC))
    assert len(named) > 15  # the promises cite their tests
    defined = {m for path in (ROOT / "tests").glob("test_*.py")
               for m in re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.MULTILINE)}
    # A name written with a trailing `_...` stands for the tests it begins.
    missing = sorted(n for n in named if not any(d == n or (n.endswith("_") and d.startswith(n)) for d in defined))
    assert not missing, f"SECURITY.md names tests that do not exist: {missing}"
