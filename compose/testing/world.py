"""What the emulated Hugging Face knows: users and their tokens, Spaces and their stages, visitors' IP tokens, and
the ZeroGPU ledger. The Hub API and the edge both read and change it; so do tests, through `Hub`.

All of it is guarded by one lock: the servers run on the emulator's own thread, tests on theirs.

Usage: `world.user("alice").token`, `world.space("owner/app").stage_now()`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["STAGES", "Charge", "EmulatedSpace", "User", "World", "subdomain_for"]

# The runtime stages huggingface_hub knows (SpaceStage), and the one the emulator adds before a wake-up.
STAGES = ("NO_APP_FILE", "CONFIG_ERROR", "BUILDING", "BUILD_ERROR", "RUNNING", "RUNNING_BUILDING", "RUNTIME_ERROR",
          "DELETING", "STOPPED", "PAUSED", "SLEEPING", "APP_STARTING", "RUNNING_APP_STARTING")


def subdomain_for(space_id: str) -> str:
    """The Space's subdomain as the Hub assigns it: `owner-name`, lower case, `.`/`_` as `-`; a name too long for
    one DNS label is cut and given a hash suffix (so the host cannot be guessed from the id: ask the Hub)."""
    sub = re.sub(r"[^a-z0-9-]", "-", space_id.replace("/", "-").lower())
    if len(sub) > 63:
        sub = f"{sub[:50].rstrip('-')}-{hashlib.sha256(space_id.encode()).hexdigest()[:8]}"
    return sub


@dataclass
class User:
    name: str
    token: str


@dataclass
class Charge:
    """One ZeroGPU charge: who paid (a ledger identity such as "user:alice" or "anon:10.0.0.7") and how much."""

    identity: str
    seconds: float
    space: str


@dataclass
class EmulatedSpace:
    """One Space: its id, host, privacy, stage, hardware and the backends (replica URLs) behind the edge."""

    id: str
    private: bool = False
    hardware: str = "cpu-basic"
    stage: str = "RUNNING"
    wake_seconds: float = 2.0
    members: set[str] = field(default_factory=set)
    backends: list[str] = field(default_factory=list)
    source: object = None  # what runs it: a folder path, a gr.Blocks or a factory (see replicas.py)
    files: dict[str, bytes] = field(default_factory=dict)  # what was uploaded to it (create_commit)
    sha: str = field(default_factory=lambda: secrets.token_hex(20))
    requests: int = 0  # requests the edge received for it (a test can tell that nothing was retried)
    rate_limited: int = 0  # how many of the next requests the edge answers 429
    retry_after: int = 1
    # Asleep, a Space has no container: its replicas are stopped (`cold`), and a wake-up starts fresh ones through
    # `on_wake` (the emulator's), as Hugging Face starts a new container: new app id, no gr.State, no memory.
    cold: bool = False
    on_wake: Callable[[EmulatedSpace], None] | None = field(default=None, repr=False)
    _ready_at: float | None = None  # while waking, building or starting: when it becomes RUNNING
    _round_robin: itertools.count = field(default_factory=itertools.count)

    @property
    def owner(self) -> str:
        return self.id.split("/")[0]

    @property
    def subdomain(self) -> str:
        return subdomain_for(self.id)

    @property
    def host(self) -> str:
        return f"{self.subdomain}.hf.space"

    def stage_now(self) -> str:
        # A wake-up runs once both its time has passed and its fresh replicas serve (whichever comes last).
        if self._ready_at is not None and time.monotonic() >= self._ready_at and not self.cold:
            self.stage, self._ready_at = "RUNNING", None
        return self.stage

    def set_stage(self, stage: str, *, for_seconds: float | None = None) -> None:
        """Put the Space in `stage`; with `for_seconds`, it becomes RUNNING by itself afterwards."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
        self.stage = stage
        self._ready_at = time.monotonic() + for_seconds if for_seconds is not None else None

    def wake(self) -> None:
        """A request reached a sleeping Space: it starts (fresh replicas, if its old ones were stopped), and serves
        after `wake_seconds`."""
        if self.stage_now() == "SLEEPING":
            self.set_stage("APP_STARTING", for_seconds=self.wake_seconds)
            if self.cold and self.on_wake is not None:
                self.on_wake(self)

    def serve(self, backends: list[str]) -> None:
        """Its replicas serve at `backends` now: a build or start with no timer of its own is over (RUNNING); a
        wake-up's timer still runs to its end."""
        self.backends, self.cold = list(backends), False
        if self._ready_at is None and self.stage in ("BUILDING", "APP_STARTING", "NO_APP_FILE"):
            self.set_stage("RUNNING")

    def next_backend(self) -> int:
        return int(next(self._round_robin)) % max(1, len(self.backends))


