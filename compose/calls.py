"""One call of a remote endpoint over Gradio's queue protocol: upload, join, read the session stream, shape.

This is the single code path behind `call`, `predict`, `stream` and `submit`; it runs on compose's I/O loop and
reports each event through `emit`.

Usage (internal): `result = await run_call(up, schema, values, ident, emit)`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradio_client import utils as gc_utils

from . import redact
from .errors import (
    APIChanged,
    AppError,
    ComposeError,
    ConfigError,
    InvalidArguments,
    QuotaExceeded,
    SessionLost,
    SpaceUnavailable,
    UnsafeInput,
    UpstreamDisconnected,
    UpstreamTimeout,
)
from .files import (
    FILE_META,
    FileArg,
    amap_file_data,
    file_data_for_url,
    is_file_data,
    is_url,
    kept_source,
    map_file_data,
    origin_tag,
    remote_file_ref,
    under_roots,
    upload_source,
)
from .headers import is_hf_origin
from .http import Response
from .identity import Identity
from .limits import current_budget
from .login import SignInLost, asks_for_login
from .messages import HEARTBEAT, Malformed, apply_diffs, malformed
from .schema import EndpointSchema, Parameter, SpaceSchema
from .streams import DISCONNECTED, Mailbox
from .updates import ProgressUnit, Update
from .validation import validation_failure

if TYPE_CHECKING:
    from .upstream import Upstream

__all__ = ["JOIN_ANSWER_TIMEOUT", "Emit", "run_call"]

JOIN_ANSWER_TIMEOUT = 60.0  # seconds a join's answer may take at most (less if the Space's idle_timeout is shorter)

log = redact.logger("compose.calls")  # never a token in a log line

Emit = Callable[[Update], None]


async def run_call(up: Upstream, schema: EndpointSchema, values: list[Any], ident: Identity, emit: Emit, *,
                   raw: bool = False, event_data: Any = None, completion: dict[str, Any] | None = None) -> Any:
    """Run one job upstream and return its shaped result, emitting updates as they arrive.

    With `raw`, `values` holds one wire payload per dependency input (state slots ignored) and the result is the
    full output list, files as FileData pointing at local copies: what `space.render()` passes straight through.
    With `completion`, what the run's completion says besides its data is put there: `render_config` (what a
    `@gr.render` function made for this run) and `changed_state_ids` (the remote gr.States it changed).
    """
    task = up.call_begins()
    try:
        try:
            return await _run_call(up, schema, values, ident, emit, raw=raw, event_data=event_data,
                                   completion=completion)
        except SignInLost as e:
            # The app forgot compose's sign-in (a restart, or that user's logout elsewhere) and refused this call's
            # upload or join before anything started: sign in again and make the call once more.
            await up.sign_in(stale=e.stale)
            try:
                return await _run_call(up, schema, values, ident, emit, raw=raw, event_data=event_data,
                                       completion=completion)
            except SignInLost:
                raise SpaceUnavailable("the app refused the call although compose had just signed in again (auth=)",
                                       space=up.name, api_name=schema.api_name) from None
    except asyncio.CancelledError:
        if up.closing:  # cancelled by the Space's close(), not by its caller: say so
            raise UpstreamDisconnected("the Space was closed while this call ran; its upstream job was cancelled",
                                       space=up.name, api_name=schema.api_name) from None
        raise
    finally:
        up.call_ends(task)


async def _run_call(up: Upstream, schema: EndpointSchema, values: list[Any], ident: Identity, emit: Emit, *,
                    raw: bool, event_data: Any, completion: dict[str, Any] | None) -> Any:
    sch = up.schema_now()
    if ident.oauth_token and schema.oauth_token is None:
        # A signed-in user's token goes only to an endpoint that declares a gr.OAuthToken parameter (neither as
        # a header nor in the body elsewhere): another endpoint of the same Space has no business with it.
        ident = dataclasses.replace(ident, oauth_token=None)
    await up.signed_in()  # an app launched with Gradio's auth= (its schema read from the disk cache: not yet)
    epoch = up.epoch
    session_hash = up.session(ident.session, epoch)
    if schema.stateful and up.lost(session_hash, ident.session):
        raise SessionLost("the Space replica this user's upstream session lived on restarted, and the session (its "
                          "gr.State) was lost with it; it has been reset, call again to start over (nothing was "
                          "sent)", space=up.name, api_name=schema.api_name)
    headers = up.headers(ident, session_hash)
    signed = up.login.cookie if up.login is not None else None  # the sign-in these requests carry (auth=)
    name = schema.api_name
    if raw:
        data = [None if slot is None else await _prepare(up, sch, schema, None, v, (session_hash, ident.session))
                for slot, v in zip(schema.input_slots, values, strict=False)]
    else:
        payload = [await _prepare(up, sch, schema, p, v, (session_hash, ident.session))
                   for p, v in zip(schema.parameters, values, strict=True)]
        data = [None if slot is None else payload[slot] for slot in schema.input_slots]
    body: dict[str, Any] = {"data": data, "event_data": event_data, "fn_index": schema.fn_index, "trigger_id": None,
                            "session_hash": session_hash}
    if ident.oauth_token and up.use_oauth_token and is_hf_origin(up.url):
        body["oauth_token"] = ident.oauth_token  # a signed-in user's token, only ever to Hugging Face
    # A session Gradio knows already: its data stream opens now, beside the join, so a warm call costs one round
    # trip (a session's first call keeps the order join → stream: Gradio would not know the session yet).
    stream_headers = up.headers(None, session_hash, accept="text/event-stream")
    stream_cookie = up.cookies.header(session_hash)
    data_path = f"{sch.api_prefix}/queue/data"
    up.streams.joining(session_hash)
    early = up.streams.prepare(session_hash, stream_headers, opener=up.transport.stream, path=data_path)
    if not early:
        # join → stream, one after the other: this call needs one connection, the session's next call two at once.
        up.transport.preconnect()
    join = asyncio.ensure_future(up.transport.send(
        "POST", f"{sch.api_prefix}/queue/join", headers=headers, json=body, retry=True, api_name=name,
        # Its answer is the job's first sign of life: no longer than the idle deadline (and a minute at most).
        read_timeout=min(JOIN_ANSWER_TIMEOUT, up.idle_timeout),
    ))
    try:
        response, event_id = await _joined(up, schema, join, session_hash, ident, signed)
    except BaseException:
        if early:
            up.streams.unprepare(session_hash)  # no call will wait on it: Gradio must not hold it open for nothing
        up.streams.join_failed(session_hash)
        raise
    # The data stream carries no user's headers: it may serve several calls of a shared session, and starts nothing.
    # Headers again, after the join: its answer may have set the session's affinity cookie (a first call's stream
    # must reach the replica that holds the session).
    if up.cookies.header(session_hash) != stream_cookie:
        stream_headers = up.headers(None, session_hash, accept="text/event-stream")
    box = up.streams.subscribe(session_hash, event_id, stream_headers, opener=up.transport.stream,
                               path=data_path, fn_index=schema.fn_index)
    try:
        if (schema.stateful and up.transport.first_join_on(response)
                and await up.restarted(session_hash, ident.session, epoch,
                                       new_connection=response.new_connection)):
            raise SessionLost(
                "the Space restarted and this user's upstream session (its gr.State) was lost; it has been reset, "
                "call again to start over", space=up.name, api_name=name)
        return await _read(up, schema, box, emit, ident, raw, session_hash, completion)
    except BaseException as e:
        if not isinstance(e, (AppError, QuotaExceeded, UpstreamDisconnected, InvalidArguments)):
            # Cancelled by the caller, timed out, or lost: stop the upstream job so it does not run on for no one.
            _cancel_upstream(up, sch, schema, session_hash, event_id, headers)
        raise
    finally:
        up.streams.release(session_hash, event_id)


async def _joined(up: Upstream, schema: EndpointSchema, join: asyncio.Future[Response], session_hash: str,
                  ident: Identity, signed: str | None) -> tuple[Response, str]:
    """The join's answer and its event id, or the error it stands for (`signed`: the sign-in the join carried)."""
    sch = up.schema_now()
    name = schema.api_name
    try:
        response = await asyncio.shield(join)
    except asyncio.CancelledError:
        # Cancelled while the join was in flight: the job may start anyway, so cancel it once its id is known.
        join.add_done_callback(lambda done: _cancel_joined(up, sch, schema, session_hash, done))
        raise
    # A balancer's affinity cookie (or any other) belongs to this upstream session alone.
    up.cookies.update(session_hash, response.headers.get_list("set-cookie"), user=ident.session)
    if up.refused_sign_in(response):
        raise SignInLost(signed)
    if response.status_code != 200:
        raise _join_error(up, schema, response)
    event_id = _event_id(response)
    if event_id is None:
        # A 200 that is not Gradio's answer (a proxy's page, another app): say so instead of a bare KeyError.
        raise SpaceUnavailable(f"join answered 200 without an event id: {response.text[:200]!r}",
                               space=up.name, api_name=name)
    return response, event_id


