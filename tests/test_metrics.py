"""/metrics: scraped by a real Prometheus server, and summed across `serve --workers N`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import FAST_SIMULATED, GatewayHandle, free_port
from .mocks.openai_videos import OpenAIVideosMock

KEY = "sk-upstream-metrics"
CREATE = {"model": "openai/sora-2", "prompt": "a cat", "seconds": "4", "size": "720x1280"}


def prometheus_binary() -> str:
    """The Prometheus server binary; under CI=true its absence fails the test."""
    path = os.environ.get("VIDEOGATE_TEST_PROMETHEUS") or "/usr/bin/prometheus"
    if not Path(path).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Prometheus is required under CI but {path} does not exist")
        pytest.skip(f"no Prometheus server at {path} (set VIDEOGATE_TEST_PROMETHEUS)")
    return path


class Prometheus:
    """A Prometheus server scraping one target every second, on loopback."""

    def __init__(self, binary: str, target: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [
                        {"job_name": "videogate", "static_configs": [{"targets": [target]}]}
                    ],
                }
            )
        )
        self.log = workdir / "prometheus.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        answer.raise_for_status()
        body = answer.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, ok: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
        deadline = time.monotonic() + 20
        last: Any = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                last = self.query(promql)
                if ok(last):
                    return last
            except httpx.HTTPError as exc:  # still starting
                last = exc
            time.sleep(0.25)
        raise AssertionError(f"{promql}: {last!r}\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key=KEY, queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


@pytest.fixture
def gw(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
) -> GatewayHandle:
    monkeypatch.setenv("VG_TEST_METRICS_KEY", KEY)
    openai = {
        "type": "openai",
        "base_url": mock.url,
        "keys": [{"name": "main", "value": "env.VG_TEST_METRICS_KEY"}],
        "poll_after_ms": 100,
    }
    return make_gateway(providers={"openai": openai, "simulated": FAST_SIMULATED})


def value(result: list[dict[str, Any]]) -> float:
    return sum(float(r["value"][1]) for r in result)


def test_a_real_prometheus_scrapes_requests_upstream_calls_and_jobs(
    gw: GatewayHandle, mock: OpenAIVideosMock, tmp_path: Path
) -> None:
    """The counters are process-wide (other gateways of this test run add to them), so
    what this test made is the difference from a scrape taken before it."""
    creates = 'videogate_http_requests_total{method="POST",route="/v1/videos",status="200"}'
    upstream = 'videogate_upstream_requests_total{provider="openai",model="sora-2",outcome="200"}'
    missing = 'videogate_http_requests_total{route="/v1/videos/{video_id}",status="404"}'
    before = httpx.get(gw.url + "/metrics").text
    prom = Prometheus(prometheus_binary(), gw.url.removeprefix("http://"), tmp_path)
    try:
        with gw.http() as http:
            ids = []
            for _ in range(3):
                made = http.post("/v1/videos", json=CREATE)
                assert made.status_code == 200, made.text
                ids.append(made.json()["id"])
            assert http.get(f"/v1/videos/{ids[0]}").status_code == 200
            assert http.get("/v1/videos/video_" + "0" * 32 + ":openai").status_code == 404
        after = httpx.get(gw.url + "/metrics").text
        assert _promql(after, creates) == _promql(before, creates) + 3
        assert _promql(after, missing) == _promql(before, missing) + 1
        assert _promql(after, upstream) >= _promql(before, upstream) + 3
        # the scrape parsed (up == 1), and Prometheus holds the same values
        prom.wait_for('up{job="videogate"}', lambda r: value(r) == 1)
        prom.wait_for(creates, lambda r: value(r) == _promql(after, creates))
        prom.wait_for(missing, lambda r: value(r) == _promql(after, missing))
        prom.wait_for(upstream, lambda r: value(r) >= _promql(after, upstream))
        prom.wait_for(
            "histogram_quantile(0.5, sum by (le) "
            "(rate(videogate_http_request_duration_seconds_bucket[1m])))",
            lambda r: bool(r) and r[0]["value"][1] not in ("NaN", "0"),
        )
        prom.wait_for("sum(videogate_jobs)", lambda r: value(r) == 3)  # this store's jobs
    finally:
        prom.stop()
    assert len(mock.find_requests("POST", "/v1/videos")) == 3


def _promql(text: str, selector: str) -> float:
    """`selector` (name{k="v",...}) summed over the exposition `text`."""
    name, _, rest = selector.partition("{")
    return _sample(text, name, **dict(re.findall(r'(\w+)="([^"]*)"', rest)))


def test_upstream_errors_and_spend_are_counted(gw: GatewayHandle, mock: OpenAIVideosMock) -> None:
    before = httpx.get(gw.url + "/metrics").text
    mock.fail_next(400, path_contains="/v1/videos", method="POST")
    with gw.http() as http:
        assert http.post("/v1/videos", json=CREATE).status_code == 400
        made = http.post("/v1/videos", json=CREATE)
        assert made.status_code == 200, made.text
        vid = made.json()["id"]
        deadline = time.monotonic() + 10
        while http.get(f"/v1/videos/{vid}").json()["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.3)
        text = http.get("/metrics").text
    for name, labels, grew in (
        ("videogate_upstream_errors_total", {"provider": "openai", "code": "400"}, 1),
        ("videogate_spend_dollars_total", {"provider": "openai", "model": "sora-2"}, 0.4),
    ):
        assert _sample(text, name, **labels) == pytest.approx(
            _sample(before, name, **labels) + grew
        )
    steps = {"kind": "poll", "outcome": "ok"}
    assert _sample(text, "videogate_worker_steps_total", **steps) > _sample(
        before, "videogate_worker_steps_total", **steps
    )


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not up in 60 s:\n{log.read_text()}")


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_several_worker_processes_are_summed_in_one_scrape(tmp_path: Path, server: str) -> None:
    """Requests answered by either of two processes all show in /metrics (multiprocess
    files), and the files of an earlier run are removed at start, not summed in."""
    port, data, log = free_port(), tmp_path / "data", tmp_path / "serve.log"
    stale = data / "prometheus"
    stale.mkdir(parents=True)
    (stale / "counter_999999.db").write_bytes(b"left by an earlier run")
    config = tmp_path / "vg.yaml"
    config.write_text(yaml.safe_dump({"providers": {"simulated": FAST_SIMULATED}}))
    argv = [sys.executable, "-m", "videogate", "serve", "--server", server, "--workers", "2"]
    argv += ["--config", str(config), "--data-dir", str(data), "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_up(url, proc, log)
        assert not (stale / "counter_999999.db").exists()
        n = 40
        for _ in range(n):  # a new connection each: the kernel spreads them over both
            assert httpx.get(url + "/v1/providers", timeout=5).status_code == 401
        pids = {p.name.rsplit("_", 1)[-1] for p in stale.glob("*.db")}
        text = httpx.get(url + "/metrics", timeout=5).text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    got = _sample(text, "videogate_http_requests_total", route="/v1/providers", status="401")
    assert got == n, text
    assert pids, "no process wrote its samples to the shared files"


def test_cache_hits_and_limit_refusals_are_counted(gw: GatewayHandle) -> None:
    from videogate.api.auth import mint_jwt

    before = httpx.get(gw.url + "/metrics").text
    admin = mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=300)
    with gw.http(admin) as http:
        made = http.post("/api/governance/virtual-keys", json={"name": "slow", "rpm": 1})
        assert made.status_code == 200, made.text
        limited = made.json()["key"]
    sim = {"model": "simulated/test-pattern", "prompt": "a fox", "seconds": "1", "size": "64x64"}
    cache = {"x-bf-cache-key": "metrics"}
    with gw.http() as http:
        first = http.post("/v1/videos", json=sim, headers=cache)
        assert first.status_code == 200, first.text
        second = http.post("/v1/videos", json=sim, headers=cache)
        assert second.status_code == 200 and second.json()["id"] != first.json()["id"]
    with gw.http(limited) as http:
        assert http.get("/v1/videos").status_code == 200
        assert http.get("/v1/videos").status_code == 429
    text = httpx.get(gw.url + "/metrics").text
    hits, refused = "videogate_cache_hits_total", "videogate_limit_refusals_total"
    assert _sample(text, hits, kind="direct") == _sample(before, hits, kind="direct") + 1
    assert _sample(text, refused, type="rpm") == _sample(before, refused, type="rpm") + 1
