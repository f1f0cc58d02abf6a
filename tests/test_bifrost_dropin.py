"""A Bifrost user moves by changing only the host: its mounts, its key headers, a bare model on
a provider's mount, its governance error types and its `model_requested`/`model_deployment`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from videogate.api.auth import mint_jwt

from .conftest import FAST_SIMULATED, GatewayHandle, assert_envelope
from .mocks.openai_videos import OpenAIVideosMock

KEY = "sk-upstream-secret-123"
TINY = {"prompt": "p", "model": "simulated/test-pattern", "size": "32x32", "seconds": "1"}


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.2, run_seconds=0.6) as m:
        yield m


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock) -> GatewayHandle:
    return make_gateway(
        providers={
            "openai": {
                "type": "openai",
                "base_url": mock.url,
                "keys": [{"name": "main", "value": KEY}],
                "poll_after_ms": 100,
            },
            "simulated": FAST_SIMULATED,
        },
        models={"aliases": {"quick": "simulated/test-pattern"}},
    )


def admin_token(gw: GatewayHandle) -> str:
    return mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300, subject="ops")


def new_key(gw: GatewayHandle, **settings: Any) -> str:
    return key_and_id(gw, **settings)[0]


def key_and_id(gw: GatewayHandle, **settings: Any) -> tuple[str, str]:
    with gw.http(admin_token(gw)) as admin:
        resp = admin.post("/api/governance/virtual-keys", json={"name": "k", **settings})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["key"]), str(resp.json()["id"])


def test_sdk_on_the_openai_mount_with_a_bare_model(
    gw: GatewayHandle, mock: OpenAIVideosMock
) -> None:
    """Bifrost's test setup: `base_url={host}/openai`, `model="sora-2"` (no provider)."""
    client = openai.OpenAI(base_url=gw.url + "/openai", api_key=gw.key, max_retries=0)
    video = client.videos.create_and_poll(model="sora-2", prompt="a cat", seconds="4")
    assert video.status == "completed" and video.id.endswith(":openai")
    sent = mock.find_requests("POST", "/videos")[0]
    assert b'name="model"\r\n\r\nsora-2\r\n' in sent.body
    assert client.videos.download_content(video.id).read() == mock.media().video
    assert [v.id for v in client.videos.list()] == [video.id]
    remix = client.videos.remix(video.id, prompt="a dog")
    assert client.videos.poll(remix.id).status == "completed"
    assert client.videos.delete(remix.id).deleted is True
    assert client.videos.delete(video.id).deleted is True
    # the other two spellings of the mount reach the same routes
    for prefix in ("/openai/v1", "/openai/openai"):
        resp = httpx.get(f"{gw.url}{prefix}/videos", headers={"Authorization": f"Bearer {gw.key}"})
        assert resp.status_code == 200 and resp.json()["data"] == []


def test_bare_model_rules_per_mount(gw: GatewayHandle, mock: OpenAIVideosMock) -> None:
    with gw.http() as http:
        # on /v1 the gateway's own rules stay: no default provider, so a bare model is a 400
        assert_envelope(
            http.post("/v1/videos", json={"prompt": "x", "model": "sora-2"}), 400, "unknown_model"
        )
        assert mock.find_requests("POST", "/videos") == []
        # an alias and an explicit provider still win on the provider's mount
        aliased = http.post("/openai/videos", json={**TINY, "model": "quick"}).json()
        assert aliased["id"].endswith(":simulated")
        explicit = http.post("/openai/videos", json=TINY).json()
        assert explicit["id"].endswith(":simulated")
        assert explicit["extra_fields"]["model_requested"] == "test-pattern"
        assert explicit["extra_fields"]["model_deployment"] is None
        assert aliased["extra_fields"]["model_requested"] == "quick"
        assert aliased["extra_fields"]["model_deployment"] == "test-pattern"


def test_key_headers_in_bifrosts_order(gw: GatewayHandle) -> None:
    url = gw.url + "/v1/videos"
    other = new_key(gw)
    with gw.http() as http:
        mine = http.post("/v1/videos", json=TINY).json()["id"]
    # Bifrost's documented SDK setup: a dummy api_key and the virtual key in x-bf-vk
    client = openai.OpenAI(
        base_url=gw.url + "/openai",
        api_key="dummy-key",
        default_headers={"x-bf-vk": other},
        max_retries=0,
    )
    theirs = client.videos.create(model="simulated/test-pattern", prompt="p", seconds="1")
    assert [v.id for v in client.videos.list()] == [theirs.id]  # owned by the x-bf-vk key
    # x-bf-vk beats a virtual key in Authorization
    both = {"x-bf-vk": other, "Authorization": f"Bearer {gw.key}"}
    assert [v["id"] for v in httpx.get(url, headers=both).json()["data"]] == [theirs.id]
    # x-api-key and x-goog-api-key carry virtual keys too
    for header in ("x-api-key", "x-goog-api-key"):
        listed = httpx.get(url, headers={header: gw.key or ""}).json()["data"]
        assert [v["id"] for v in listed] == [mine], header
    # ...but only virtual keys: anything else there is no credential at all
    body = assert_envelope(
        httpx.get(url, headers={"x-api-key": "sk-openai-x"}), 401, "virtual_key_required"
    )
    assert body["type"] == "virtual_key_required"
    # a non-key Bearer next to a key elsewhere is not an error; alone it is invalid_token
    mixed = {"Authorization": "Bearer dummy-key", "x-api-key": gw.key or ""}
    assert httpx.get(url, headers=mixed).status_code == 200
    assert_envelope(httpx.get(url, headers={"Authorization": "Bearer dummy"}), 401, "invalid_token")
    # JWTs keep working in Authorization, and win over x-api-key
    admin = {"Authorization": f"Bearer {admin_token(gw)}", "x-api-key": other}
    assert {v["id"] for v in httpx.get(url, headers=admin).json()["data"]} == {mine, theirs.id}


