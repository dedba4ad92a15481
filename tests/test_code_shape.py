"""The shape of compose's code as a maintainer relies on it: no module reads another object's private members.

A module is the unit that may change its private names freely; one that reaches into another's (`space._epoch`,
`job._attach`, `from .identity import _helper`) breaks when that module is refactored, and hides a dependency the
import contracts (`.importlinter`) cannot see. Private members of objects whose class the same module defines are
the module's own; gradio internals compose depends on are named below, each pinned by a contract test
(tests/test_gradio_contract.py, tests/test_gradio_client_contract.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import compose

ROOT = Path(compose.__file__).parent

# Private members of third-party objects compose reads on purpose, each pinned by a contract test.
THIRD_PARTY = {
    "block_fn._id",  # gradio's BlockFunction id, to chain a mirrored event's trigger_after (mirror)
    "gc_utils._is_file_schema",  # gradio_client's FileData schema test (schema)
    "gc_utils._schema_contains_file",  # and its test for files anywhere inside a schema (schema)
    "component._api_info",  # the schema a gr.api parameter (gradio's Api component) reports (agent.registry)
}


def _own_private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: attributes set on self/cls, private functions, classes and fields."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls") and node.attr.startswith("_")):
            names.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name.startswith("_"):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def private_reads(source: str, module: str = "compose.x") -> list[str]:
    """Where `source` reads a private member of an object it does not own, or imports a private name of compose."""
    tree = ast.parse(source)
    own = _own_private_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            text = ast.unparse(node)
            if node.attr not in own and text not in THIRD_PARTY:
                found.append(f"{module}:{node.lineno}: {text}")
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("compose")):
            found += [f"{module}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {a.name}"
                      for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    return found


def test_no_module_reads_another_objects_private_members() -> None:
    found = [hit for path in sorted(ROOT.rglob("*.py"))
             for hit in private_reads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT.parent)))]
    assert found == []


def test_the_scan_finds_what_it_is_for() -> None:
    # What the call path did before compose.upstream: each of these is a finding, a module's own is not.
    assert private_reads("def f(space):\n    return space._epoch\n")
    assert private_reads("def f(job, run):\n    job._attach(run(job._on_update))\n")
    assert private_reads("from .identity import _from_request\n")
    assert private_reads("class A:\n    def __init__(self):\n        self._x = 1\n\n"
                         "def peek(a: A) -> int:\n    return a._x\n") == []


def _stack_layers() -> list[set[str]]:
    """The layers of `.importlinter`'s whole-package contract, top first, each a set of compose's child names."""
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT.parent / ".importlinter", encoding="utf-8")
    lines = config["importlinter:contract:stack"]["layers"].split("\n")
    return [{name.strip() for name in line.split("|")} for line in lines if line.strip()]


def test_every_module_has_a_place_in_the_layers() -> None:
    # A module the layer contract does not name may import anything from anywhere: the contract would pass while
    # the stack it describes no longer holds. Each top-level module and subpackage must sit in one layer.
    placed = [name for layer in _stack_layers() for name in layer]
    assert len(placed) == len(set(placed)), "a module is named in two layers"
    children = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    children |= {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert children - set(placed) == set(), "add these modules to the stack contract in .importlinter"
    assert set(placed) - children == set(), "the stack contract names modules that do not exist"
