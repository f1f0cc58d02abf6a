"""Liveness and readiness: /health from memory; /ready (and /health/readiness) checks the
database, Redis, the asset store and the worker's heartbeat, names what failed in a 503,
and answers 503 while draining after SIGTERM; shutdown is bounded."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from videogate.api.app import create_app
from videogate.config import load_settings
from videogate.store.db import make_engine

from .conftest import FAST_SIMULATED, GatewayHandle, ServerThread, free_port
from .mocks.openai_videos import OpenAIVideosMock


def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def test_health_is_liveness_and_ready_checks_the_dependencies(gateway: GatewayHandle) -> None:
    with httpx.Client(base_url=gateway.url) as http:
        assert http.get("/health").json() == {"status": "ok"}
        ready = until(lambda: (r := http.get("/ready")).status_code == 200 and r, "ready")
        body = ready.json()
        assert body["status"] == "ready" and body["failed"] == []
        expected = {"database", "assets", "worker"} | (
            {"redis"} if gateway.settings.redis_url else set()
        )
        assert set(body["checks"]) == expected
        assert all(c["ok"] for c in body["checks"].values())
        assert body["checks"]["worker"]["heartbeat_age_seconds"] < 30
        alias = http.get("/health/readiness")
        assert alias.status_code == 200 and set(alias.json()["checks"]) == expected


@pytest.fixture
def broken(tmp_path: Path, db_url: str) -> Iterator[tuple[str, Any]]:
    """A gateway whose Redis and S3 are a closed port, with no worker, and whose database
    connection is replaced by one to a closed port once it has started."""
    closed = free_port()
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        database_url=db_url,
        redis_url=f"redis://127.0.0.1:{closed}/0",
        providers={"simulated": FAST_SIMULATED},
        worker={"enabled": False, "external": True},
        assets={
            "backend": "s3",
            "s3_bucket": "b",
            "s3_endpoint": f"http://127.0.0.1:{closed}",
            "s3_access_key_id": "k",
            "s3_secret_access_key": "s",
        },
        auth={"enabled": False},
    )
    settings.port = free_port()
    app = create_app(settings)
    server = ServerThread(app, settings.port)
    server.start()
    try:
        yield f"http://127.0.0.1:{settings.port}", app
    finally:
        server.stop()


def test_ready_answers_503_naming_each_failed_dependency(broken: tuple[str, Any]) -> None:
    url, app = broken
    gw = app.state.gateway
    good = gw.liveness.engine
    gw.liveness.engine = make_engine(f"postgresql+asyncpg://u@127.0.0.1:{free_port()}/x")
    try:
        with httpx.Client(base_url=url, timeout=20) as http:
            assert http.get("/health").status_code == 200  # alive, whatever it depends on
            started = time.monotonic()
            answer = http.get("/ready")
            took = time.monotonic() - started
            alias = http.get("/health/readiness")
    finally:
        gw.liveness.engine = good
    assert answer.status_code == 503 and alias.status_code == 503
    body = answer.json()
    assert body["status"] == "not_ready"
    assert body["failed"] == ["assets", "database", "redis", "worker"]
    assert all(body["checks"][name]["error"] for name in body["failed"])
    assert took < 4, took  # checks run at once, each bounded


def test_a_stale_worker_heartbeat_makes_the_gateway_not_ready(
    make_gateway: Callable[..., GatewayHandle],
) -> None:
    worker = {
        "enabled": False,  # this process runs none: a separate `videogate worker` does
        "external": True,
        "interval_seconds": 0.1,
        "heartbeat_seconds": 0.2,
        "heartbeat_stale_seconds": 1.0,
    }
    metrics_port = free_port()
    gw = make_gateway(worker=worker, telemetry={"worker_metrics_port": metrics_port})

    def ready() -> httpx.Response:
        return httpx.get(gw.url + "/ready", timeout=5)

    assert ready().json()["failed"] == ["worker"]
    config = gw.extra["config_file"]
    argv = [sys.executable, "-m", "videogate", "worker", "--config", str(config)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        until(lambda: ready().status_code == 200, "ready once the worker beats", 20)
        # the standalone worker answers its own /metrics
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert "videogate_worker_steps_total" in scraped.text
        proc.kill()  # kill -9: no goodbye, the heartbeat just stops
        proc.wait(10)
        stale = until(lambda: (r := ready()).status_code == 503 and r, "stale heartbeat", 5)
        assert stale.json()["failed"] == ["worker"]
        assert "s old" in stale.json()["checks"]["worker"]["error"]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_drains_then_stops_within_the_shutdown_timeout(tmp_path: Path) -> None:
    with OpenAIVideosMock(api_key="sk-up") as mock:
        mock.hang_next(60, path_contains="/videos", method="POST")  # a create that never ends
        port, data, log = free_port(), tmp_path / "data", tmp_path / "serve.log"
        config = tmp_path / "vg.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "providers": {
                        "openai": {
                            "type": "openai",
                            "base_url": mock.url,
                            "keys": [{"value": "sk-up"}],
                        }
                    },
                    "auth": {"enabled": False},
                    "server": {"drain_seconds": 1.5, "shutdown_timeout_seconds": 1},
                }
            )
        )
        argv = [sys.executable, "-m", "videogate", "serve", "--config", str(config)]
        argv += ["--data-dir", str(data), "--port", str(port)]
        url = f"http://127.0.0.1:{port}"
        with log.open("w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            until(lambda: _ready(url), "ready", 30)
            create = {"model": "openai/sora-2", "prompt": "p", "seconds": "4", "size": "720x1280"}
            inflight = threading.Thread(
                target=lambda: _quietly(
                    lambda: httpx.post(url + "/v1/videos", json=create, timeout=30)
                ),
                daemon=True,
            )
            inflight.start()
            until(lambda: mock.find_requests("POST", "/videos"), "the create reached upstream")
            with httpx.Client(base_url=url, timeout=5) as http:  # one connection, kept open
                assert http.get("/ready").status_code == 200
                signalled = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                draining = until(
                    lambda: (r := http.get("/ready")).status_code == 503 and r, "draining", 1
                )
                assert draining.json() == {
                    "status": "draining",
                    "failed": ["draining"],
                    "checks": {},
                }
                assert http.get("/health").status_code == 200  # still alive meanwhile
            proc.wait(15)
            stopped = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
    # drained for 1.5 s, then the hanging create was given 1 s, not its 60
    assert 1.4 < stopped < 6, (stopped, log.read_text())
    assert "draining" in log.read_text()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _quietly(call: Callable[[], Any]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # cut off by the shutdown, as expected
        call()