class World:
    """Users, Spaces, visitor tokens and the ZeroGPU ledger of one emulator."""

    def __init__(self, *, gpu_quota: dict[str, float] | None = None, quota_period: float = 86_400.0) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.spaces: dict[str, EmulatedSpace] = {}
        self._secret = secrets.token_bytes(32)
        self.quota = {"anonymous": 120.0, "user": 300.0, **(gpu_quota or {})}
        self.quota_period = quota_period
        self.charges: list[Charge] = []
        self._windows: dict[str, float] = {}  # identity → when its quota window started

    # --- users and tokens ---------------------------------------------------------------------------------------

    def user(self, name: str) -> User:
        with self.lock:
            if name not in self.users:
                self.users[name] = User(name, f"hf_emu_{name}_{secrets.token_hex(12)}")
            return self.users[name]

    def user_for_token(self, token: str | None) -> User | None:
        if not token:
            return None
        with self.lock:
            return next((u for u in self.users.values() if hmac.compare_digest(u.token, token)), None)

    def bearer_user(self, value: str | None) -> User | None:
        """The user an `Authorization`/`X-HF-Authorization` header value names ("Bearer hf_..."), if valid."""
        if not value or not value.lower().startswith("bearer "):
            return None
        return self.user_for_token(value[7:].strip())

    # --- visitors' IP tokens (what the edge adds as X-IP-Token) ---------------------------------------------------

    def ip_token(self, identity: str) -> str:
        """A signed visitor token for a ledger identity ("user:alice" or "anon:<address>")."""
        body = base64.urlsafe_b64encode(identity.encode()).decode().rstrip("=")
        mac = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        return f"ipt.{body}.{mac}"

    def identity_of(self, ip_token: str | None) -> str | None:
        """The ledger identity a visitor token stands for, or None if it is not one this emulator signed."""
        if not ip_token or ip_token.count(".") != 2:
            return None
        prefix, body, mac = ip_token.split(".")
        good = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        if prefix != "ipt" or not hmac.compare_digest(mac, good):
            return None
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()

    # --- Spaces ---------------------------------------------------------------------------------------------------

    def add_space(self, space: EmulatedSpace) -> EmulatedSpace:
        with self.lock:
            self.user(space.owner)
            self.spaces[space.id] = space
            return space

    def space(self, space_id: str) -> EmulatedSpace:
        with self.lock:
            if space_id not in self.spaces:
                raise KeyError(f"no emulated Space {space_id!r}; known: {', '.join(self.spaces) or 'none'}")
            return self.spaces[space_id]

    def by_host(self, host: str) -> EmulatedSpace | None:
        host = host.lower().rstrip(".")
        with self.lock:
            return next((s for s in self.spaces.values() if s.host == host), None)

    def may_see(self, space: EmulatedSpace, user: User | None) -> bool:
        """A private Space is visible to its owner and members only; a public one to everyone."""
        return not space.private or (user is not None and (user.name == space.owner or user.name in space.members))

    # --- the ZeroGPU ledger ---------------------------------------------------------------------------------------

    def base_quota(self, identity: str) -> float:
        return self.quota["anonymous"] if identity.startswith("anon:") else self.quota["user"]

    def used(self, identity: str) -> float:
        with self.lock:
            return sum(c.seconds for c in self.charges if c.identity == identity)

    def charge(self, identity: str, seconds: float, space: str) -> str | None:
        """Charge `seconds` of GPU to `identity`; None if granted, else ZeroGPU's own refusal text."""
        with self.lock:
            now = time.time()
            started = self._windows.setdefault(identity, now)
            if now - started >= self.quota_period:  # a new period: the quota is whole again
                self.charges = [c for c in self.charges if c.identity != identity]
                self._windows[identity] = started = now
            left = self.base_quota(identity) - self.used(identity)
            if seconds > left:
                wait = timedelta(seconds=int(max(0.0, started + self.quota_period - now)))
                return (f"You have exceeded your GPU quota ({seconds:.0f}s requested vs. {max(0.0, left):.0f}s left). "
                        f"Try again in {wait}")
            self.charges.append(Charge(identity, seconds, space))
            return None