def test_bifrost_error_types_at_the_top_level(gw: GatewayHandle) -> None:
    url = gw.url + "/v1/videos"
    cases: list[tuple[httpx.Response, int, str, str]] = [
        (httpx.get(url), 401, "virtual_key_required", "virtual_key_required"),
        (
            httpx.get(url, headers={"x-bf-vk": "sk-bf-nobody"}),
            401,
            "virtual_key_not_found",
            "virtual_key_not_found",
        ),
    ]
    blocked, key_id = key_and_id(gw)
    with gw.http(admin_token(gw)) as admin:
        assert (
            admin.patch(
                f"/api/governance/virtual-keys/{key_id}", json={"blocked": True}
            ).status_code
            == 200
        )
    cases.append(
        (
            httpx.get(url, headers={"x-bf-vk": blocked}),
            403,
            "virtual_key_blocked",
            "virtual_key_blocked",
        )
    )
    expired = new_key(gw, expires_at=time.time() - 1)
    cases.append(
        (
            httpx.get(url, headers={"x-bf-vk": expired}),
            403,
            "virtual_key_expired",
            "virtual_key_blocked",
        )
    )
    models = new_key(gw, allowed_models=["openai/*"])
    cases.append(
        (
            httpx.post(url, json=TINY, headers={"x-bf-vk": models}),
            403,
            "model_blocked",
            "model_blocked",
        )
    )
    providers = new_key(gw, allowed_providers=["openai"])
    cases.append(
        (
            httpx.post(url, json=TINY, headers={"x-bf-vk": providers}),
            403,
            "provider_blocked",
            "provider_blocked",
        )
    )
    broke = new_key(gw, budget_usd=0.01, budget_period="monthly")
    cases.append(
        (
            httpx.post(
                url,
                json={"prompt": "x", "model": "openai/sora-2", "seconds": "8"},
                headers={"x-bf-vk": broke},
            ),
            402,
            "budget_exceeded",
            "budget_exceeded",
        )
    )
    slow = new_key(gw, rpm=1)
    # three at one request a minute: even across a minute's turn one of them is refused
    tries = [httpx.post(url, json=TINY, headers={"x-bf-vk": slow}) for _ in range(3)]
    refused = [r for r in tries if r.status_code != 200]
    assert refused, [r.status_code for r in tries]
    cases.append((refused[0], 429, "rate_limited", "request_limited"))
    for resp, status, code, kind in cases:
        body = assert_envelope(resp, status, code)
        assert body["type"] == body["error"]["type"] == kind, body


def test_raw_bodies_on_every_call_that_reached_the_upstream(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    """With `x-bf-send-back-raw-response`, each call shows what it sent and got back, or says
    that the gateway answered from its store (no worker here: a running job is asked)."""
    provider = {"type": "openai", "base_url": mock.url, "keys": [{"value": KEY}]}
    gw = make_gateway(providers={"openai": provider}, worker={"enabled": False})
    raw = {"x-bf-send-back-raw-response": "true"}
    with gw.http() as http:
        made = http.post("/openai/videos", json={"prompt": "raw", "model": "sora-2"}, headers=raw)
        vid = made.json()["id"]
        upstream_id = vid.rsplit(":", 1)[0]
        assert made.json()["extra_fields"]["raw_source"] == "upstream"
        running = http.get(f"/v1/videos/{vid}", headers=raw).json()["extra_fields"]
        assert running["raw_source"] == "upstream"
        assert running["raw_request"] == {
            "method": "GET",
            "url": f"{mock.url}/videos/{upstream_id}",
        }
        assert running["raw_response"]["id"] == upstream_id
        listed = http.get("/v1/videos?provider=openai", headers=raw).json()["extra_fields"]
        assert listed["raw_source"] == "store" and listed["raw_response"] is None
        deadline = time.time() + 15
        while http.get(f"/v1/videos/{vid}").json()["status"] != "completed":
            assert time.time() < deadline
            time.sleep(0.1)
        done = http.get(f"/v1/videos/{vid}", headers=raw).json()["extra_fields"]
        assert done["raw_source"] == "store" and done["raw_response"] is None
        remix = http.post(f"/v1/videos/{vid}/remix", json={"prompt": "again"}, headers=raw)
        fields = remix.json()["extra_fields"]
        assert fields["raw_source"] == "upstream" and fields["raw_request"] == {"prompt": "again"}
        assert fields["raw_response"]["remixed_from_video_id"] == upstream_id
        gone = http.delete(f"/v1/videos/{vid}", headers=raw).json()["extra_fields"]
        assert gone["raw_source"] == "upstream"
        assert gone["raw_request"]["method"] == "DELETE"
        assert gone["raw_response"]["deleted"] is True
        assert KEY not in made.text + remix.text
