"""Agent chat over Spaces: the composed app of gradio-compose, deployable as a Space.

The Spaces it calls come from configuration (`COMPOSE_SPACES`), not code. Nothing is fetched at import time: the
app is built when it starts.
"""

import os

from compose.apps.demo import build_demo

DEFAULT_SPACES = "gradio-compose/calculator,gradio-compose/translator"


def sources() -> list[str]:
    return [s.strip() for s in os.environ.get("COMPOSE_SPACES", DEFAULT_SPACES).split(",") if s.strip()]


if __name__ == "__main__":
    build_demo(sources()).launch()
