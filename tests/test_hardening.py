"""Probes from the audit (issue 18), each a 4xx or a held line now: odd digits, reservations
after a failed create, a malformed admin key row, string JWT claims, file modes, and
internal hosts in error messages."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videogate.api.auth import mint_jwt
from videogate.config import ProviderConfig
from videogate.errors import GatewayError, whole_number
from videogate.gateway import Gateway
from videogate.netguard import PublicResolver
from videogate.providers.openai import OpenAIProvider

from .conftest import FAST_SIMULATED, GatewayHandle, assert_envelope, free_port
from .mocks.openai_videos import OpenAIVideosMock

KEY = "sk-upstream-hardening"
TINY = {"prompt": "p", "model": "simulated/test-pattern", "size": "32x32", "seconds": "1"}
ODD = ["²", "①", "٣", "9" * 5000, "-1", "0x1", " 1"]


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock) -> GatewayHandle:
    return make_gateway(
        providers={
            "openai": {"type": "openai", "base_url": mock.url, "keys": [{"value": KEY}]},
            "simulated": FAST_SIMULATED,
        }
    )


def admin(gw: GatewayHandle) -> httpx.Client:
    return gw.http(mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300, subject="a"))


def test_odd_digits_are_400s_never_500s(gw: GatewayHandle) -> None:
    with gw.http() as http:
        for odd in ODD:
            resp = http.post("/v1/videos", json={**TINY, "seconds": odd})
            assert_envelope(resp, 400, "invalid_seconds")
            assert_envelope(http.get("/v1/videos", params={"limit": odd}), 400, "invalid_limit")
        for extra, value in [
            ("simulated_generation_seconds", "abc"),
            ("simulated_generation_seconds", "nan"),
            ("simulated_failure", ["moderation"]),
            ("simulated_failure", {"x": 1}),
        ]:
            resp = http.post("/v1/videos", json={**TINY, extra: value})
            assert_envelope(resp, 400, "invalid_parameter")
        vid = http.post("/v1/videos", json=TINY).json()["id"]
        deadline = time.time() + 20
        while http.get(f"/v1/videos/{vid}").json()["status"] != "completed":
            assert time.time() < deadline
            time.sleep(0.2)
        for odd in ODD[:4]:
            for spec in (f"bytes={odd}-", f"bytes=0-{odd}", f"bytes=-{odd}"):
                resp = http.get(f"/v1/videos/{vid}/content", headers={"Range": spec.encode()})
                assert resp.status_code in (200, 206, 416), (spec, resp.status_code)


@given(st.text(max_size=12))
def test_whole_number_takes_ascii_digits_only(text: str) -> None:
    value = whole_number(text)
    if text and len(text) <= 9 and all(c in "0123456789" for c in text):
        assert value == int(text)
    else:
        assert value is None


def test_failed_creates_give_their_reservation_back(
    gw: GatewayHandle, mock: OpenAIVideosMock
) -> None:
    """One active job allowed: after creates that fail past the reservation (a garbage
    answer, an upstream 500), the next create still fits."""
    with admin(gw) as root:
        made = root.post(
            "/api/governance/virtual-keys",
            json={"name": "one", "max_active_jobs": 1, "budget_usd": 1.0, "budget_period": "daily"},
        )
        key = made.json()["key"]
    body = {"prompt": "x", "model": "openai/sora-2", "seconds": "4"}
    with gw.http(key) as http:
        mock.garbage_next(1, path_contains="/videos")
        assert http.post("/v1/videos", json=body).status_code == 502
        mock.fail_next(500, path_contains="/videos")
        assert http.post("/v1/videos", json=body).status_code == 500
        ok = http.post("/v1/videos", json=body)
        assert ok.status_code == 200, ok.text
        # and the one slot is really held by that job now
        assert_envelope(http.post("/v1/videos", json=body), 429, "rate_limited")


def test_malformed_upstream_key_rows_are_refused_and_the_gateway_keeps_serving(
    gw: GatewayHandle,
) -> None:
    bad: list[dict[str, Any]] = [
        {"name": "k", "value": "v", "models": [1, 2]},
        {"name": "k", "value": "v", "base_url": 5},
        {"name": "k", "value": "v", "base_url": "ftp://x"},
        {"name": "k", "value": "v", "base_url": "https://user:pw@example.com"},
        {"name": "k", "value": "v", "weight": True},
        {"name": "k", "value": "v", "weight": "2"},
        {"name": "../k", "value": "v"},
        {"name": "k", "value": "v", "surprise": 1},
        {"name": "k"},
    ]
    with admin(gw) as root:
        for body in bad:
            resp = root.post("/api/providers/openai/keys", json=body)
            assert resp.status_code == 400, (body, resp.text)
            assert resp.json()["is_bifrost_error"] is True
        listed = root.get("/api/providers").json()["data"]
        assert {k["name"] for p in listed if p["id"] == "openai" for k in p["keys"]} == {"default"}
    with gw.http() as http:
        assert http.post("/v1/videos", json=TINY).status_code == 200


def test_jwt_time_claims_must_be_numbers(gw: GatewayHandle) -> None:
    secret = gw.settings.jwt_secret()
    url = gw.url + "/v1/videos"
    later = int(time.time()) + 300
    for claims in (
        {"role": "admin", "exp": str(later)},
        {"role": "admin", "exp": later, "nbf": "0"},
        {"role": "admin", "exp": later, "iat": "0"},
    ):
        token = jwt.encode(claims, secret, algorithm="HS256")
        resp = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert_envelope(resp, 401, "invalid_token")
    good = jwt.encode({"role": "admin", "exp": later}, secret, algorithm="HS256")
    assert httpx.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_data_dir_and_secrets_are_private(gw: GatewayHandle) -> None:
    data = gw.settings.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_unreachable_upstream_does_not_reveal_its_address(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    port = free_port()
    gw = make_gateway(
        providers={
            "openai": {
                "type": "openai",
                "base_url": f"http://127.0.0.1:{port}/v1",
                "keys": [{"value": KEY}],
            }
        }
    )
    with gw.http() as http:
        resp = http.post("/v1/videos", json={"prompt": "x", "model": "openai/sora-2"})
    body = assert_envelope(resp, 502, "upstream_unreachable")
    assert str(port) not in resp.text and "127.0.0.1" not in body["error"]["message"]


def test_a_create_that_died_after_reserving_is_given_back_by_the_sweep(
    gw: GatewayHandle,
) -> None:
    """kill -9 between reserve and record, simulated: a second gateway on the same store
    reserves for the key and never records. The slot stays held until the sweep."""
    SLOW = {**TINY, "simulated_generation_seconds": 60}  # stays active through the test
    with admin(gw) as root:
        key = root.post(
            "/api/governance/virtual-keys", json={"name": "one", "max_active_jobs": 1}
        ).json()["key"]

    async def reserve_and_die() -> Any:
        other = await Gateway.start(gw.settings)
        try:
            who = await other.auth.from_token(key)
            subject = await other.gov.subject(who.key)
            return await other.gov.reserve(subject, 0.0, 1.0)
        finally:
            await other.close()

    asyncio.run(reserve_and_die())
    with gw.http(key) as http:
        assert_envelope(http.post("/v1/videos", json=SLOW), 429, "rate_limited")

    async def sweep() -> tuple[int, int]:
        other = await Gateway.start(gw.settings)
        try:
            young = await other.gov.sweep_reservations(3600)  # too young to be given back
            return young, await other.gov.sweep_reservations(0)
        finally:
            await other.close()

    assert asyncio.run(sweep()) == (0, 1)
    with gw.http(key) as http:
        made = http.post("/v1/videos", json=SLOW)
        assert made.status_code == 200, made.text
        assert_envelope(http.post("/v1/videos", json=SLOW), 429, "rate_limited")

    async def sweep_again() -> int:
        other = await Gateway.start(gw.settings)
        try:  # the recorded job's reservation was taken over by its usage row: kept
            return await other.gov.sweep_reservations(0)
        finally:
            await other.close()

    assert asyncio.run(sweep_again()) == 0
    with gw.http(key) as http:
        assert_envelope(http.post("/v1/videos", json=SLOW), 429, "rate_limited")


class _Recorder(BaseHTTPRequestHandler):
    """`/go?to=URL` redirects there; anything else answers the headers it was sent."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/go?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        _Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def two_origins() -> Iterator[tuple[str, str]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Recorder) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    _Recorder.seen.clear()
    try:
        yield tuple(f"http://127.0.0.1:{s.server_port}" for s in servers)  # type: ignore[misc]
    finally:
        for server in servers:
            server.shutdown()