def _event_id(response: Response) -> str | None:
    """The event id of a join's answer, or None if the answer is not Gradio's."""
    try:
        event_id = response.json()["event_id"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    # Gradio's ids are strings; null (or an object) named no event, and the call waited out its idle deadline for
    # messages of an event called "None".
    return event_id if isinstance(event_id, str) and event_id else None


def _note_changed_states(completion: dict[str, Any], output: dict[str, Any]) -> None:
    """Add the remote gr.States an output message says changed to `completion["changed_state_ids"]` (a
    generator's come with the output that changed them, not at its end)."""
    changed = output.get("changed_state_ids")
    if isinstance(changed, list):
        known = completion.setdefault("changed_state_ids", [])
        known.extend(i for i in changed if isinstance(i, int) and i not in known)


def _cancel_joined(up: Upstream, sch: SpaceSchema, schema: EndpointSchema, session_hash: str,
                   join: asyncio.Future[Response]) -> None:
    if join.cancelled() or join.exception() is not None:
        return
    event_id = _event_id(join.result())
    if event_id is not None:
        _cancel_upstream(up, sch, schema, session_hash, event_id, up.headers(None, session_hash))


def _cancel_upstream(
    up: Upstream, sch: SpaceSchema, schema: EndpointSchema, session_hash: str, event_id: str,
    headers: dict[str, str]
) -> None:
    async def cancel() -> None:
        # The user's other calls of this endpoint running before the cancel goes out: Gradio stops them with it.
        # (One that starts after may be stopped too, or not: it is left to its own end, as before.)
        running = up.streams.running(session_hash, schema.fn_index, but=event_id)
        try:
            await up.transport.send(
                "POST", f"{sch.api_prefix}/cancel", headers=headers,
                json={"session_hash": session_hash, "fn_index": schema.fn_index, "event_id": event_id},
                # A cancel may safely be sent twice; losing it to a pooled connection the server just closed
                # would leave the job running for no one.
                retry=True, idempotent=True,
            )
            up.streams.stopped_with(session_hash, running)
        except Exception as e:  # the upstream may be gone; nothing left to stop then
            log.debug("cancel of %s %s failed: %r", up.name, schema.api_name, e)

    # A task of its own: the caller's task is being cancelled, and the cancel request must still go out.
    up.in_background(cancel())


async def _read(up: Upstream, schema: EndpointSchema, box: Mailbox, emit: Emit,
                ident: Identity, raw: bool, session_hash: str | None = None,
                completion: dict[str, Any] | None = None) -> Any:
    name = schema.api_name

    async def present(data: list[Any]) -> Any:
        finished = await _finish_outputs(up, schema, data, ident, raw, session_hash)
        return finished if raw else schema.shape(finished)

    latest: list[Any] | None = None
    loop = asyncio.get_running_loop()
    # Heartbeats prove the upstream alive, so they reset the idle deadline; this one bounds the call whatever.
    ends = loop.time() + up.limits.max_duration
    while True:
        if box.empty():
            wait = min(up.idle_timeout, ends - loop.time())
            try:
                msg = await box.get(timeout=wait)
            except TimeoutError:
                if wait < up.idle_timeout:
                    raise UpstreamTimeout(f"the call ran past its overall deadline of {up.limits.max_duration:g} "
                                          "s (Limits.max_duration); the upstream job was cancelled",
                                          space=up.name, api_name=name) from None
                raise UpstreamTimeout(f"no progress for {up.idle_timeout:g} s; the upstream job was cancelled",
                                      space=up.name, api_name=name) from None
        else:  # often several messages came in one read: no timer for those
            msg = box.take()
        if msg is HEARTBEAT:
            continue
        if msg.get("msg") == DISCONNECTED["msg"]:
            raise UpstreamDisconnected(msg.get("why") or "the connection to the Space closed before the job finished",
                                       space=up.name, api_name=name)
        problem = malformed(msg)
        if problem is not None:
            raise UpstreamDisconnected(f"the Space sent a malformed {msg.get('msg')!r} message ({problem}); this "
                                       "call was abandoned", space=up.name, api_name=name)
        kind = msg.get("msg")
        if kind == "estimation":
            emit(Update("status", stage="queued", rank=msg.get("rank"), queue_size=msg.get("queue_size"),
                        eta=msg.get("rank_eta")))
        elif kind == "process_starts":
            emit(Update("status", stage="started", eta=msg.get("eta")))
        elif kind == "progress":
            units = tuple(ProgressUnit(**{k: u.get(k) for k in ("index", "length", "unit", "progress", "desc")})
                          for u in msg.get("progress_data") or [])
            emit(Update("progress", progress=units))
        elif kind == "log":
            emit(Update("log", level=msg.get("level"), message=msg.get("log"), title=msg.get("title")))
        elif kind in ("process_generating", "process_streaming"):
            output = msg.get("output") or {}
            if not msg.get("success", True):
                raise _app_error(up, name, output)
            chunk = output.get("data") or []
            if completion is not None:
                _note_changed_states(completion, output)
            if latest is None:
                latest = list(chunk)
            else:
                # Gradio streams diffs after the first value; gradio_client's helper applies them.
                try:
                    latest = apply_diffs(latest, chunk)
                except Malformed as e:
                    raise UpstreamDisconnected(f"the Space sent a malformed update ({e}); this call was abandoned",
                                               space=up.name, api_name=name) from None
            emit(Update("output", value=await present(latest)))
        elif kind == "process_completed":
            output = msg.get("output") or {}
            if not msg.get("success", False):
                raise _app_error(up, name, output)
            data = output.get("data")
            if data is None or (schema.streams and not data and latest is not None):
                data = latest or []
            if not schema.streams and isinstance(data, list) and len(data) < len(schema.output_slots):
                # A success without the values: None for a result would be a silent lie.
                raise UpstreamDisconnected(f"the Space answered success with {len(data)} of the endpoint's "
                                           f"{len(schema.output_slots)} output values; this call was abandoned",
                                           space=up.name, api_name=name)
            result = await present(list(data))
            if completion is not None:
                if isinstance(output.get("render_config"), dict):
                    completion["render_config"] = output["render_config"]
                _note_changed_states(completion, output)
            emit(Update("output", value=result, final=True))
            return result
        elif kind == "unexpected_error":
            if msg.get("session_not_found"):
                raise SessionLost(f"the Space no longer knows this session ({msg.get('message')})",
                                  space=up.name, api_name=name)
            raise UpstreamDisconnected(msg.get("message") or "unexpected error upstream",
                                       space=up.name, api_name=name)


def _app_error(up: Upstream, api_name: str, output: dict[str, Any]) -> AppError | QuotaExceeded:
    message = output.get("error")
    if message is None:
        message = ("the remote app raised an error but does not show error details "
                   "(it was launched with show_error=False)")
    title = output.get("title")
    # A spent ZeroGPU quota is the visitor's, not a bug of the app: typed, so nobody retries it blindly.
    quota = QuotaExceeded.parse(str(message), title=title, space=up.name, api_name=api_name)
    return quota or AppError(str(message), title=title, space=up.name, api_name=api_name)


def _join_error(up: Upstream, schema: EndpointSchema, response: Response) -> ComposeError:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    # Gradio's error answers are {"detail": ...}; any other shape is shown as its text.
    detail = answer.get("detail") if isinstance(answer, dict) else response.text[:200]
    if response.status_code == 422 and (invalid := validation_failure(detail, schema, space=up.name)):
        return invalid  # the remote's validators refused the arguments: each parameter and its message
    if response.status_code == 422:
        return AppError(str(detail), space=up.name, api_name=schema.api_name)
    if asks_for_login(response):
        return ConfigError(f"{up.name}: the app asks for a login (it was launched with Gradio's auth=): pass "
                           "Space(..., auth=(username, password))")
    if response.status_code in (400, 404):
        return APIChanged(f"the Space refused the call ({response.status_code}: {detail}); its API may have changed, "
                          "refresh() re-reads it", space=up.name, api_name=schema.api_name)
    return SpaceUnavailable(f"join answered {response.status_code}: {detail}", space=up.name,
                            api_name=schema.api_name)


async def _prepare(up: Upstream, sch: SpaceSchema, schema: EndpointSchema, param: Parameter | None, value: Any,
                   session: tuple[str, str | None] | None = None) -> Any:
    """Turn file arguments into FileData the remote can read, uploading only what the developer allowed.

    `param` is None for a raw payload (`up.render()`), whose FileData the caller has already vetted as the end
    user's own upload; elsewhere a file-shaped dict is data anyone can write (a model's JSON, a remote's output),
    not permission: its local path is sent only under allowed_paths (wrap it in compose.file() to send it anyway).
    """
    vetted = param is None

    async def send(v: FileArg | dict[str, Any]) -> Any:
        source = v.source if isinstance(v, FileArg) else str(v.get("path") or "")
        extra = {} if isinstance(v, FileArg) else v
        kept = kept_source(Path(source)) if source and not is_url(source) else None
        if kept is not None and kept[0] == origin_tag(up.url) and Path(source).is_file():
            # This app's own file, kept by compose and handed back (a chat history): the app's own reference to
            # it, as Gradio's page sends it back; nothing uploaded, nothing read from our disk. Only a file compose
            # made counts (no upload ever lands in a folder named so), and only for the app it came from.
            return {**{k: x for k, x in extra.items() if k not in ("path", "url")}, "path": kept[1],
                    "meta": dict(FILE_META)}
        if isinstance(v, FileArg):
            return await _upload_or_link(up, sch, schema, v.source, explicit=True, session=session)
        return await _upload_or_link(up, sch, schema, v["path"], explicit=vetted, extra=v, session=session)

    if isinstance(value, str) and param is not None and param.is_file and value:
        return await _upload_or_link(up, sch, schema, value, explicit=False, session=session)
    return await gc_utils.async_traverse(value, send, lambda v: isinstance(v, FileArg) or is_file_data(v))


async def _upload_or_link(
    up: Upstream, sch: SpaceSchema, schema: EndpointSchema, source: str, *, explicit: bool,
    extra: dict[str, Any] | None = None, session: tuple[str, str | None] | None = None,
) -> dict[str, Any]:
    if is_url(source):
        return file_data_for_url(source)
    path = Path(source).expanduser()
    if not explicit and not under_roots(path, up.allowed_paths):
        raise UnsafeInput(
            f"{up.name} {schema.api_name}: {source!r} is a plain string; a local file is sent only when wrapped "
            "in compose.file(...) or under the Space's allowed_paths")
    limit = up.max_upload_bytes if sch.max_file_size is None else min(up.max_upload_bytes, sch.max_file_size)
    checked = upload_source(str(path), max_bytes=limit)
    budget = current_budget(up.limits)  # this call's: a count and byte cap, and each file sent once
    sent = budget.already(checked)
    if sent is not None:
        return {**{k: v for k, v in (extra or {}).items() if k not in ("path", "url")}, **sent}
    budget.charge(checked)
    data = {**await up.upload(checked, schema.api_name, session), "meta": dict(FILE_META)}
    budget.record(checked, data)
    if extra:
        data = {**{k: v for k, v in extra.items() if k not in ("path", "url")}, **data}
    return data


def _downloader(up: Upstream, api_name: str, ident: Identity, session_hash: str | None, *, raw: bool
                ) -> Callable[..., Awaitable[Any]]:
    """Download one remote FileData (as a local path; with `raw`, as FileData pointing at the local copy), up to
    `Limits.max_downloads` per downloader; past it, a link on the Space's origin, nothing lost. With `keep` (a
    Chatbot's files), a file this user already has is not fetched again, and does not count."""
    sch = up.schema_now()
    left = up.limits.max_downloads

    async def download(v: dict[str, Any], keep: bool = False) -> Any:
        nonlocal left
        local = up.kept_download(v, ident) if keep else None
        if local is None:
            if left <= 0:
                return remote_file_ref(v, base_url=up.url, api_prefix=sch.api_prefix)
            left -= 1
            local = await up.download(v, api_name, ident, session_hash, keep=keep)
        if raw or keep:
            # The size as downloaded (gr.File shows it), not as the remote claims it. A Chatbot's files stay
            # FileData even for `predict`: a message's file part must be one for gr.Chatbot to take it back.
            return {"path": local, "orig_name": v.get("orig_name") or Path(local).name,
                    "size": Path(local).stat().st_size, "mime_type": v.get("mime_type"), "meta": dict(FILE_META)}
        return local

    return download


async def local_payloads(up: Upstream, values: list[Any], ident: Identity, what: str) -> list[Any | None]:
    """Payload values the app itself holds (a component's value in its config, or in what a `@gr.render` run made)
    with each file downloaded, as a call's raw outputs are (FileData pointing at the local copy; past
    `Limits.max_downloads` in all, a link). A value whose files cannot be fetched is None (`what` names them in
    the log); the others are kept. A Space the Hub says sleeps is not woken for them: all None."""
    if up.asleep:
        # Not worth waking a sleeping Space for (its first call will): shown without them.
        log.info("compose: %s sleeps; the files of %s are left out rather than wake it", up.name, what)
        return [None] * len(values)
    await up.signed_in()
    download = _downloader(up, what, ident, None, raw=True)
    out: list[Any | None] = []
    for value in values:
        try:
            out.append(await amap_file_data(value, download))
        except ComposeError as e:
            log.warning("compose: %s: a file of %s could not be fetched, left out: %s", up.name, what, e)
            out.append(None)
    return out


async def _finish_outputs(up: Upstream, schema: EndpointSchema, data: list[Any], ident: Identity, raw: bool,
                          session_hash: str | None = None) -> list[Any]:
    """Make every FileData the remote sent safe to hand on: downloaded (from the Space's own origin only, into the
    sandboxed download folder) or, where nothing is downloaded, a link on the Space's origin with no local path
    (`files.remote_file_ref`). A remote path is never left for anyone to read from our disk."""
    sch = up.schema_now()

    def link(v: dict[str, Any]) -> dict[str, Any]:
        return remote_file_ref(v, base_url=up.url, api_prefix=sch.api_prefix)

    download = _downloader(up, schema.api_name, ident, session_hash, raw=raw)
    returns = schema.returns
    slots = schema.output_slots
    out: list[Any] = []
    for i, v in enumerate(data):
        slot = slots[i] if i < len(slots) else None
        ret = returns[slot] if slot is not None and slot < len(returns) else None
        # A Chatbot's history comes back whole with every turn, earlier turns' files too: each is kept and fetched
        # once (`Upstream.kept_download`).
        keep = i < len(schema.output_kinds) and schema.output_kinds[i] == "chatbot"
        if raw or (up.download_files and ret is not None and (ret.is_file or ret.holds_files)):
            # One file, or a structure of files (a Gallery, a Chatbot's messages): each one downloaded, as a
            # local path (as gradio_client returns them; a Chatbot's as FileData, see `_downloader`).
            out.append(await amap_file_data(v, functools.partial(download, keep=keep)))
        else:
            # A FileData inside JSON, or any when downloads are off: a link.
            out.append(map_file_data(v, link))
    return out
