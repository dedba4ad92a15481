"""compose.testing itself: the emulated Hub API and Spaces edge behave as Hugging Face does for a client.

Plain httpx and huggingface_hub talk to it here, through the documented seam (HF_ENDPOINT, HTTPS_PROXY,
SSL_CERT_FILE), so these tests hold whatever compose does.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import huggingface_hub
import pytest
from gradio_client import Client
from huggingface_hub.errors import RepositoryNotFoundError

import compose.testing
from compose.testing.edge import AFFINITY_COOKIE


def _until_running(hub: compose.testing.Hub, space_id: str, limit: float = 20.0) -> list[int]:
    """Request the Space's /config until it serves; the statuses seen on the way."""
    statuses: list[int] = []
    deadline = time.monotonic() + limit
    host = hub.space(space_id).host
    while time.monotonic() < deadline:
        statuses.append(httpx.get(f"https://{host}/config").status_code)
        if statuses[-1] == 200:
            break
        huggingface_hub.HfApi().wait_for_space(space_id, timeout=limit, poll_interval=0.2)
    return statuses


def test_hub_api_answers_as_huggingface_hub_expects(edge: compose.testing.Hub) -> None:
    info = huggingface_hub.space_info("owner/headers")
    assert (info.host, info.private, info.runtime.stage) == ("https://owner-headers.hf.space", False, "RUNNING")
    assert huggingface_hub.HfApi(token=edge.token("alice")).whoami()["name"] == "alice"
    # A private Space does not exist for anyone but its owner (and members).
    with pytest.raises(RepositoryNotFoundError):
        huggingface_hub.space_info("owner/private")
    with pytest.raises(RepositoryNotFoundError):
        huggingface_hub.space_info("owner/private", token=edge.token("mallory"))
    assert huggingface_hub.space_info("owner/private", token=edge.token("owner")).private is True


def test_a_long_space_id_gets_a_host_no_one_can_guess(edge: compose.testing.Hub) -> None:
    from compose.testing.world import subdomain_for

    long_id = "owner/" + "a-really-long-space-name-" * 3
    assert len(long_id) > 63
    sub = subdomain_for(long_id)
    assert len(sub) <= 63 and sub != long_id.replace("/", "-").lower()


def test_edge_hides_private_spaces_and_strips_x_hf_authorization(edge: compose.testing.Hub) -> None:
    url = "https://owner-private.hf.space/config"
    assert httpx.get(url).status_code == 404
    assert httpx.get(url, headers={"x-hf-authorization": f"Bearer {edge.token('mallory')}"}).status_code == 404
    assert httpx.get(url, headers={"x-hf-authorization": f"Bearer {edge.token('owner')}"}).status_code == 200


def test_edge_round_robins_without_the_affinity_cookie_and_keeps_it_with(edge: compose.testing.Hub) -> None:
    url = "https://owner-replicated.hf.space/config"
    app_ids = {httpx.get(url).json()["app_id"] for _ in range(4)}
    assert len(app_ids) == 2  # two replicas, each its own app id
    with httpx.Client() as browser:  # keeps cookies, as a browser does
        pinned = {browser.get(url).json()["app_id"] for _ in range(4)}
        assert AFFINITY_COOKIE in browser.cookies
    assert len(pinned) == 1


def test_sleeping_space_wakes_on_the_first_request_with_a_503_page_meanwhile(edge: compose.testing.Hub) -> None:
    edge.set_stage("owner/stages", "SLEEPING")
    first = httpx.get("https://owner-stages.hf.space/config")
    assert first.status_code == 503 and "text/html" in first.headers["content-type"]
    assert huggingface_hub.get_space_runtime("owner/stages").stage == "APP_STARTING"
    statuses = _until_running(edge, "owner/stages")
    assert statuses[-1] == 200


@pytest.mark.parametrize("stage", ["PAUSED", "RUNTIME_ERROR", "BUILDING"])
def test_stopped_or_broken_spaces_answer_503_naming_the_stage(edge: compose.testing.Hub, stage: str) -> None:
    edge.set_stage("owner/stages", stage)
    try:
        r = httpx.get("https://owner-stages.hf.space/config")
        assert r.status_code == 503 and r.headers["x-space-stage"] == stage
        assert huggingface_hub.get_space_runtime("owner/stages").stage == stage
    finally:
        edge.set_stage("owner/stages", "RUNNING")


