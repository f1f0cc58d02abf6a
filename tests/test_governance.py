"""Budgets, rate limits, model access, rotation, revocation, usage and the audit log.

On the PostgreSQL run counters live in Redis and the multi-instance tests use two real
gateway processes sharing PostgreSQL + Redis; on SQLite they share the database file.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from videogate.api.auth import mint_jwt
from videogate.governance.policy import budget_window
from videogate.governance.prices import PriceTable, Usage, tier_of

from .conftest import GatewayHandle, GatewayProcess, assert_envelope, free_port
from .mocks.openai_videos import OpenAIVideosMock

SIM = {"type": "simulated", "options": {"generation_seconds": 0.5, "fps": 4}}
TINY = {"prompt": "p", "model": "simulated/test-pattern", "size": "32x32", "seconds": "1"}


def admin_http(gw: GatewayHandle) -> httpx.Client:
    return gw.http(mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300, subject="ops"))


def make_key(gw: GatewayHandle, **settings: Any) -> tuple[str, str]:
    with admin_http(gw) as admin:
        resp = admin.post("/api/governance/virtual-keys", json={"name": "k", **settings})
        assert resp.status_code == 200, resp.text
        return resp.json()["key"], resp.json()["id"]


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key="sk-up", queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


def test_budget_exceeded_sends_nothing_upstream(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw = make_gateway(
        providers={"openai": {"type": "openai", "base_url": mock.url, "keys": [{"value": "sk-up"}]}}
    )
    key, _ = make_key(gw, budget_usd=0.5, budget_period="monthly")
    with gw.http(key) as http:
        resp = http.post(
            "/v1/videos", json={"prompt": "x", "model": "openai/sora-2", "seconds": "8"}
        )  # 8 s x $0.10 > $0.50
        body = assert_envelope(resp, 402, "budget_exceeded")
        msg = body["error"]["message"]
        assert "$0.50" in msg and "spent $0.00" in msg and "resets at" in msg
        reset = budget_window("monthly", time.time())[1]
        assert time.strftime("%Y-%m-01T00:00:00Z", time.gmtime(reset)) in msg
    assert mock.find_requests("POST") == []


def test_concurrent_creates_cannot_overrun_a_budget(gateway_pair: Any) -> None:
    """50 creates at once against a budget that allows exactly 10 ($1.00 at $0.10 each)."""
    urls, admin = gateway_pair
    with httpx.Client(base_url=urls[0], headers=admin, timeout=30) as a:
        key = a.post(
            "/api/governance/virtual-keys",
            json={"name": "burst", "budget_usd": 1.0, "budget_period": "daily"},
        ).json()["key"]

    def create(i: int) -> int:
        with httpx.Client(
            base_url=urls[i % len(urls)], timeout=60, headers={"Authorization": f"Bearer {key}"}
        ) as http:
            return http.post("/v1/videos", json=TINY).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(create, range(50)))
    assert codes.count(200) == 10, codes
    assert codes.count(402) == 40, codes


@pytest.fixture(params=["one instance", "two instances"])
def gateway_pair(
    request: pytest.FixtureRequest,
    make_gateway: Callable[..., GatewayHandle],
    spawn_gateway: Callable[..., GatewayProcess],
    tmp_path: Any,
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """One in-process gateway, or two gateway processes sharing the store (and Redis)."""
    if request.param == "one instance":
        gw = make_gateway(providers={"simulated": SIM})
        admin = mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300)
        yield [gw.url], {"Authorization": f"Bearer {admin}"}
        return
    # Both instances must see the same simulated "upstream", as they would a real provider.
    shared = {**SIM, "options": {**SIM["options"], "state_dir": str(tmp_path / "sim-upstream")}}
    first = spawn_gateway(
        providers={"simulated": shared},
        auth={"jwt_secret": "shared-secret-for-both-instances-0123456789"},
    )
    config = first.args[first.args.index("--config") + 1]
    from pathlib import Path

    second = GatewayProcess(Path(config), Path(config).parent / "second", free_port())
    second.start()
    try:
        admin = mint_jwt(
            "shared-secret-for-both-instances-0123456789", role="admin", ttl_seconds=300
        )
        yield [first.url, second.url], {"Authorization": f"Bearer {admin}"}
    finally:
        second.stop()


def test_rate_limit_holds_across_instances(gateway_pair: Any) -> None:
    urls, admin = gateway_pair
    with httpx.Client(base_url=urls[0], headers=admin, timeout=30) as a:
        key = a.post("/api/governance/virtual-keys", json={"name": "rl", "rpm": 5}).json()["key"]
    # All eight requests must fall into one per-minute window: start early in a minute.
    into_minute = time.time() % 60
    if into_minute > 40:
        time.sleep(60.5 - into_minute)
    results = []
    for i in range(8):
        with httpx.Client(
            base_url=urls[i % len(urls)], timeout=30, headers={"Authorization": f"Bearer {key}"}
        ) as http:
            results.append(http.post("/v1/videos", json=TINY))
    codes = [r.status_code for r in results]
    assert codes.count(200) == 5, codes
    limited = [r for r in results if r.status_code == 429]
    assert_envelope(limited[0], 429, "rate_limited")
    assert 1 <= int(limited[0].headers["retry-after"]) <= 61


def test_revoked_key_fails_on_the_other_instance_within_a_second(gateway_pair: Any) -> None:
    urls, admin = gateway_pair
    with httpx.Client(base_url=urls[0], headers=admin, timeout=30) as a:
        made = a.post("/api/governance/virtual-keys", json={"name": "rv"}).json()
    key, key_id = made["key"], made["id"]
    other = urls[-1]
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(other + "/v1/videos", headers=auth).status_code == 200
    with httpx.Client(base_url=urls[0], headers=admin, timeout=30) as a:
        assert a.delete(f"/api/governance/virtual-keys/{key_id}").json()["revoked"] is True
    revoked_at = time.monotonic()
    while httpx.get(other + "/v1/videos", headers=auth).status_code == 200:
        assert time.monotonic() - revoked_at < 1.0, "still accepted after a second"
        time.sleep(0.05)
    assert_envelope(httpx.get(other + "/v1/videos", headers=auth), 401, "virtual_key_revoked")


def test_rotation_grace_period(gateway: GatewayHandle) -> None:
    old, key_id = make_key(gateway)
    with admin_http(gateway) as admin:
        rotated = admin.post(
            f"/api/governance/virtual-keys/{key_id}/rotate", json={"grace_seconds": 1.5}
        ).json()
    new = rotated["key"]
    assert new != old and new.startswith("sk-bf-")
    assert (
        httpx.get(
            gateway.url + "/v1/videos", headers={"Authorization": f"Bearer {old}"}
        ).status_code
        == 200
    )
    time.sleep(2.7)  # grace + the 1 s key cache
    assert_envelope(
        httpx.get(gateway.url + "/v1/videos", headers={"Authorization": f"Bearer {old}"}),
        401,
        "virtual_key_not_found",
    )
    assert (
        httpx.get(
            gateway.url + "/v1/videos", headers={"Authorization": f"Bearer {new}"}
        ).status_code
        == 200
    )


def test_key_sees_only_allowed_models_and_providers(
    make_gateway: Callable[..., GatewayHandle], mock: OpenAIVideosMock
) -> None:
    gw = make_gateway(
        providers={
            "simulated": SIM,
            "openai": {"type": "openai", "base_url": mock.url, "keys": [{"value": "sk-up"}]},
        }
    )
    key, _ = make_key(gw, allowed_models=["simulated/*"])
    narrow, _ = make_key(gw, allowed_providers=["openai"])
    with gw.http(key) as http:
        assert http.post("/v1/videos", json=TINY).status_code == 200
        resp = http.post("/v1/videos", json={"prompt": "x", "model": "openai/sora-2"})
        assert_envelope(resp, 403, "model_blocked")
        both = {**TINY, "size": "720x1280", "seconds": "4", "fallbacks": ["openai/sora-2"]}
        assert_envelope(http.post("/v1/videos", json=both), 403, "model_blocked")
    with gw.http(narrow) as http:
        assert_envelope(http.post("/v1/videos", json=TINY), 403, "provider_blocked")
    assert mock.find_requests("POST") == []


def test_blocked_and_expired_keys(gateway: GatewayHandle) -> None:
    key, key_id = make_key(gateway)
    with admin_http(gateway) as admin:
        admin.patch(f"/api/governance/virtual-keys/{key_id}", json={"blocked": True})
    assert_envelope(
        httpx.get(gateway.url + "/v1/videos", headers={"Authorization": f"Bearer {key}"}),
        403,
        "virtual_key_blocked",
    )
    short, _ = make_key(gateway, expires_at=time.time() - 1)
    assert_envelope(
        httpx.get(gateway.url + "/v1/videos", headers={"Authorization": f"Bearer {short}"}),
        403,
        "virtual_key_expired",
    )


def test_team_and_customer_limits_apply_to_their_keys(gateway: GatewayHandle) -> None:
    with admin_http(gateway) as admin:
        cust = admin.post(
            "/api/governance/customers",
            json={"name": "acme", "budget_usd": 0.25, "budget_period": "never"},
        ).json()
        team = admin.post(
            "/api/governance/teams",
            json={"name": "studio", "customer_id": cust["id"], "max_active_jobs": 5},
        ).json()
        assert team["customer_id"] == cust["id"]
    a, _ = make_key(gateway, team="studio")
    b, _ = make_key(gateway, team=team["id"])
    codes = []
    for key in (a, b, a):
        with gateway.http(key) as http:
            codes.append(http.post("/v1/videos", json=TINY).status_code)
    # $0.10 per 1 s video: the customer's $0.25 covers two, whichever key asks.
    assert codes == [200, 200, 402]


def test_active_jobs_limit_and_release(make_gateway: Callable[..., GatewayHandle]) -> None:
    gw = make_gateway(
        providers={"simulated": {"type": "simulated", "options": {"generation_seconds": 1.5}}}
    )
    key, _ = make_key(gw, max_active_jobs=2)
    with gw.http(key) as http:
        ids = [http.post("/v1/videos", json=TINY).json()["id"] for _ in range(2)]
        resp = http.post("/v1/videos", json=TINY)
        assert_envelope(resp, 429, "rate_limited")
        assert "2 active jobs" in resp.json()["error"]["message"]
        deadline = time.time() + 15
        while any(http.get(f"/v1/videos/{i}").json()["status"] != "completed" for i in ids):
            assert time.time() < deadline
            time.sleep(0.2)
        assert http.post("/v1/videos", json=TINY).status_code == 200


def test_usage_totals_and_failed_job_releases_reservation(gateway: GatewayHandle) -> None:
    key, key_id = make_key(gateway, budget_usd=0.3, budget_period="daily")
    with gateway.http(key) as http:
        done = http.post("/v1/videos", json={**TINY, "seconds": "2"}).json()["id"]
        failed = http.post(
            "/v1/videos", json={**TINY, "simulated_failure": "internal_error"}
        ).json()["id"]
        # $0.20 + $0.10 reserved: the budget is full until the failed job gives its $0.10 back.
        assert_envelope(http.post("/v1/videos", json=TINY), 402, "budget_exceeded")
        deadline = time.time() + 15
        while {http.get(f"/v1/videos/{v}").json()["status"] for v in (done, failed)} != {
            "completed",
            "failed",
        }:
            assert time.time() < deadline
            time.sleep(0.2)
        assert http.post("/v1/videos", json=TINY).status_code == 200
    with admin_http(gateway) as admin:
        deadline = time.time() + 10
        while True:
            report = admin.get(f"/api/governance/usage?key_id={key_id}").json()
            rows = {r["video_id"]: r for r in report["data"]}
            if rows[done]["status"] == "completed" and rows[failed]["status"] == "failed":
                break
            assert time.time() < deadline
            time.sleep(0.2)
    assert rows[done]["cost_usd"] == pytest.approx(0.20)
    assert rows[done]["resolution"] == "480p" and rows[done]["seconds"] == 2
    assert rows[failed]["cost_usd"] == 0
    assert report["totals"]["jobs"] == 3
    assert report["totals"]["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows.values()))


def test_admin_changes_are_audited_and_secrets_write_only(
    gateway: GatewayHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    with admin_http(gateway) as admin:
        _, key_id = make_key(gateway)
        admin.patch(f"/api/governance/virtual-keys/{key_id}", json={"rpm": 7})
        admin.put("/api/governance/prices", json={"pattern": "simulated/*", "per_second": 0.2})
        table = admin.get("/api/governance/prices").json()["data"]
        assert table["simulated/*"]["per_second"] == 0.2
        assert table["simulated/*"]["source"] == "admin"
        # Upstream keys need the master key; without it the API says so.
        resp = admin.post("/api/providers/simulated/keys", json={"name": "x", "value": "s3cret"})
        assert_envelope(resp, 503, "master_key_missing")
        log = admin.get("/api/governance/audit").json()["data"]
    actions = [e["action"] for e in log]
    assert {"virtual_key.create", "virtual_key.update", "price.set"} <= set(actions)
    update = next(e for e in log if e["action"] == "virtual_key.update")
    assert update["actor"] == "admin:ops" and update["before"]["rpm"] is None
    assert update["after"]["rpm"] == 7 and "key_hash" not in update["after"]
    with gateway.http() as http:
        assert_envelope(http.get("/api/governance/audit"), 403, "admin_required")


def test_provider_keys_are_encrypted_at_rest(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDEOGATE_MASTER_KEY", "master-key-for-tests")
    gw = make_gateway(providers={"openai": {"type": "openai", "base_url": mock.url}})
    with admin_http(gw) as admin:
        resp = admin.post(
            "/api/providers/openai/keys", json={"name": "from-api", "value": "sk-up", "weight": 2}
        )
        assert resp.status_code == 200, resp.text
        assert "sk-up" not in resp.text
        listed = admin.get("/api/providers").json()["data"]
        assert listed[0]["keys"][0]["name"] == "from-api" and "sk-up" not in str(listed)
    with gw.http() as http:  # the stored key is used for real
        assert (
            http.post("/v1/videos", json={"prompt": "x", "model": "openai/sora-2"}).status_code
            == 200
        )
    import asyncio

    from sqlalchemy import text

    from videogate.store.db import make_engine

    async def stored() -> str:
        engine = make_engine(gw.settings.effective_database_url)
        async with engine.connect() as conn:
            value = (
                await conn.execute(text("SELECT secret_encrypted FROM provider_keys"))
            ).scalar_one()
        await engine.dispose()
        return str(value)

    assert "sk-up" not in asyncio.run(stored())


def test_cli_keys_with_limits_and_usage_table(gateway: GatewayHandle) -> None:
    common = [
        "--data-dir",
        str(gateway.settings.data_dir),
        "--database-url",
        gateway.settings.effective_database_url,
    ]

    def cli(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "videogate", *args, *common], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    cli("teams", "create", "cli-team", "--rpm", "100")
    key = (
        cli(
            "keys",
            "create",
            "cli-key",
            "--budget-usd",
            "5",
            "--budget-period",
            "weekly",
            "--rpm",
            "30",
            "--max-active-jobs",
            "3",
            "--models",
            "simulated/*",
            "--team",
            "cli-team",
        )
        .strip()
        .splitlines()[-1]
    )
    assert key.startswith("sk-bf-")
    with gateway.http(key) as http:
        assert http.post("/v1/videos", json=TINY).status_code == 200
    listing = cli("keys", "list")
    assert "cli-key" in listing and "$5/weekly" in listing and "cli-team" in listing
    rotated = cli("keys", "rotate", "cli-key", "--grace", "60").strip().splitlines()[-1]
    assert rotated.startswith("sk-bf-") and rotated != key
    report = cli("usage", "--key", "cli-key")
    assert "simulated/test-pattern" in report and "total: 1 jobs" in report


def test_prices_and_tiers() -> None:
    table = PriceTable({"openai/sora-2-pro": {"per_second": 0.3, "tiers": {"1080p": 0.5}}})
    assert tier_of("1280x720") == "720p" and tier_of("1920x1080") == "1080p"
    assert tier_of("3840x2160") == "4k" and tier_of("640x480") == "480p"
    assert table.cost("openai/sora-2-pro", Usage(10, "1280x720")) == pytest.approx(3.0)
    assert table.cost("openai/sora-2-pro", Usage(10, "1080x1920")) == pytest.approx(5.0)
    assert table.cost("simulated/test-pattern", Usage(4)) == pytest.approx(0.4)
    assert table.lookup("nobody/knows")[0] == "*"