def test_redirects_never_carry_credentials_elsewhere(two_origins: tuple[str, str]) -> None:
    here, there = two_origins
    secret = {"Authorization": "Bearer upstream-secret", "api-key": "upstream-secret"}

    async def run(allow_http: bool) -> Any:
        config = ProviderConfig(type="openai", base_url=here, allow_http_redirects=allow_http)
        provider = OpenAIProvider("openai", config)
        try:
            content = await provider.stream(f"{here}/go?to={there}/asset", headers=secret)
            data = b"".join([c async for c in content.chunks])
            await content.close()
            same = await provider.stream(f"{here}/go?to={here}/asset", headers=secret)
            await same.close()
            return data
        finally:
            await provider.aclose()

    with pytest.raises(GatewayError) as refused:
        asyncio.run(run(False))
    assert refused.value.code == "upstream_redirect_refused"
    assert asyncio.run(run(True)) == b'{"ok": true}'
    other_origin, same_origin = _Recorder.seen
    assert "authorization" not in other_origin and "api-key" not in other_origin
    assert same_origin["authorization"] == "Bearer upstream-secret"

    async def api_call() -> None:
        provider = OpenAIProvider("openai", ProviderConfig(type="openai", base_url=here))
        try:
            await provider.request("GET", f"{here}/go?to={there}/v", headers=secret)
        finally:
            await provider.aclose()

    with pytest.raises(GatewayError) as redirected:
        asyncio.run(api_call())
    assert redirected.value.code == "upstream_redirected"
    assert len(_Recorder.seen) == 2  # the API call's redirect was not followed


