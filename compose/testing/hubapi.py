"""The emulated Hub API, as huggingface_hub requests it (read from its sources: hf_api.py, _commit_api.py).

Routes: whoami-v2, space info and runtime, restart, pause, duplicate, repos/create, preupload + commit (what
`upload_folder` sends; every file "regular", so no LFS), the visitor's ZeroGPU quota, and the emulator's own ledger
endpoint that `compose.testing.zero_gpu` calls from inside a Space.

Usage: `web.run_app(hub_api(world, on_files=...))` (the emulator does this on its own thread).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from .world import EmulatedSpace, User, World

__all__ = ["hub_api"]

OnChange = Callable[[EmulatedSpace], None]


def _not_found(what: str) -> web.Response:
    # huggingface_hub turns this header into RepositoryNotFoundError; a private repo looks exactly like a missing one.
    return web.json_response({"error": f"{what} not found"}, status=404,
                             headers={"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})


def _caller(world: World, request: web.Request) -> User | None:
    return world.bearer_user(request.headers.get("authorization"))


def runtime_json(space: EmulatedSpace) -> dict[str, Any]:
    stage = space.stage_now()
    return {"stage": stage, "hardware": {"current": space.hardware if stage == "RUNNING" else None,
                                         "requested": space.hardware},
            "gcTimeout": 172_800, "storage": None, "devMode": False}


def hub_api(world: World, endpoint: Callable[[], str], *, on_files: OnChange, on_duplicate: Callable[
        [EmulatedSpace, EmulatedSpace], None], on_restart: Callable[[EmulatedSpace, bool], None] | None = None,
        on_pause: OnChange | None = None) -> web.Application:
    """The aiohttp application of the Hub API. `on_files` runs when a commit changed a Space's files (it is then
    rebuilt); `on_duplicate(source, copy)` when a Space was duplicated; `on_restart(space, factory)` and
    `on_pause(space)` when its owner restarts or pauses it (the emulator restarts or stops its replicas)."""
    routes = web.RouteTableDef()

    def visible(request: web.Request) -> EmulatedSpace | None:
        space_id = f"{request.match_info['owner']}/{request.match_info['name']}"
        with world.lock:
            space = world.spaces.get(space_id)
            return space if space is not None and world.may_see(space, _caller(world, request)) else None

    def writable(request: web.Request) -> tuple[EmulatedSpace | None, web.Response | None]:
        space, user = visible(request), _caller(world, request)
        if space is None:
            return None, _not_found("Space")
        if user is None or (user.name != space.owner and user.name not in space.members):
            return None, web.json_response({"error": "You don't have the rights to do this"}, status=403)
        return space, None

    @routes.get("/api/whoami-v2")
    async def whoami(request: web.Request) -> web.Response:
        user = _caller(world, request)
        if user is None:
            return web.json_response({"error": "Invalid credentials in Authorization header"}, status=401)
        return web.json_response({"type": "user", "id": user.name, "name": user.name, "fullname": user.name,
                                  "orgs": [], "auth": {"type": "access_token",
                                                       "accessToken": {"displayName": "emulated", "role": "write"}}})

    @routes.get("/api/spaces/zero-gpu/quota")
    async def quota(request: web.Request) -> web.Response:
        user = _caller(world, request)
        if user is None:
            return web.json_response({"error": "Unauthorized"}, status=401)
        identity = f"user:{user.name}"
        return web.json_response({"base": world.base_quota(identity),
                                  "current": world.base_quota(identity) - world.used(identity),
                                  "resetsAt": None, "overquotaUsed": 0})

    def info_json(space: EmulatedSpace) -> dict[str, Any]:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # the Hub's own format
        return {"id": space.id, "author": space.owner, "sha": space.sha, "private": space.private,
                "disabled": False, "gated": False, "host": f"https://{space.host}", "subdomain": space.subdomain,
                "sdk": "gradio", "tags": ["gradio"], "likes": 0, "createdAt": now, "lastModified": now,
                "siblings": [{"rfilename": name} for name in sorted(space.files)],
                "runtime": runtime_json(space)}

    @routes.get("/api/spaces/{owner}/{name}")
    @routes.get("/api/spaces/{owner}/{name}/revision/{revision}")
    async def space_info(request: web.Request) -> web.Response:
        space = visible(request)
        return web.json_response(info_json(space)) if space is not None else _not_found("Space")

    @routes.get("/api/spaces/{owner}/{name}/runtime")
    async def runtime(request: web.Request) -> web.Response:
        space = visible(request)
        return web.json_response(runtime_json(space)) if space is not None else _not_found("Space")

    @routes.post("/api/spaces/{owner}/{name}/restart")
    async def restart(request: web.Request) -> web.Response:
        space, refused = writable(request)
        if space is None:
            return refused  # type: ignore[return-value]
        factory = request.query.get("factory") == "true"
        if on_restart is not None:
            on_restart(space, factory)  # APP_STARTING (BUILDING for a factory reboot) until its replicas serve
        else:
            space.set_stage("APP_STARTING", for_seconds=space.wake_seconds)
        return web.json_response(runtime_json(space))

    @routes.post("/api/spaces/{owner}/{name}/pause")
    async def pause(request: web.Request) -> web.Response:
        space, refused = writable(request)
        if space is None:
            return refused  # type: ignore[return-value]
        if on_pause is not None:
            on_pause(space)  # its replicas stop: what they held is gone
        else:
            space.set_stage("PAUSED")
        return web.json_response(runtime_json(space))

    @routes.post("/api/spaces/{owner}/{name}/duplicate")
    async def duplicate(request: web.Request) -> web.Response:
        source, user = visible(request), _caller(world, request)
        if source is None:
            return _not_found("Space")
        if user is None:
            return web.json_response({"error": "Unauthorized"}, status=401)
        payload = await request.json()
        target = str(payload.get("repository") or f"{user.name}/{source.id.split('/')[1]}")
        url = {"url": f"{endpoint()}/spaces/{target}"}
        if target.split("/")[0] != user.name:
            return web.json_response({"error": "You can only duplicate into your own namespace"}, status=403)
        with world.lock:
            if target in world.spaces:
                return web.json_response({"error": "You already created this space repo", **url}, status=409)
            copy = world.add_space(EmulatedSpace(
                id=target, private=payload.get("visibility", "public") == "private" or bool(payload.get("private")),
                hardware=str(payload.get("hardware") or source.hardware), source=source.source,
                files=dict(source.files), stage="BUILDING"))
        on_duplicate(source, copy)
        return web.json_response(url)

    @routes.post("/api/repos/create")
    async def create_repo(request: web.Request) -> web.Response:
        user = _caller(world, request)
        if user is None:
            return web.json_response({"error": "Unauthorized"}, status=401)
        payload = await request.json()
        if payload.get("type") != "space":
            return web.json_response({"error": "the emulator hosts Spaces only"}, status=400)
        owner = payload.get("organization") or user.name
        space_id = f"{owner}/{payload['name']}"
        url = {"url": f"{endpoint()}/spaces/{space_id}", "name": space_id, "id": space_id}
        if owner != user.name:
            return web.json_response({"error": "You can only create repos in your own namespace"}, status=403)
        with world.lock:
            if space_id in world.spaces:
                return web.json_response({"error": "You already created this space repo", **url}, status=409)
            world.add_space(EmulatedSpace(id=space_id, private=payload.get("visibility") == "private"
                                          or bool(payload.get("private")), stage="NO_APP_FILE"))
        return web.json_response(url)

    @routes.post("/api/validate-yaml")
    async def validate_yaml(request: web.Request) -> web.Response:
        # upload_folder has the README's front matter checked first; the emulator accepts what parses as text.
        body = await request.json()
        ok = isinstance(body.get("content"), str)
        return web.json_response({"errors": [] if ok else [{"message": "no content"}], "warnings": []},
                                 status=200 if ok else 400)

    @routes.post("/api/spaces/{owner}/{name}/preupload/{revision}")
    async def preupload(request: web.Request) -> web.Response:
        space, refused = writable(request)
        if space is None:
            return refused  # type: ignore[return-value]
        files = (await request.json()).get("files") or []
        return web.json_response({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                            for f in files]})

    @routes.post("/api/spaces/{owner}/{name}/commit/{revision}")
    async def commit(request: web.Request) -> web.Response:
        space, refused = writable(request)
        if space is None:
            return refused  # type: ignore[return-value]
        changed: dict[str, bytes | None] = {}
        for line in (await request.read()).splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            value = item.get("value") or {}
            if item.get("key") == "file":
                changed[value["path"]] = base64.b64decode(value["content"])
            elif item.get("key") in ("deletedFile", "deletedFolder"):
                changed[value["path"]] = None
            elif item.get("key") == "lfsFile":
                return web.json_response({"error": "the emulator takes regular files only"}, status=400)
        with world.lock:
            for path, content in changed.items():
                if content is None:
                    space.files = {p: c for p, c in space.files.items()
                                   if p != path and not p.startswith(path.rstrip("/") + "/")}
                else:
                    space.files[path] = content
            space.sha = secrets.token_hex(20)
            space.set_stage("BUILDING" if "app.py" in space.files else "NO_APP_FILE")
        on_files(space)
        return web.json_response({"commitUrl": f"{endpoint()}/spaces/{space.id}/commit/{space.sha}",
                                  "commitOid": space.sha, "pullRequestUrl": None})

    @routes.post("/_emulator/zerogpu/charge")
    async def charge(request: web.Request) -> web.Response:
        # Called by compose.testing.zero_gpu from inside a Space: bill the visitor the edge identified.
        body = await request.json()
        identity = world.identity_of(body.get("ip_token"))
        if identity is None:
            return web.json_response({"error": "no valid x-ip-token: the request did not come through the edge"},
                                     status=400)
        refused = world.charge(identity, float(body.get("seconds", 60)), str(body.get("space", "")))
        return web.json_response({"ok": refused is None, "error": refused, "identity": identity})

    app = web.Application()
    app.add_routes(routes)
    return app


