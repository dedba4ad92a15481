"""A Space at an address where nothing listens, with a live app's schema in the disk cache: any request it makes
fails at once, so a call that works (or fails before connecting) there used no network.

Usage: `dead = compose.Space(offline_copy(urls["calculator"], "calc"), retries=0)`.
"""

from __future__ import annotations

import compose
from compose.schema import read_cached, store_cached

DEAD = "http://127.0.0.1:1"  # nothing listens on port 1


def offline_copy(live_url: str, tag: str) -> str:
    """A dead URL whose disk-cached schema is a copy of `live_url`'s (which is loaded first, for real)."""
    compose.Space(live_url).load()
    cached = read_cached(live_url, max_age=3600)
    assert cached is not None
    dead = f"{DEAD}/{tag}"
    store_cached(dead, *cached[:2])
    return dead
