"""Contracts with the gradio_client and gradio helpers compose reuses instead of rewriting (pinned: an upgrade that
changes one fails here, by name, rather than as a wrong schema, a lost file or a garbled stream).

compose.schema reads parameter types and file parameters with `json_schema_to_python_type` and the private
`_is_file_schema`, and outputs holding files (a Gallery) with the private `_schema_contains_file`; compose.files /
compose.calls / compose.ui / compose.agent.guard find FileData with `is_file_obj_with_meta` and `traverse`;
compose.messages applies streamed diffs with `apply_diff`; compose.files names downloads with
`strip_invalid_filename_characters`; compose.schema and compose.ui.render name parameters with
`sanitize_parameter_names` and skip layout components with `SKIP_COMPONENTS`; compose.outer serves from gradio's
`get_upload_folder`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from gradio.utils import get_upload_folder
from gradio_client import utils as gc_utils

FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "url": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                   "meta": {"default": {"_type": "gradio.FileData"}, "title": "Meta", "type": "object"}},
    "required": ["path"],
}


def test_file_schema_detection_sees_a_filedata_parameter_directly_and_through_a_ref() -> None:
    assert gc_utils._is_file_schema(FILE_SCHEMA, {})
    by_ref = {**FILE_SCHEMA, "properties": {**FILE_SCHEMA["properties"], "meta": {"$ref": "#/$defs/Meta"}}}
    meta = {"type": "object", "properties": {"_type": {"const": "gradio.FileData"}}}
    assert gc_utils._is_file_schema(by_ref, {"Meta": meta})
    assert not gc_utils._is_file_schema(by_ref, {"Meta": {"type": "object", "properties": {"_type": {"const": "x"}}}})
    assert not gc_utils._is_file_schema({"type": "string"}, {})


def test_a_file_anywhere_inside_a_schema_is_found_through_refs_and_arrays() -> None:
    # A Gallery's shape: an array of {image: ImageData, caption}, the file behind two $refs.
    defs = {"ImageData": FILE_SCHEMA, "GalleryImage": {
        "type": "object", "properties": {"image": {"$ref": "#/$defs/ImageData"}, "caption": {"type": "string"}}}}
    gallery = {"type": "array", "items": {"$ref": "#/$defs/GalleryImage"}}
    assert gc_utils._schema_contains_file(gallery, defs)
    assert gc_utils._schema_contains_file({"anyOf": [{"type": "null"}, gallery]}, defs)
    assert not gc_utils._schema_contains_file({"type": "array", "items": {"type": "string"}}, defs)
    assert not gc_utils._schema_contains_file({"$ref": "#/$defs/Unknown"}, defs)


def test_json_schema_to_python_type_names_the_types_a_tool_description_shows() -> None:
    assert gc_utils.json_schema_to_python_type({"type": "string"}) == "str"
    assert gc_utils.json_schema_to_python_type({"type": "number"}) == "float"
    assert gc_utils.json_schema_to_python_type({"type": "array", "items": {"type": "integer"}}) == "list[int]"
    assert gc_utils.json_schema_to_python_type(FILE_SCHEMA) == "filepath"


def test_filedata_is_found_only_with_its_meta_marker_and_traverse_rebuilds_the_value() -> None:
    fd = {"path": "/tmp/x.png", "meta": {"_type": "gradio.FileData"}}
    assert gc_utils.is_file_obj_with_meta(fd)
    assert not gc_utils.is_file_obj_with_meta({"path": "/etc/passwd"})  # no marker: a plain dict, not a file
    value: dict[str, Any] = {"a": [fd, "text", {"b": fd}]}
    seen: list[dict[str, Any]] = []

    def move(f: dict[str, Any]) -> dict[str, Any]:
        seen.append(f)
        return {**f, "path": "moved"}

    out = gc_utils.traverse(value, move, gc_utils.is_file_obj_with_meta)
    assert len(seen) == 2
    assert out == {"a": [{**fd, "path": "moved"}, "text", {"b": {**fd, "path": "moved"}}]}
    assert value["a"][0]["path"] == "/tmp/x.png"  # the input is left as it was


def test_apply_diff_speaks_gradios_streamed_diff_format() -> None:
    assert gc_utils.apply_diff("Hel", [["append", [], "lo"]]) == "Hello"
    assert gc_utils.apply_diff(["a"], [["add", [1], "b"]]) == ["a", "b"]
    assert gc_utils.apply_diff({"k": 1}, [["replace", ["k"], 2]]) == {"k": 2}
    assert gc_utils.apply_diff("old", [["replace", [], "new"]]) == "new"


def test_parameter_names_and_filenames_are_sanitised_as_gradio_client_does() -> None:
    assert gc_utils.sanitize_parameter_names("Input Text") == "input_text"
    name = gc_utils.strip_invalid_filename_characters("a<b>:c?.txt", max_bytes=120)
    assert set(name) <= set("abc.txt") and name.endswith(".txt")
    assert len(gc_utils.strip_invalid_filename_characters("x" * 500 + ".txt", max_bytes=120).encode()) <= 120


def test_layout_components_are_skipped_from_the_api() -> None:
    assert {"row", "column", "tabs", "state", "dataset"} <= set(gc_utils.SKIP_COMPONENTS)
    assert "textbox" not in gc_utils.SKIP_COMPONENTS


def test_the_upload_folder_follows_gradio_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    assert Path(get_upload_folder()).resolve() == tmp_path.resolve()
    monkeypatch.delenv("GRADIO_TEMP_DIR")
    assert Path(get_upload_folder()).name == "gradio" and os.path.isabs(get_upload_folder())