def test_upstream_answers_are_bounded_in_size(two_origins: tuple[str, str]) -> None:
    here, _ = two_origins

    async def call(limit: int) -> Any:
        config = ProviderConfig(type="openai", base_url=here, max_response_bytes=limit)
        provider = OpenAIProvider("openai", config)
        try:
            return (await provider.request("GET", f"{here}/v"))[1]
        finally:
            await provider.aclose()

    assert asyncio.run(call(1024)) == {"ok": True}
    with pytest.raises(GatewayError) as err:
        asyncio.run(call(5))
    assert err.value.code == "upstream_response_too_large" and err.value.status == 502


def test_outgoing_urls_to_internal_addresses_are_refused(gw: GatewayHandle) -> None:
    with admin(gw) as root:
        key_id = root.get("/api/governance/virtual-keys").json()["data"][0]["id"]
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/hook",
            "http://127.0.0.1:9/hook",
            "http://[fd00::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://100.64.0.1/hook",
            "http://localhost/hook",
            "http://0.0.0.0/hook",
            "https://user:pw@example.com/hook",
            "ftp://example.com/hook",
        ):
            resp = root.post("/api/webhooks", json={"owner": key_id, "url": url})
            assert resp.status_code == 400, (url, resp.text)
            assert resp.json()["error"]["code"] in ("private_address", "invalid_url")
            key = {"name": "k", "value": "v", "base_url": url}
            assert root.post("/api/providers/openai/keys", json=key).status_code == 400, url
        assert root.get("/api/webhooks").json()["data"] == []
        ok = root.post("/api/webhooks", json={"owner": key_id, "url": "https://example.com/h"})
        assert ok.status_code == 200, ok.text

    async def resolve(host: str) -> Any:
        resolver = PublicResolver()
        try:
            return await resolver.resolve(host, 80)
        finally:
            await resolver.close()

    with pytest.raises(OSError):  # a name that resolves inside (rebinding) fails to connect
        asyncio.run(resolve("localhost"))


def test_upstream_ids_that_are_not_path_safe_still_make_usable_public_ids() -> None:
    provider = OpenAIProvider("openai", ProviderConfig(type="openai"))
    assert provider.public_token("video_abc-1.2") == "video_abc-1.2"
    tokens = {provider.public_token(raw) for raw in ("a/b?c#d", "a~2fb?c#d", "é", "a b")}
    assert len(tokens) == 4  # unique
    for token in tokens:
        assert all(c.isascii() and (c.isalnum() or c in "._-~") for c in token), token


