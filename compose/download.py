"""One file result fetched from the Space's own origin into compose's download folder: whole, or not at all.

The file is written under a hidden temporary name in its own fresh folder and renamed into place only once it is
complete, so a connection reset, a size cap, a deadline or a cancelled call (`job.cancel()`) never leaves a partial
file behind (the temporary file and its folder are removed). Two deadlines bound it: `idle` (no byte for that long)
and `total` (start to end, however steadily it trickles). Failures are typed: `UpstreamDisconnected` for a broken
transfer, `UpstreamTimeout` for a deadline, `SpaceUnavailable` for a refusal or a file over the size cap.

Usage (inside compose's I/O loop):
    `local = await fetch_file(transport.stream, route, headers, target, max_bytes=cap, idle=300, total=600,
                               space=name, api_name="/predict")`
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from .errors import ComposeError, SpaceUnavailable, UpstreamDisconnected, UpstreamTimeout
from .http import Reply
from .limits import unreachable
from .loop import deadline

__all__ = ["DownloadRefused", "download_root", "fetch_file"]

Opener = Callable[[str, dict[str, str]], AbstractAsyncContextManager[Reply]]


class DownloadRefused(SpaceUnavailable):
    """The Space answered a download with `status`, not the file (an app behind Gradio's login that forgot the
    sign-in answers 401: compose.upstream signs in again and asks once more)."""

    def __init__(self, message: str, *, status: int, space: str, api_name: str | None) -> None:
        super().__init__(message, space=space, api_name=api_name)
        self.status = status


def download_root() -> Path:
    """compose's own download folder (one folder per Space under it): COMPOSE_DOWNLOAD_DIR, else
    `gradio-compose/downloads` in the system's temp directory.

    Not the cache folder: the ordinary way to use a result is to hand it on from a Gradio function
    (`return ep.predict(x)`), and Gradio serves a returned file only from the working directory, the temp
    directory or `allowed_paths` (any other path fails with InvalidPathError). gradio_client downloads under the
    temp directory for the same reason.
    """
    return Path(os.environ.get("COMPOSE_DOWNLOAD_DIR") or Path(tempfile.gettempdir()) / "gradio-compose" / "downloads")


async def fetch_file(opener: Opener, route: str, headers: dict[str, str], target: Path, *, max_bytes: int,
                     idle: float, total: float, space: str, api_name: str | None) -> str:
    """Download `route` (a path on the Space's origin) to `target`; see the module docstring."""
    name = target.name
    # A name of its own: two calls may fetch the same kept file (`files.kept_download_path`) at once.
    partial = target.with_name(f".{name}.{secrets.token_hex(4)}.part")
    try:
        async with deadline(total), opener(route, headers) as reply:
            status = reply.status
            if status != 200:
                raise DownloadRefused(f"download of {name!r} answered {status}", status=status, space=space,
                                      api_name=api_name)
            size = 0
            with partial.open("wb") as f:
                body = reply.chunks()
                while True:
                    try:
                        async with deadline(idle):
                            chunk = await body.__anext__()
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise UpstreamTimeout(f"download of {name!r} stalled: no data for {idle:g} s; "
                                              "nothing kept", space=space, api_name=api_name) from None
                    size += len(chunk)
                    if size > max_bytes:
                        raise SpaceUnavailable(f"file output {name!r} is over {max_bytes} bytes; not kept",
                                               space=space, api_name=api_name)
                    f.write(chunk)
        os.replace(partial, target)
        return str(target)
    except TimeoutError:
        _discard(partial)
        raise UpstreamTimeout(f"download of {name!r} took longer than {total:g} s (Limits.download_timeout); "
                              "nothing kept", space=space, api_name=api_name) from None
    except ComposeError:
        _discard(partial)
        raise
    except Exception as e:  # the transport's own errors (a reset mid-body, a refused connection)
        _discard(partial)
        if unreachable(e):
            raise SpaceUnavailable(f"cannot reach the Space to download {name!r}: {e!r}", space=space,
                                   api_name=api_name) from e
        raise UpstreamDisconnected(f"the download of {name!r} broke off ({e!r}); nothing kept", space=space,
                                   api_name=api_name) from e
    except BaseException:  # cancelled (job.cancel(), a closed tab): no partial file stays either
        _discard(partial)
        raise


def _discard(partial: Path) -> None:
    """Remove a partial download and its folder (each download has a fresh one of its own) if nothing else is
    in it."""
    with contextlib.suppress(OSError):
        partial.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        partial.parent.rmdir()
