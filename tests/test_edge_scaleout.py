"""Scale-out on an existing engine: a composed app as 2 replicas behind nginx (sticky by cookie) with one
COMPOSE_SESSION_SECRET. Users keep their own upstream state; when the replica a user is on dies mid-conversation,
their next call lands on the other replica and reaches the same upstream session (the browser keeps its session
hash, the secret derives the same upstream session there)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from compose.apps.processes import free_port, wait_ready

HERE = Path(__file__).resolve().parent / "scaleout"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (make test installs it)")


class Browser:
    """One end user's browser tab: its cookies (nginx's route) and its Gradio session hash, kept across calls."""

    def __init__(self, url: str) -> None:
        self.url, self.session = url, secrets.token_hex(8)
        self.http = httpx.Client(timeout=25, trust_env=False)
        self.fn = {f"/{d['api_name']}": d["id"] for d in self.http.get(f"{url}/config").json()["dependencies"]}

    def call(self, api_name: str) -> Any:
        r = self.http.post(f"{self.url}/gradio_api/queue/join", json={
            "data": [], "fn_index": self.fn[api_name], "session_hash": self.session, "event_data": None,
            "trigger_id": None})
        r.raise_for_status()
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data", params={"session_hash": self.session}) as s:
            for line in s.iter_lines():
                if line.startswith("data:") and (msg := json.loads(line[5:])).get("msg") == "process_completed":
                    assert msg["success"], msg
                    return msg["output"]["data"][0]
        raise AssertionError("the stream ended without a result")


@pytest.fixture(scope="module")
def cluster(urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    secret = secrets.token_hex(16)
    ports = [free_port(), free_port()]
    env = {**os.environ, "UPSTREAM": urls["diagnostics"], "COMPOSE_SESSION_SECRET": secret,
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    processes = {port: subprocess.Popen([sys.executable, str(HERE / "app.py")], cwd=HERE, text=True,
                                        env={**env, "GRADIO_SERVER_PORT": str(port)},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for port in ports}
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = (HERE / "nginx.conf").read_text()
    for key, value in {"{PREFIX}": str(prefix), "{PORT}": str(port), "{A}": str(ports[0]),
                       "{B}": str(ports[1])}.items():
        conf = conf.replace(key, value)
    (prefix / "nginx.conf").write_text(conf)
    nginx = None
    try:
        for p, process in processes.items():
            wait_ready(f"replica {p}", process, prefix, timeout=120)
        nginx = subprocess.Popen([str(NGINX), "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                                  str(prefix / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(trust_env=False) as probe:
            # nginx binds within milliseconds, or a good while later on a loaded machine: a bounded wait for its
            # socket by the clock (200 quick refusals once took less time than nginx needed to start).
            deadline = time.monotonic() + 30
            while True:
                try:
                    probe.get(f"{url}/config", timeout=2)
                    break
                except httpx.TransportError:
                    if nginx.poll() is not None:
                        raise RuntimeError(nginx.stderr.read().decode() if nginx.stderr else "nginx ended") from None
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)  # a poll interval, not a synchronisation: the loop waits for the socket
        yield {"url": url, "processes": processes}
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for process in processes.values():
            process.kill()
            process.wait(10)


def test_users_keep_their_upstream_state_across_replicas_and_a_replica_dying(cluster: dict[str, Any]) -> None:
    users: list[Browser] = []
    replica_of: dict[int, str] = {}
    while len(set(replica_of.values())) < 2 or len(users) < 6:  # users on both replicas (nginx hashes at random)
        assert len(users) < 40, "nginx sent 40 users to one replica"
        users.append(Browser(cluster["url"]))
        replica_of[id(users[-1])] = users[-1].call("/replica")
    assert [[u.call("/increment") for _ in range(2)] for u in users] == [[1, 2]] * len(users)
    # Each user stayed on their replica (sticky), so join and data stream of each call met on one replica.
    assert all(u.call("/replica") == replica_of[id(u)] for u in users)

    doomed = replica_of[id(users[0])]
    cluster["processes"][int(doomed)].kill()  # mid-conversation
    cluster["processes"][int(doomed)].wait(10)

    # Everyone's next call goes through, the moved users on the other replica, in the same upstream session.
    assert [u.call("/increment") for u in users] == [3] * len(users)
    assert {u.call("/replica") for u in users} == {p for p in replica_of.values() if p != doomed}