def test_edge_rate_limits_with_retry_after(edge: compose.testing.Hub) -> None:
    edge.rate_limit("owner/headers", 2, retry_after=7)
    answers = [httpx.get("https://owner-headers.hf.space/config") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "7"


def _count_twice(space_id: str) -> list[int]:
    """A gradio_client session's counter after two increments (the app's per-session gr.State)."""
    client = Client(space_id, verbose=False)
    return [int(client.predict(api_name="/increment")) for _ in range(2)]


def test_pause_stops_the_space_and_restart_runs_it_afresh_through_the_hub_api(edge: compose.testing.Hub) -> None:
    api = huggingface_hub.HfApi(token=edge.token("owner"))
    url = "https://owner-stages.hf.space/config"
    before = httpx.get(url).json()["app_id"]
    assert api.pause_space("owner/stages").stage == "PAUSED"
    paused = httpx.get(url)
    assert paused.status_code == 503 and paused.headers["x-space-stage"] == "PAUSED"
    assert api.get_space_runtime("owner/stages").stage == "PAUSED"  # a request does not wake a paused Space
    assert api.restart_space("owner/stages").stage == "APP_STARTING"
    assert api.wait_for_space("owner/stages", timeout=20, poll_interval=0.2).stage == "RUNNING"
    # A new process: a new app id, and a client's session starts from nothing.
    assert httpx.get(url).json()["app_id"] != before
    assert _count_twice("owner/stages") == [1, 2]
    # Nobody else may pause it.
    with pytest.raises(huggingface_hub.errors.HfHubHTTPError):
        huggingface_hub.HfApi(token=edge.token("mallory")).pause_space("owner/stages")


def test_restart_space_loses_every_sessions_state(edge: compose.testing.Hub) -> None:
    client = Client("owner/stages", verbose=False)
    assert [client.predict(api_name="/increment") for _ in range(2)] == [1, 2]
    edge.restart_space("owner/stages")
    assert client.predict(api_name="/increment") == 1  # same session hash, but the app that held it is gone


def _pinned(space_id: str) -> tuple[httpx.Client, int]:
    """A browser-like client pinned to one replica by the edge's cookie, and that replica's index."""
    browser = httpx.Client()
    browser.get(f"https://{space_id.replace('/', '-')}.hf.space/config")
    return browser, int(browser.cookies[AFFINITY_COOKIE].split(".")[0])


def test_one_replica_restarts_alone(edge: compose.testing.Hub) -> None:
    url = "https://owner-restartable.hf.space/config"
    browsers = [_pinned("owner/restartable")]
    while browsers[-1][1] == browsers[0][1]:  # round robin: the next new visitor lands on the other replica
        browsers.append(_pinned("owner/restartable"))
    (first, index), (other, _) = browsers[0], browsers[-1]
    ids = [b.get(url).json()["app_id"] for b in (first, other)]
    edge.restart_replica("owner/restartable", index)
    assert first.get(url).json()["app_id"] != ids[0]  # its visitors reach a fresh app
    assert other.get(url).json()["app_id"] == ids[1]  # the other replica's visitors saw nothing happen
    for browser, _ in browsers:
        browser.close()


def test_other_hosts_are_not_reachable_through_the_tunnel(edge: compose.testing.Hub) -> None:
    with pytest.raises(httpx.ProxyError):
        httpx.get("https://example.com/")


def test_nothing_is_left_behind(hub: compose.testing.Hub) -> None:
    import os

    before = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HTTPS_PROXY", "SSL_CERT_FILE")}
    hub.apply_env()
    assert os.environ["HF_ENDPOINT"] == hub.endpoint
    hub.restore_env()
    assert {k: os.environ.get(k) for k in before} == before
    assert hub.endpoint != huggingface_hub.constants.ENDPOINT


def test_the_readme_example_runs_as_a_users_own_test_suite(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    marker = "<!-- compose.testing example: run by tests/test_edge_emulator.py -->\n```python\n"
    example = readme.split(marker, 1)[1].split("```", 1)[0]
    (tmp_path / "test_example.py").write_text(example)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
