"""Keeping compose's own download folder bounded: files older than `Limits.download_max_age` go, and past
`Limits.max_download_disk` the oldest go first.

Files compose downloads for `call()`, tools and `render()` land in `download_root()/<space>/<user>/`
(compose.download), one fresh folder per file (a Chatbot's files, one folder per file's content:
`files.kept_download_path`). Nothing else removes them, so without this a long-running app fills its disk. The sweep:

- runs only over compose's own folder (the default one); a `download_dir=` the developer gave is theirs and is
  never touched;
- is cheap: it is considered after a download finishes, runs at most every `EVERY` seconds per folder, in a
  thread of its own (never on compose's I/O loop), and the first download of a process runs it at once (leftovers
  of an earlier run);
- removes every file older than `download_max_age`, then, while the folder holds more than `max_download_disk`
  bytes, the oldest files first, but never a file younger than `GRACE` seconds: a result just handed out stays
  readable for at least that long, even when it alone is over the cap. So the folder may exceed the cap by what
  was downloaded in the last few minutes, never by more;
- removes the per-file folders it empties, and nothing that is not a regular file (no symlink is followed).

Usage: `sweeper = DownloadSweeper(folder, limits, own=download_dir_was_not_given)`, then after each download
`sweeper.downloaded()`; `sweeper.sweep()` runs one pass now and returns what it removed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import forksafe, redact
from .limits import Limits

__all__ = ["EVERY", "GRACE", "DownloadSweeper", "Swept"]

log = redact.logger("compose.sweep")

# At most one pass per folder per minute: a pass walks the whole folder, so it must not run per call; a minute
# bounds how far past the cap a burst of downloads can go before the next pass.
EVERY = 60.0
# A file younger than this is never removed for size: it was handed out moments ago (a `call()` result a developer
# is about to read, a file Gradio is copying into its own cache, a tool result an agent passes on).
GRACE = 300.0


@dataclass(frozen=True)
class Swept:
    """One pass: files removed for age and for size, and the bytes the folder holds afterwards."""

    aged: int
    over_cap: int
    kept_bytes: int


class DownloadSweeper:
    """Bounds one download folder (see the module docstring)."""

    def __init__(self, folder: Path, limits: Limits, *, own: bool) -> None:
        self.folder, self.limits, self.own = folder, limits, own
        self.last = -float("inf")  # monotonic time the last pass started
        self.thread: threading.Thread | None = None  # the pass under way or last run (tests join it)
        self._lock = forksafe.Lock()

    def downloaded(self) -> None:
        """A download into this folder finished: start a pass in the background if one is due."""
        if not self.own:
            return
        now = time.monotonic()
        with self._lock:
            if now - self.last < EVERY or (self.thread is not None and self.thread.is_alive()):
                return
            self.last = now
            self.thread = threading.Thread(target=self._run, name="compose-download-sweep", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sweep()
        except Exception:  # a pass that failed is tried again at the next one; never the call's problem
            log.warning("compose: sweeping the download folder %s failed", self.folder, exc_info=True)

    def sweep(self, now: float | None = None) -> Swept:
        """One pass now (`now`: wall-clock time to judge ages by, for tests); nothing for a folder not compose's."""
        if not self.own:
            return Swept(0, 0, 0)
        now = time.time() if now is None else now
        files = sorted(_files(self.folder))  # (mtime, size, path), oldest first
        aged = over_cap = 0
        total = sum(size for _, size, _ in files)
        kept: list[tuple[float, int, str]] = []
        for entry in files:
            mtime, size, path = entry
            if now - mtime > self.limits.download_max_age and _remove(path):
                aged += 1
                total -= size
            else:
                kept.append(entry)
        for mtime, size, path in kept:
            if total <= self.limits.max_download_disk or now - mtime < GRACE:
                break  # oldest first: once one file is within its grace, all later ones are too
            if os.path.basename(path).startswith("."):
                continue  # a download still being written (compose.download's hidden partial): only age takes it
            if _remove(path):
                over_cap += 1
                total -= size
        if aged or over_cap:
            log.info("compose: removed %d download(s) older than %g s and %d over the %d-byte cap from %s",
                     aged, self.limits.download_max_age, over_cap, self.limits.max_download_disk, self.folder)
        return Swept(aged, over_cap, total)


def _files(folder: Path) -> list[tuple[float, int, str]]:
    """Every regular file under `folder` (symlinks are not followed, nor listed), with its mtime and size."""
    found: list[tuple[float, int, str]] = []
    stack = [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            found.append((st.st_mtime, st.st_size, entry.path))
                    except OSError:
                        continue  # removed while we looked
        except OSError:
            continue  # the folder (or a part of it) is gone, or not ours to read
    return found


def _remove(path: str) -> bool:
    """Remove one file and its per-download folder if that is now empty; False if it could not be removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        os.rmdir(os.path.dirname(path))  # each download has a folder of its own; leaves it if anything remains
    except OSError:
        pass
    return True
