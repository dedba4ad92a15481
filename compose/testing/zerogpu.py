"""ZeroGPU as an emulated Space sees it: each call asks for GPU seconds, billed to the visitor the edge identified
(their `x-ip-token`), and a spent quota fails the call with ZeroGPU's own words:
"You have exceeded your GPU quota (60s requested vs. 56s left). Try again in 0:01:23".

Use it inside the app you hand to `compose.testing.hub(spaces=...)` the way `@spaces.GPU` is used on Hugging Face;
the function needs a `gr.Request` parameter (that is where the visitor's token arrives). Outside the emulator
(no ledger header on the request) the function simply runs.

Usage:
    @compose.testing.zero_gpu(duration=60)
    def generate(prompt: str, request: gr.Request) -> str: ...
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["charge_gpu", "zero_gpu"]

F = TypeVar("F", bound=Callable[..., Any])


def charge_gpu(request: Any, seconds: float, *, space: str = "") -> None:
    """Bill `seconds` of GPU to the visitor of `request` (a `gr.Request`); raises `gr.Error` if their quota is spent."""
    import gradio as gr
    import httpx

    from .edge import LEDGER_HEADER

    headers = getattr(request, "headers", None) or {}
    ledger = headers.get(LEDGER_HEADER)
    if not ledger:
        return
    answer = httpx.post(f"{ledger}/_emulator/zerogpu/charge", timeout=10, trust_env=False,
                        json={"ip_token": headers.get("x-ip-token"), "seconds": seconds, "space": space})
    verdict = answer.json()
    if answer.status_code != 200:
        raise gr.Error(str(verdict.get("error")), title="ZeroGPU")
    if not verdict.get("ok"):
        raise gr.Error(str(verdict["error"]), title="ZeroGPU quota exceeded")


def zero_gpu(duration: float = 60.0) -> Callable[[F], F]:
    """Decorate a Gradio function so each call first charges `duration` GPU seconds to its visitor."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        names = [name for name, p in signature.parameters.items()
                 if getattr(p.annotation, "__name__", str(p.annotation)).split(".")[-1] == "Request"]
        if not names:
            raise TypeError(f"{fn.__name__}: a zero_gpu function needs a `request: gr.Request` parameter")
        position = list(signature.parameters).index(names[0])

        def request_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return kwargs.get(names[0], args[position] if position < len(args) else None)

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                charge_gpu(request_of(args, kwargs), duration)
                return await fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            charge_gpu(request_of(args, kwargs), duration)
            return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate
