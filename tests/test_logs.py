"""Logs: JSON lines from `serve` (the servers' own lines included), the request log at
GET /api/logs with its filters, pages and retention, and `limit`/`after` on every admin list."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from videogate.api.auth import mint_jwt

from .conftest import FAST_SIMULATED, GatewayHandle, free_port

CREATE = {"prompt": "a cat", "seconds": "1", "size": "64x64"}


def admin(gw: GatewayHandle) -> httpx.Client:
    token = mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300, subject="ops")
    return gw.http(token)


def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


@pytest.mark.parametrize(("server", "workers"), [("uvicorn", 1), ("granian", 2)])
def test_json_log_format_makes_every_line_one_object(
    tmp_path: Path, server: str, workers: int
) -> None:
    port, data, log = free_port(), tmp_path / "data", tmp_path / "serve.log"
    config = tmp_path / "vg.yaml"
    config.write_text(yaml.safe_dump({"providers": {"simulated": FAST_SIMULATED}}))
    argv = [sys.executable, "-m", "videogate", "serve", "--server", server]
    argv += ["--workers", str(workers), "--config", str(config), "--access-log"]
    argv += ["--data-dir", str(data), "--port", str(port)]
    env = {**os.environ, "VIDEOGATE_LOG_FORMAT": "json"}
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        until(lambda: _up(url, proc, log), "serving", 60)
        key = (data / "default-key").read_text().strip()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
            made = http.post("/v1/videos", json=CREATE)
            assert made.status_code == 200, made.text
            missing = http.get("/v1/videos/video_" + "0" * 32 + ":simulated")
            assert missing.status_code == 404
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    objects = []
    for line in lines:
        try:
            objects.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{log.read_text()}") from None
    assert all({"time", "level", "logger", "message"} <= set(o) for o in objects)
    loggers = {o["logger"] for o in objects}
    assert loggers & {"uvicorn.error", "_granian"}, loggers  # the server's own lines
    access = [o for o in objects if o["logger"] == "videogate.access"]
    create = next(o for o in access if o["method"] == "POST")
    assert create["request_id"] == made.headers["x-request-id"]
    assert create["key_id"].startswith("vk_")
    assert (create["route"], create["status"]) == ("/v1/videos", 200)
    assert (create["provider"], create["model"]) == ("simulated", "test-pattern")
    assert isinstance(create["latency_ms"], float) and create["latency_ms"] > 0
    assert "cost_usd" in create
    gone = next(o for o in access if o["status"] == 404)
    assert gone["route"] == "/v1/videos/{video_id}"
    assert gone["request_id"] == missing.headers["x-request-id"]


def _up(url: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    assert proc.poll() is None, log.read_text()
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_request_log_is_filtered_and_paged(make_gateway: Callable[..., GatewayHandle]) -> None:
    gw = make_gateway()
    other = gw.new_key("other")
    with gw.http() as mine, gw.http(other) as theirs:
        made = [mine.post("/v1/videos", json=CREATE) for _ in range(3)]
        assert all(m.status_code == 200 for m in made)
        assert theirs.get("/v1/videos/video_" + "0" * 32 + ":simulated").status_code == 404
        assert theirs.get("/api/logs").status_code == 403  # admin only
    mine_id, other_id = gw.key_ids()

    with admin(gw) as http:

        def logs(**q: Any) -> dict[str, Any]:
            got = http.get("/api/logs", params=q)
            assert got.status_code == 200, got.text
            body: dict[str, Any] = got.json()
            return body

        until(lambda: len(logs(route="/v1/videos")["data"]) == 3, "the creates flushed")
        creates = logs(key_id=mine_id, route="/v1/videos")["data"]
        assert [r["status"] for r in creates] == [200, 200, 200]
        assert {r["request_id"] for r in creates} == {m.headers["x-request-id"] for m in made}
        assert all(r["provider"] == "simulated" and r["model"] == "test-pattern" for r in creates)
        assert all(r["latency_ms"] > 0 for r in creates)
        theirs_rows = logs(key=other_id)["data"]
        assert {(r["route"], r["status"]) for r in theirs_rows} == {
            ("/v1/videos/{video_id}", 404),
            ("/api/logs", 403),
        }
        assert {r["status"] for r in logs(status="4xx")["data"]} == {403, 404}
        assert [r["status"] for r in logs(status="404")["data"]] == [404]
        assert logs(provider="simulated", model="test-pattern", route="/v1/videos")["data"]
        assert logs(provider="nobody")["data"] == []
        assert logs(since=time.time() + 60)["data"] == []
        assert len(logs(until=time.time() + 60, route="/v1/videos")["data"]) == 3

        # pages: newest first, `after` = the previous page's next_after, no row twice
        everything = logs(limit=1000)["data"]
        seen, after = [], None
        while True:
            page = logs(limit=2, **({"after": after} if after is not None else {}))
            seen += page["data"]
            if not page["has_more"]:
                break
            after = page["next_after"]
        assert [r["id"] for r in seen][: len(everything)] == [r["id"] for r in everything]
        assert [r["id"] for r in everything] == sorted((r["id"] for r in everything), reverse=True)
        for bad in ({"limit": "0"}, {"limit": "²"}, {"after": "x"}, {"status": "abc"}):
            answer = http.get("/api/logs", params=bad)
            assert answer.status_code == 400, (bad, answer.text)
        assert "/health" not in {r["route"] for r in everything}  # probes are not logged


def test_the_worker_prunes_the_request_log_past_its_retention(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    gw = make_gateway(
        logging={"request_log_retention_days": 2 / 86400, "prune_interval_seconds": 0.2}
    )
    with gw.http() as http:
        assert http.get("/v1/videos").status_code == 200
    with admin(gw) as http:

        def listed() -> list[Any]:
            rows: list[Any] = http.get("/api/logs", params={"route": "/v1/videos"}).json()["data"]
            return rows

        until(listed, "the row written")
        until(lambda: not listed(), "the row pruned", timeout=8)


def walk(http: httpx.Client, path: str, limit: int = 2) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    for _ in range(50):
        q: dict[str, Any] = {"limit": limit}
        if after is not None:
            q["after"] = after
        got = http.get(path, params=q)
        assert got.status_code == 200, (path, got.text)
        body = got.json()
        assert len(body["data"]) <= limit
        rows += body["data"]
        if not body["has_more"]:
            assert body["next_after"] is None
            return rows
        after = body["next_after"]
    raise AssertionError(f"{path} never ended")


def test_every_admin_list_honours_limit_and_after(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    hooks_port = free_port()  # nothing listens: deliveries are attempted and recorded
    gw = make_gateway(webhooks={"allow_private_networks": True})
    owner = gw.key_ids()[0]
    with admin(gw) as http:
        for i in range(3):
            for kind in ("teams", "customers", "virtual-keys"):
                made = http.post(f"/api/governance/{kind}", json={"name": f"{kind}-{i}"})
                assert made.status_code == 200, made.text
            hook = {"url": f"http://127.0.0.1:{hooks_port}/{i}", "owner": owner}
            assert http.post("/api/webhooks", json=hook).status_code == 200
        with gw.http() as mine:
            for _ in range(3):
                assert mine.post("/v1/videos", json=CREATE).status_code == 200
        lists = [
            "/api/governance/teams",
            "/api/governance/customers",
            "/api/governance/virtual-keys",
            "/api/governance/usage",
            "/api/governance/audit",
            "/api/webhooks",
            "/api/webhooks/deliveries",
        ]
        until(
            lambda: len(http.get("/api/webhooks/deliveries").json()["data"]) >= 3,
            "webhook deliveries recorded",
        )
        for path in lists:
            full = http.get(path, params={"limit": 1000}).json()["data"]
            assert len(full) >= 3, (path, full)
            paged = walk(http, path)
            ident = "seq" if path.endswith(("/usage", "/audit")) else "id"
            assert [r[ident] for r in paged] == [r[ident] for r in full[: len(paged)]], path
            assert len(paged) >= len(full) - 3, path  # rows may be added while walking
            one = http.get(path, params={"limit": 1}).json()
            assert len(one["data"]) == 1 and one["has_more"] is True, path
            bad = http.get(path, params={"limit": "1001"})
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_limit"
        usage = http.get("/api/governance/usage", params={"limit": 1}).json()
        assert usage["totals"]["jobs"] == 3  # totals cover every row, not the page


def test_a_failed_flush_keeps_its_rows_within_the_buffer_bound(tmp_path: Path) -> None:
    """Rows a failed flush could not write go back in front of the buffer, but never past
    MAX_BUFFER: with the buffer refilled to the bound meanwhile, they are dropped (counted)."""
    import asyncio
    import contextlib

    from videogate.store import requestlog
    from videogate.store.db import make_engine

    class Away:
        """The store going away while requests keep filling the buffer to its bound."""

        @contextlib.asynccontextmanager
        async def begin(self) -> Any:
            for i in range(requestlog.MAX_BUFFER):
                log.add({"path": f"/new/{i}", "status": 200})
            raise ConnectionError("the store is away")
            yield

    engine = make_engine(f"sqlite:///{tmp_path / 'v.db'}")
    log = requestlog.RequestLog(engine)
    log.engine = Away()  # type: ignore[assignment]
    for i in range(3):
        log.add({"path": f"/old/{i}", "status": 200})

    with pytest.raises(ConnectionError):
        asyncio.run(log.flush())
    assert len(log._buffer) == requestlog.MAX_BUFFER
    assert log.dropped == 3
    asyncio.run(engine.dispose())
