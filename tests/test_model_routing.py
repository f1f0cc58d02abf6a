"""Public models on several hosts (issue 16): failover, cheapest and fastest, governance on
public names, the catalogue, the quote, and costs reconciled with what a provider reports.

Three simulated providers stand in for three hosts of one model: `down` answers every
create with 503 (`options.fail_create`), `dear` and `cheap` render, with different prices.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from videogate.governance.auth import mint_jwt

from .conftest import GatewayHandle, assert_envelope
from .provider_helpers import wait_for


def sim(**options: Any) -> dict[str, Any]:
    return {"type": "simulated", "options": {"generation_seconds": 0.4, "fps": 4, **options}}


PRICES = {
    "down/test-pattern": 0.20,
    "dear/test-pattern": 0.30,
    "cheap/test-pattern": 0.05,
}
ROUTES = {
    "seedance-2": {
        "strategy": "priority",
        "deployments": ["down/test-pattern", "dear/test-pattern", "cheap/test-pattern"],
    },
    "budget-clip": {
        "strategy": "cheapest",
        "deployments": ["dear/test-pattern", "cheap/test-pattern"],
    },
}
BODY = {"prompt": "a fox", "size": "64x64", "seconds": "4"}


def admin_http(gw: GatewayHandle) -> httpx.Client:
    return gw.http(mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300, subject="ops"))


def make_key(gw: GatewayHandle, **settings: Any) -> str:
    with admin_http(gw) as admin:
        resp = admin.post("/api/governance/virtual-keys", json={"name": "k", **settings})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["key"])


@pytest.fixture
def gw(make_gateway: Callable[..., GatewayHandle]) -> GatewayHandle:
    return make_gateway(
        providers={"down": sim(fail_create=503), "dear": sim(), "cheap": sim()},
        models={"routes": ROUTES},
        governance={"prices": PRICES},
    )


def usage_of(gw: GatewayHandle, video_id: str) -> dict[str, Any]:
    with admin_http(gw) as admin:
        rows = admin.get("/api/governance/usage").json()["data"]
    return next(r for r in rows if r["video_id"] == video_id)


def test_priority_fails_over_to_the_next_host(gw: GatewayHandle) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={**BODY, "model": "seedance-2"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["id"].endswith(":dear")
        extra = body["extra_fields"]
        assert extra["model_requested"] == "seedance-2"
        assert extra["provider"] == "dear"
        assert extra["model_deployment"] == "test-pattern"
        attempts = [(a["deployment"], a["outcome"], a.get("status")) for a in extra["attempts"]]
        assert attempts == [
            ("down/test-pattern", "failed", 503),
            ("dear/test-pattern", "created", None),
        ]
        assert all(a["latency_ms"] >= 0 for a in extra["attempts"])
        assert extra["routing"] == {"model": "seedance-2", "strategy": "priority", "skipped": []}
        # The video keeps its public model and is served by the host that made it.
        vid = body["id"]
        wait_for(lambda: http.get(f"/v1/videos/{vid}").json()["status"] == "completed")
        again = http.get(f"/v1/videos/{vid}").json()
        assert again["model"] == "seedance-2" or again["extra_fields"]["provider"] == "dear"
        assert http.get(f"/v1/videos/{vid}/content").content[4:8] == b"ftyp"
    # The reservation followed the deployment used: dear's price, not down's or cheap's.
    row = wait_for(lambda: (r := usage_of(gw, vid))["status"] == "completed" and r)
    assert row["provider"] == "dear" and row["estimate_usd"] == pytest.approx(1.2)
    assert row["cost_usd"] == pytest.approx(1.2)
    assert row["dimensions"]["route"] == "seedance-2"


def test_cheapest_picks_the_cheaper_host(gw: GatewayHandle) -> None:
    with gw.http() as http:
        resp = http.post("/v1/videos", json={**BODY, "model": "budget-clip"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"].endswith(":cheap")
        assert resp.json()["extra_fields"]["attempts"][0]["deployment"] == "cheap/test-pattern"


def test_every_host_failing_answers_the_last_error_with_all_attempts(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(
        providers={"a": sim(fail_create=503), "b": sim(fail_create=429)},
        models={"routes": {"m": {"deployments": ["a/test-pattern", "b/test-pattern"]}}},
    )
    with gw.http() as http:
        resp = http.post("/v1/videos", json={**BODY, "model": "m"})
        body = assert_envelope(resp, 429, "simulated_create_failure", bifrost=False)
        outcomes = [(a["provider"], a["status"]) for a in body["extra_fields"]["attempts"]]
        assert outcomes == [("a", 503), ("b", 429)]


def test_a_non_retryable_refusal_does_not_fail_over(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(
        providers={"a": sim(fail_create=400), "b": sim()},
        models={"routes": {"m": {"deployments": ["a/test-pattern", "b/test-pattern"]}}},
    )
    with gw.http() as http:
        resp = http.post("/v1/videos", json={**BODY, "model": "m"})
        assert_envelope(resp, 400, "simulated_create_failure", bifrost=False)
    assert not list((gw.settings.data_dir / "b").glob("*.json"))  # nothing started on b


def test_deployments_that_cannot_serve_the_request_are_left_out(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(
        providers={"small": sim(max_seconds=4), "big": sim(max_seconds=12)},
        models={"routes": {"m": {"deployments": ["small/test-pattern", "big/test-pattern"]}}},
    )
    with gw.http() as http:
        resp = http.post("/v1/videos", json={**BODY, "seconds": "8", "model": "m"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"].endswith(":big")
        assert resp.json()["extra_fields"]["routing"]["skipped"] == ["small/test-pattern"]
        too_long = http.post("/v1/videos", json={**BODY, "seconds": "16", "model": "m"})
        err = assert_envelope(too_long, 400, "no_deployment_available")
        assert "small/test-pattern" in err["error"]["message"]
        assert "big/test-pattern" in err["error"]["message"]


def test_a_key_limited_to_one_public_model(gw: GatewayHandle) -> None:
    key = make_key(gw, allowed_models=["seedance-2"])
    with gw.http(key) as http:
        mine = http.post("/v1/videos", json={**BODY, "model": "seedance-2"})
        assert mine.status_code == 200, mine.text
        other = http.post("/v1/videos", json={**BODY, "model": "budget-clip"})
        assert_envelope(other, 403, "model_blocked")
        direct = http.post("/v1/videos", json={**BODY, "model": "cheap/test-pattern"})
        assert_envelope(direct, 403, "model_blocked")


def test_catalogue_lists_routes_with_what_they_accept_and_cost(gw: GatewayHandle) -> None:
    with gw.http() as http:
        listed = http.get("/v1/models")
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert body["object"] == "list"
        by_id = {m["id"]: m for m in body["data"]}
        route = by_id["seedance-2"]
        assert route["object"] == "model" and route["owned_by"] == "videogate"
        assert route["strategy"] == "priority" and isinstance(route["created"], int)
        deployments = {d["id"]: d for d in route["deployments"]}
        assert list(deployments) == ROUTES["seedance-2"]["deployments"]
        assert deployments["cheap/test-pattern"]["price"]["per_second"] == 0.05
        assert deployments["dear/test-pattern"]["health"]["healthy"] is True
        assert route["accepts"] is None or "create" in route["accepts"]["operations"]
        one = http.get("/v1/models/budget-clip")
        assert one.status_code == 200 and one.json()["strategy"] == "cheapest"
        by_path = http.get("/v1/models/cheap/test-pattern")
        assert by_path.status_code == 200 and by_path.json()["provider"] == "cheap"
        assert_envelope(http.get("/v1/models/nope"), 404, "model_not_found")
        assert http.get("/openai/v1/models").status_code == 200  # every mount


def test_quote_for_three_hosts_of_one_model(gw: GatewayHandle) -> None:
    key = make_key(gw, budget_usd=1.0, budget_period="monthly")
    with gw.http(key) as http:
        resp = http.post("/v1/videos/quote", json={**BODY, "model": "seedance-2"})
        assert resp.status_code == 200, resp.text
        quote = resp.json()
        assert quote["object"] == "video.quote"
        assert quote["deployment"] == "down/test-pattern"  # priority: the first listed
        costs = {c["deployment"]: c["estimated_cost_usd"] for c in quote["candidates"]}
        # dear ($1.20 for 4 s) does not fit the $1.00 budget: left out, as the create does
        assert costs == pytest.approx({"down/test-pattern": 0.8, "cheap/test-pattern": 0.2})
        assert quote["skipped"][0]["deployment"] == "dear/test-pattern"
        assert quote["skipped"][0]["code"] == "budget_exceeded"
        assert quote["reserved_usd"] == pytest.approx(0.8)  # failover may reach down's price
        assert quote["admitted"] is True
        budget = next(b for b in quote["budgets"] if b["kind"] == "budget")
        assert budget["limit"] == 1.0 and budget["needed"] == pytest.approx(0.8)
        cheap = http.post("/v1/videos/quote", json={**BODY, "model": "budget-clip"}).json()
        assert cheap["deployment"] == "cheap/test-pattern" and cheap["admitted"] is True
        assert cheap["estimated_cost_usd"] == pytest.approx(0.2)
        bad = http.post("/v1/videos/quote", json={**BODY, "model": "seedance-2", "seconds": "x"})
        assert bad.status_code == 400
    small = make_key(gw, budget_usd=0.5, budget_period="monthly")
    with gw.http(small) as http:
        long = {**BODY, "model": "budget-clip", "seconds": "12"}
        refused = http.post("/v1/videos/quote", json=long).json()
        assert refused["admitted"] is False  # even cheap's $0.60 exceeds $0.50
        assert refused["deployment"] == "cheap/test-pattern"
    assert not list((gw.settings.data_dir / "cheap").glob("*.json"))  # nothing was created


def test_over_budget_for_the_dearest_drops_dearer_hosts(gw: GatewayHandle) -> None:
    """$1.20 for dear does not fit a $1.00 budget: the create reserves for the hosts that
    do (down at $0.80, cheap at $0.20), and fails over from down to cheap, skipping dear."""
    key = make_key(gw, budget_usd=1.0, budget_period="monthly")
    with gw.http(key) as http:
        resp = http.post("/v1/videos", json={**BODY, "model": "seedance-2"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"].endswith(":cheap")
        tried = [a["deployment"] for a in resp.json()["extra_fields"]["attempts"]]
        assert tried == ["down/test-pattern", "cheap/test-pattern"]


def test_failover_under_concurrency_neither_duplicates_nor_overruns(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(
        providers={"down": sim(fail_create=503), "ok": sim()},
        models={"routes": {"m": {"deployments": ["down/test-pattern", "ok/test-pattern"]}}},
        governance={"prices": {"down/test-pattern": 0.05, "ok/test-pattern": 0.05}},
    )
    key = make_key(gw, budget_usd=1.0, budget_period="monthly")  # five jobs of $0.20

    def one(i: int) -> httpx.Response:
        with gw.http(key) as http:
            return http.post("/v1/videos", json={**BODY, "prompt": f"clip {i}", "model": "m"})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(12)))
    made = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert len(made) == 5, [r.text for r in answers]
    assert all(r.json()["error"]["code"] == "budget_exceeded" for r in refused)
    assert all(r.json()["id"].endswith(":ok") for r in made)
    jobs = list((gw.settings.data_dir / "ok").glob("*.json"))
    assert len(jobs) == 5  # one upstream job per accepted create, none twice
    with admin_http(gw) as admin:
        rows = admin.get("/api/governance/usage").json()["data"]
    assert len(rows) == 5 and sum(r["estimate_usd"] for r in rows) == pytest.approx(1.0)


def test_fastest_picks_the_host_that_completes_sooner(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(
        providers={
            "slow": sim(generation_seconds=3.0),
            "quick": sim(generation_seconds=0.2),
        },
        models={"routes": {"m": {"strategy": "fastest", "deployments": ["slow/x", "quick/x"]}}},
    )
    with gw.http() as http:
        unmeasured = http.post("/v1/videos", json={**BODY, "model": "m"})
        assert unmeasured.json()["id"].endswith(":slow")  # nothing measured: listed order
        ids = [unmeasured.json()["id"]]
        ids.append(http.post("/v1/videos", json={**BODY, "model": "quick/x"}).json()["id"])
        for vid in ids:
            wait_for(lambda v=vid: http.get(f"/v1/videos/{v}").json()["status"] == "completed")
        speeds = wait_for(
            lambda: (
                all(d["speed"] for d in http.get("/v1/models/m").json()["deployments"])
                and http.get("/v1/models/m").json()["deployments"]
            )
        )
        by_id = {d["id"]: d["speed"]["mean_seconds"] for d in speeds}
        assert by_id["quick/x"] < by_id["slow/x"]
        time.sleep(0.1)
        chosen = http.post("/v1/videos", json={**BODY, "model": "m"})
        assert chosen.json()["id"].endswith(":quick"), chosen.text


def test_settlement_uses_the_tokens_the_provider_reports(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    """Priced per token: the estimate assumes 24 fps; the host renders (and reports) 8 fps,
    so the settled cost is a third of the estimate."""
    gw = make_gateway(
        providers={"tok": sim(report_usage=True, fps=8)},
        governance={"prices": {"tok/*": {"per_million_tokens": 10.0}}},
    )
    with gw.http() as http:
        resp = http.post("/v1/videos", json={**BODY, "model": "tok/x"})
        assert resp.status_code == 200, resp.text
        vid = resp.json()["id"]
    row = wait_for(lambda: (r := usage_of(gw, vid))["status"] == "completed" and r)
    estimated = 64 * 64 * 24 * 4 / 1024 * 10 / 1e6
    reported = 64 * 64 * 8 * 4 / 1024 * 10 / 1e6
    assert row["estimate_usd"] == pytest.approx(estimated)
    assert row["cost_usd"] == pytest.approx(reported)
    assert row["dimensions"]["tokens"] == pytest.approx(64 * 64 * 8 * 4 / 1024)


def test_routes_set_through_the_admin_api(gw: GatewayHandle) -> None:
    with admin_http(gw) as admin:
        put = admin.put(
            "/api/governance/routes/kling-3",
            json={
                "strategy": "cheapest",
                "deployments": ["dear/test-pattern", "cheap/test-pattern"],
            },
        )
        assert put.status_code == 200, put.text
        bad = admin.put("/api/governance/routes/k", json={"deployments": ["nope/x"]})
        assert_envelope(bad, 400, "unknown_provider")
        malformed = admin.put("/api/governance/routes/k", json={"deployments": ["no-slash"]})
        assert_envelope(malformed, 400, "invalid_route")
        empty = admin.put("/api/governance/routes/k", json={"deployments": []})
        assert_envelope(empty, 400, "invalid_route")
        names = [r["name"] for r in admin.get("/api/governance/routes").json()["data"]]
        assert names == ["budget-clip", "kling-3", "seedance-2"]
    with gw.http() as http:
        resp = http.post("/v1/videos", json={**BODY, "model": "kling-3"})
        assert resp.status_code == 200 and resp.json()["id"].endswith(":cheap")
    with admin_http(gw) as admin:
        assert admin.delete("/api/governance/routes/kling-3").status_code == 200
        assert_envelope(admin.delete("/api/governance/routes/kling-3"), 404, "route_not_found")
    with gw.http() as http:
        gone = http.post("/v1/videos", json={**BODY, "model": "kling-3"})
        assert gone.status_code == 400


def test_fail_create_must_be_a_status(tmp_path: Path) -> None:
    from videogate.config import ProviderConfig
    from videogate.providers.simulated import SimulatedProvider

    with pytest.raises(ValueError, match="fail_create"):
        SimulatedProvider("s", ProviderConfig(type="simulated", options={"fail_create": "x"}))


def test_a_route_set_on_one_instance_reaches_the_other(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    """Two instances on one store (PostgreSQL on the db run): a route PUT through one is
    served by the other within `governance.refresh_seconds`."""
    providers = {"dear": sim(), "cheap": sim()}
    one = make_gateway(providers=providers, governance={"refresh_seconds": 0.2})
    two = make_gateway(
        providers=providers,
        data_dir=one.settings.data_dir,
        governance={"refresh_seconds": 0.2},
    )
    with admin_http(one) as admin:
        put = admin.put(
            "/api/governance/routes/shared",
            json={"strategy": "priority", "deployments": ["cheap/x", "dear/x"]},
        )
        assert put.status_code == 200, put.text

    def served_by_two() -> str | None:
        with two.http(one.key) as http:
            resp = http.post("/v1/videos", json={**BODY, "model": "shared"})
        return str(resp.json()["id"]) if resp.status_code == 200 else None

    assert wait_for(served_by_two, 10, "the route never reached the second instance").endswith(
        ":cheap"
    )
    with two.http(one.key) as http:
        listed = {m["id"] for m in http.get("/v1/models").json()["data"]}
    assert "shared" in listed
