"""One remote endpoint: its description and the ways to call it.

Usage:
    ep = space.endpoint("/translate")
    ep.predict("good morning", target_language="French")      # blocking
    await ep.call(text="good morning")                          # async
    async for update in ep.stream(n=3): ...                     # live updates
    job = ep.submit(n=3); job.result()                          # background
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .calls import run_call
from .drift import current_schema
from .errors import SpaceUnavailable
from .identity import Identity, current_identity
from .job import Job
from .loop import io_loop, run_async, run_sync, spawn
from .schema import EndpointSchema, Parameter, Return
from .updates import Update
from .validation import bind

if TYPE_CHECKING:
    from .space import Space

__all__ = ["Endpoint", "stream_updates"]


def _ignore(update: Update) -> None:
    pass


class Endpoint:
    """A named endpoint of a Space. Cheap to make; describes itself from the Space's schema."""

    def __init__(self, space: Space, api_name: str) -> None:
        self.space = space
        self.api_name = api_name

    def __repr__(self) -> str:
        return f"<Endpoint {self.space.name} {self.api_name}>"

    @property
    def schema(self) -> EndpointSchema:
        return self.space.upstream.endpoint_schema(self.api_name, self.space.schema)

    @property
    def description(self) -> str:
        return self.schema.description

    @property
    def streams(self) -> bool:
        """True if the remote function is a generator (its outputs arrive as a stream)."""
        return self.schema.streams

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return self.schema.parameters

    @property
    def returns(self) -> tuple[Return, ...]:
        return self.schema.returns

    # --- Gradio side ----------------------------------------------------------------------------------------------

    def handler(self) -> Callable[..., Any]:
        """A Gradio event handler with the remote signature: `btn.click(ep.handler(), inputs, outputs)`."""
        from .ui.handler import make_handler

        self.space.confirm_schema()  # the signature of the app as it runs now, not of a deploy the disk cache saw
        return make_handler(self)

    def render(self, *, inputs: Any = None, outputs: Any = None, button: Any = "Run") -> Any:
        """Inside `gr.Blocks`: local components mirroring the remote ones, plus a wired button (a `Rendered`)."""
        from .ui.render import render_endpoint

        self.space.confirm_schema()
        return render_endpoint(self, inputs=inputs, outputs=outputs, button=button)

    # --- agent side -----------------------------------------------------------------------------------------------

    def tool(self, name: str | None = None, description: str | None = None, **options: Any) -> Any:
        """This endpoint as a real `smolagents.Tool` (a `compose.SpaceTool`)."""
        from .agent.tools import SpaceTool

        self.space.confirm_schema()
        return SpaceTool(self, name=name, description=description, **options)

    # --- calling ------------------------------------------------------------------------------------------------

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any], ident: Identity, emit: Callable[[Update], None]
                   ) -> Any:
        up = self.space.upstream
        closes = up.closes  # before any wait: a close() asked for after this call is one it waited across
        await up.ready(emit)
        # The Space's gate: its circuit breaker, an in-flight slot, this call's upload budget (compose.limits).
        async with up.turn(self.api_name, closes):
            # The schema the app runs now (a redeploy may have reordered the parameters: compose.drift).
            schema = await current_schema(up, self.api_name, positional=bool(args), user=ident.session)
            values = bind(schema, args, kwargs, space=up.name)
            try:
                return await run_call(up, schema, values, ident, emit)
            except SpaceUnavailable as e:
                # A Space that fell asleep (or restarts) since: no job started (the edge answered), so once the Hub
                # says it runs again the call is made once more; a paused or broken one fails naming its stage.
                if not await up.recover(e, emit):
                    raise
            return await run_call(up, schema, values, ident, emit)

    # --- the seam the adapters use (handler, render, tools): the caller resolves who is calling ----------------

    async def run_as(self, ident: Identity, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
                     on_update: Callable[[Update], None] | None = None) -> Any:
        """Call for `ident`, reporting each `Update` to `on_update` (run it on compose's I/O loop: `run_async`).

        Usage: `await run_async(ep.run_as(ident, (text,), {}, emit))`.
        """
        return await self._run(tuple(args), dict(kwargs or {}), ident, on_update or _ignore)

    def stream_as(self, ident: Identity, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
                  ) -> AsyncIterator[Update]:
        """`stream()` for `ident` (an adapter resolves the caller once, up front)."""
        return self._stream(tuple(args), dict(kwargs or {}), ident)

    async def call(self, *args: Any, **kwargs: Any) -> Any:
        """Call the endpoint and return its result; cancelling the awaiting task cancels the upstream job."""
        return await run_async(self._run(args, kwargs, current_identity(), _ignore))

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Blocking `call`, for sync code (any thread)."""
        return run_sync(self._run(args, kwargs, current_identity(), _ignore))

    def submit(self, *args: Any, result_callbacks: list[Callable[[Any], object]] | None = None, **kwargs: Any
               ) -> Job:
        """Start the call in the background and return a `Job` at once."""
        ident = current_identity()
        return Job.start(lambda emit: self._run(args, kwargs, ident, emit), result_callbacks)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Update]:
        """Yield `Update`s live: outputs as they arrive, progress, queue status and logs.

        The last output update has `final=True` and holds the result; for a generator that is its last yielded
        value once more (skip `final` outputs to see each value once, as `Job.outputs()` does). Leaving the loop
        early (break, an exception, cancellation) cancels the upstream job.
        """
        async for update in self._stream(args, kwargs, current_identity()):
            yield update

    def _stream(self, args: tuple[Any, ...], kwargs: dict[str, Any], ident: Identity) -> AsyncIterator[Update]:
        """`stream()` for an identity resolved by the caller (handlers resolve it once, up front)."""
        return stream_updates(lambda emit: self._run(args, kwargs, ident, emit))


async def stream_updates(run: Callable[[Callable[[Update], None]], Awaitable[Any]]) -> AsyncIterator[Update]:
    """Run `run(emit)` on compose's I/O loop and yield what it emits, live, in the caller's loop.

    Leaving early (break, an exception, cancellation) cancels the run, and so the upstream job.
    """
    caller = asyncio.get_running_loop()
    queue: asyncio.Queue[Update | BaseException | None] = asyncio.Queue()
    same_loop = caller is io_loop()

    def put(item: Update | BaseException | None) -> None:
        if same_loop:
            queue.put_nowait(item)
        else:
            caller.call_soon_threadsafe(queue.put_nowait, item)

    async def produce() -> None:
        end: BaseException | None = None
        try:
            await run(put)
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # handed to the consumer, which re-raises it in its own task
            end = e
        put(end)

    future = spawn(produce())
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if not future.done():
            future.cancel()
