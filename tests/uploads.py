"""What an upstream app holds in its upload folder: the proof that a file was (or was not) sent to it.

Usage: `assert not upstream_has(local_spaces["media"].temp_dir, secret_bytes)`.
"""

from __future__ import annotations

from pathlib import Path


def upstream_has(folder: Path, content: bytes) -> bool:
    """True if any file the upstream app holds contains `content` (files gradio deletes meanwhile are skipped)."""
    for p in folder.rglob("*"):
        try:
            if p.is_file() and content in p.read_bytes():
                return True
        except OSError:
            continue
    return False