def test_a_hanging_provider_does_not_hold_up_other_jobs(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    """Five polls hang at one provider; a job elsewhere still finishes on time, and the
    hung polls are given up after poll_timeout_seconds."""
    gw = make_gateway(
        providers={
            "slow": {
                "type": "openai",
                "base_url": mock.url,
                "keys": [{"value": KEY}],
                "poll_after_ms": 100,
                "timeout_seconds": 60,
            },
            "simulated": FAST_SIMULATED,
        },
        worker={"poll_timeout_seconds": 3, "interval_seconds": 0.2},
    )
    mock.run_seconds = 60.0
    with gw.http() as http:
        slow = [
            http.post("/v1/videos", json={"prompt": f"s{i}", "model": "slow/sora-2"}).json()["id"]
            for i in range(5)
        ]
        assert all(v.endswith(":slow") for v in slow)
        mock.hang_next(30, count=5, path_contains="/videos/video_", method="GET")
        time.sleep(0.5)  # the worker is now stuck in the five hung polls
        started = time.time()
        quick = http.post("/v1/videos", json=TINY).json()["id"]

        def done() -> bool:
            listed = http.get("/v1/videos", params={"provider": "simulated"}).json()["data"]
            return any(v["id"] == quick and v["status"] == "completed" for v in listed)

        deadline = started + 15  # half the hang: it cannot have waited for the hung polls
        while not done():
            assert time.time() < deadline, "the simulated job waited for the hung polls"
            time.sleep(0.2)


def test_partial_uploads_left_by_a_killed_copy_are_cleaned(tmp_path: Any) -> None:
    from videogate.assets.store import AssetStore
    from videogate.config import AssetsConfig

    store = AssetStore.from_config(AssetsConfig(), tmp_path)
    root = tmp_path / "assets" / "vk_1" / "video_x~simulated"
    root.mkdir(parents=True)
    old, fresh, done = root / "video#0", root / "thumbnail#7", root / "video"
    for path in (old, fresh, done):
        path.write_bytes(b"")
    past = time.time() - 3600
    os.utime(old, (past, past))
    os.utime(done, (past, past))
    assert store.clean_staging(600) == 1
    assert not old.exists() and fresh.exists() and done.exists()


def test_webhook_secrets_are_sealed_at_rest(gw: GatewayHandle) -> None:
    with admin(gw) as root:
        key_id = root.get("/api/governance/virtual-keys").json()["data"][0]["id"]
        made = root.post("/api/webhooks", json={"owner": key_id, "url": "https://example.com/h"})
        secret = made.json()["secret"]
    assert secret.startswith("whsec_")

    async def stored() -> list[Any]:
        other = await Gateway.start(gw.settings)
        try:
            rows = await other.webhooks.endpoints()
            return [(r["secret"], other.webhook_delivery.sealer.open(r["secret"])) for r in rows]
        finally:
            await other.close()

    ((kept, opened),) = asyncio.run(stored())
    assert secret not in kept and not kept.startswith("whsec_")
    assert opened == secret


def test_rpm_counts_every_authenticated_request(gw: GatewayHandle) -> None:
    with admin(gw) as root:
        key = root.post("/api/governance/virtual-keys", json={"name": "r", "rpm": 3}).json()["key"]
    into_minute = time.time() % 60
    if into_minute > 50:  # the calls below must fall in one minute
        time.sleep(60.5 - into_minute)
    with gw.http(key) as http:
        vid = http.post("/v1/videos", json=TINY).json()["id"]
        assert http.get(f"/v1/videos/{vid}").status_code == 200
        assert http.get("/v1/videos").status_code == 200
        refused = assert_envelope(http.get(f"/v1/videos/{vid}"), 429, "rate_limited")
        assert refused["type"] == "request_limited"
    with gw.http() as http:  # another key is not affected
        assert http.get("/v1/videos").status_code == 200


def test_range_reaches_the_provider_before_the_mirror_has_the_video(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    """Mirroring off: content is proxied from the provider, and a player's Range goes with
    it (206, Content-Range, Accept-Ranges), so seeking works before any copy exists."""
    gw = make_gateway(
        providers={
            "openai": {
                "type": "openai",
                "base_url": mock.url,
                "keys": [{"value": KEY}],
                "poll_after_ms": 100,
            }
        },
        assets={"mirror": False},
    )
    with gw.http() as http:
        vid = http.post("/v1/videos", json={"prompt": "x", "model": "openai/sora-2"}).json()["id"]
        deadline = time.time() + 20
        while http.get(f"/v1/videos/{vid}").json()["status"] != "completed":
            assert time.time() < deadline
            time.sleep(0.2)
        video = mock.media().video
        part = http.get(f"/v1/videos/{vid}/content", headers={"Range": "bytes=10-99"})
        assert part.status_code == 206, part.text
        assert part.content == video[10:100]
        assert part.headers["content-range"] == f"bytes 10-99/{len(video)}"
        assert part.headers["accept-ranges"] == "bytes"
        whole = http.get(f"/v1/videos/{vid}/content")
        assert whole.status_code == 200 and whole.content == video
        odd = http.get(f"/v1/videos/{vid}/content", headers={"Range": "bytes=1-2,5-6"})
        assert odd.status_code == 200 and odd.content == video  # not passed on: whole body
