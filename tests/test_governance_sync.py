"""Upstream keys and prices set through the admin API reach every process and instance.

The process that handles the admin call reloads at once; every other one notices the store's
governance stamp change within `governance.refresh_seconds` and reloads too. Shown with
`videogate serve --workers 2` on one SQLite file (which worker answered is read from
/proc: the process holding the server side of the connection) and with two gateway
instances on one store (SQLite, and PostgreSQL in the `-m db` run).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
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

from videogate.api.auth import mint_jwt
from videogate.config import ProviderConfig, Settings, UpstreamKey
from videogate.governance.crypto import MASTER_KEY_ENV, encrypt
from videogate.governance.prices import PriceTable
from videogate.governance.registry import Registry
from videogate.governance.sync import GovernanceSync
from videogate.providers.registry import build_providers
from videogate.store.db import make_engine, migrate

from .conftest import GatewayHandle, free_port
from .mocks.openai_videos import OpenAIVideosMock

SECRET = "governance-sync-tests-shared-jwt-secret-0123456789"
MASTER = "master-key-for-governance-sync-tests"
CREATE = {"prompt": "a lighthouse", "model": "openai/sora-2", "seconds": "4", "size": "720x1280"}
DEADLINE = 60.0  # generous: two loaded cores; the refresh itself is a couple of seconds


@pytest.fixture
def mock() -> Iterator[OpenAIVideosMock]:
    with OpenAIVideosMock(api_key="sk-up", queued_seconds=0.1, run_seconds=0.3) as m:
        yield m


def admin_headers(secret: str = SECRET) -> dict[str, str]:
    token = mint_jwt(secret, role="admin", ttl_seconds=600, subject="ops")
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


# -- which worker process answered ------------------------------------------------------------
def _tcp_inode(local_port: int, remote_port: int) -> str | None:
    want = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == want:
            return fields[9]
    return None


def serving_pid(conn: http.client.HTTPConnection, port: int, pids: set[int]) -> int | None:
    """The process among `pids` holding the server end of `conn` (still open)."""
    assert conn.sock is not None
    inode = _tcp_inode(port, conn.sock.getsockname()[1])
    if inode is None:
        return None
    for pid in pids:
        with os.scandir(f"/proc/{pid}/fd") as fds:
            for fd in fds:
                try:
                    if os.readlink(fd.path) == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
    return None


def call(
    port: int, pids: set[int], method: str, path: str, body: Any = None, key: str | None = None
) -> tuple[int | None, int, dict[str, Any]]:
    """One request on a fresh connection: (pid that served it, status, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = (
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            if key
            else admin_headers()
        )
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        resp = conn.getresponse()
        data = resp.read()
        pid = serving_pid(conn, port, pids)  # keep-alive: the connection is still open
        return pid, resp.status, json.loads(data) if data else {}
    finally:
        conn.close()


def until_served_by(
    pid: int,
    port: int,
    pids: set[int],
    method: str,
    path: str,
    done: Callable[[int, dict[str, Any]], bool],
    body: Any = None,
    key: str | None = None,
) -> dict[str, Any]:
    """Repeat a request on fresh connections until one served by `pid` satisfies `done`."""
    seen: list[tuple[int | None, int, str]] = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        served, status, answer = call(port, pids, method, path, body, key)
        seen.append((served, status, str(answer)[:120]))
        if served == pid and done(status, answer):
            return answer
        time.sleep(0.1)
    raise AssertionError(f"pid {pid} never answered as expected; answers: {seen[-10:]}")


class AdminAt:
    """Admin calls on fresh connections, each answering which process did *not* handle it."""

    def __init__(self, port: int, pids: set[int]) -> None:
        self.port, self.pids = port, pids

    def change(self, method: str, path: str, body: Any = None) -> int:
        served, status, answer = call(self.port, self.pids, method, path, body)
        assert status == 200, answer
        assert served in self.pids, (served, self.pids)
        (other,) = self.pids - {served}
        return other


def _wait_for_workers(url: str, proc: subprocess.Popen[str], log: Path) -> set[int]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        pids = {int(p) for p in re.findall(r"pid (\d+) serving", log.read_text())}
        try:
            up = httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            up = False
        if up and len(pids) == 2:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"two workers not up in {DEADLINE:g} s:\n{log.read_text()}")


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_admin_changes_reach_the_other_worker_process(
    tmp_path: Path, mock: OpenAIVideosMock, server: str
) -> None:
    port, data, log = free_port(), tmp_path / "data", tmp_path / "serve.log"
    config = tmp_path / "videogate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auth": {"jwt_secret": SECRET},
                # No configured key: a process that has not seen the admin's key refuses.
                "providers": {"openai": {"type": "openai", "base_url": mock.url}},
                "models": {"default_provider": "openai"},
                "worker": {"interval_seconds": 0.2},
            }
        )
    )
    argv = [sys.executable, "-m", "videogate", "serve", "--server", server, "--workers", "2"]
    argv += ["--config", str(config), "--data-dir", str(data), "--port", str(port)]
    env = {**os.environ, "VIDEOGATE_MASTER_KEY": MASTER}
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        pids = _wait_for_workers(f"http://127.0.0.1:{port}", proc, log)
        key = (data / "default-key").read_text().strip()

        admin = AdminAt(port, pids)

        # A key set through one process: the other creates with it.
        other = admin.change(
            "POST", "/api/providers/openai/keys", {"name": "api", "value": "sk-up"}
        )
        until_served_by(other, port, pids, "POST", "/v1/videos", lambda s, _: s == 200, CREATE, key)
        assert mock.find_requests("POST", "/v1/videos")

        # A price set through one process: the other estimates with it.
        other = admin.change(
            "PUT", "/api/governance/prices", {"pattern": "openai/sora-2", "per_second": 0.07}
        )

        def estimate(video: dict[str, Any]) -> float:
            _, _, usage = call(port, pids, "GET", "/api/governance/usage")
            return float(
                next(r for r in usage["data"] if r["video_id"] == video["id"])["estimate_usd"]
            )

        until_served_by(
            other,
            port,
            pids,
            "POST",
            "/v1/videos",
            lambda s, made: s == 200 and estimate(made) == pytest.approx(4 * 0.07),
            CREATE,
            key,
        )

        # A key removed through one process: the other refuses, for want of a key.
        other = admin.change("DELETE", "/api/providers/openai/keys/api")
        refused = until_served_by(
            other, port, pids, "POST", "/v1/videos", lambda s, _: s == 400, CREATE, key
        )
        assert refused["error"]["code"] == "no_upstream_key", refused
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    text = log.read_text()
    assert "Traceback" not in text, text


# -- two instances on one store ---------------------------------------------------------------
def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE:g} s: {what}"
        time.sleep(0.1)


def estimate_of(gw: GatewayHandle, video_id: str) -> float:
    with gw.http(admin_token(gw)) as admin:
        rows = admin.get("/api/governance/usage").json()["data"]
    return float(next(r for r in rows if r["video_id"] == video_id)["estimate_usd"])


def admin_token(gw: GatewayHandle) -> str:
    return mint_jwt(gw.settings.jwt_secret(), role="admin", ttl_seconds=600, subject="ops")


def test_a_change_through_one_instance_reaches_the_other(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two gateway instances (own event loop, pool and copies) on one database; on the
    PostgreSQL run that database is PostgreSQL and the counters are in Redis."""
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)
    providers = {"openai": {"type": "openai", "base_url": mock.url}}
    one = make_gateway(providers=providers)
    two = make_gateway(providers=providers, data_dir=one.settings.data_dir)
    assert one.key is not None

    def creates(gw: GatewayHandle) -> httpx.Response:
        with gw.http(one.key) as http:
            return http.post("/v1/videos", json=CREATE)

    with one.http(admin_token(one)) as admin:
        made = admin.post("/api/providers/openai/keys", json={"name": "api", "value": "sk-up"})
        assert made.status_code == 200, made.text
        priced = admin.put(
            "/api/governance/prices", json={"pattern": "openai/sora-2", "per_second": 0.07}
        )
        assert priced.status_code == 200, priced.text
    # The instance that made the change uses it at once.
    first = creates(one)
    assert first.status_code == 200, first.text
    assert estimate_of(one, first.json()["id"]) == pytest.approx(0.28)

    # The other one lists the key, creates with it and estimates at the new price.
    def listed(gw: GatewayHandle) -> list[str]:
        with gw.http(admin_token(gw)) as admin:
            data = admin.get("/api/providers").json()["data"]
        return [k["name"] for p in data for k in p["keys"] if k["source"] == "admin"]

    wait_until(lambda: listed(two) == ["api"], "the key listed by the other instance")
    with two.http(admin_token(two)) as admin:
        table = admin.get("/api/governance/prices").json()["data"]
    assert table["openai/sora-2"] == {
        "per_second": 0.07,
        "tiers": {},
        "bill_failures": False,
        "audio_per_second": 0.0,
        "per_million_tokens": 0.0,
        "input_per_second": 0.0,
        "minimum": 0.0,
        "source": "admin",
    }
    second = creates(two)
    assert second.status_code == 200, second.text
    assert estimate_of(two, second.json()["id"]) == pytest.approx(0.28)

    # A removal through the second reaches the first.
    with two.http(admin_token(two)) as admin:
        gone = admin.delete("/api/providers/openai/keys/api")
        assert gone.status_code == 200, gone.text
    wait_until(lambda: creates(one).status_code == 400, "the first instance refusing")
    refused = creates(one).json()
    assert refused["error"]["code"] == "no_upstream_key", refused
    assert listed(one) == []


def test_a_separate_worker_process_sees_a_key_added_after_it_started(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`videogate worker` polls jobs with the key that created them: a key added through an
    HTTP-only instance after the worker started must reach it, or the job never advances."""
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)  # the worker process inherits it
    providers = {"openai": {"type": "openai", "base_url": mock.url}}
    # HTTP only, answering retrieve from the store: only the worker can advance the job.
    gw = make_gateway(
        providers=providers,
        worker={"enabled": False, "external": True, "stale_after_seconds": 3600},
    )
    config, log = tmp_path / "worker.yaml", tmp_path / "worker.log"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": gw.settings.effective_database_url,
                "redis_url": gw.settings.redis_url,
                "providers": providers,
                "worker": {"interval_seconds": 0.2},
            }
        )
    )
    argv = [sys.executable, "-m", "videogate", "worker", "--config", str(config)]
    argv += ["--data-dir", str(gw.settings.data_dir)]
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: proc.poll() is None and "running" in log.read_text(), "worker up")
        with gw.http(admin_token(gw)) as admin:
            made = admin.post("/api/providers/openai/keys", json={"name": "api", "value": "sk-up"})
            assert made.status_code == 200, made.text
        with gw.http() as http:
            video = http.post("/v1/videos", json=CREATE)
            assert video.status_code == 200, video.text
            path = f"/v1/videos/{video.json()['id']}"
            wait_until(
                lambda: http.get(path).json()["status"] == "completed", "the worker polled it"
            )
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)


# -- rows that cannot be loaded ---------------------------------------------------------------
async def store_unloadable_rows(registry: Registry) -> None:
    """A key encrypted under another master key, a price whose tiers are not a mapping (the
    admin API does not check them), next to a good key and a good price."""
    for name, secret in (("old", encrypt("sk-old", master="another-master")), ("api", None)):
        await registry.put_upstream_key(
            {
                "provider": "openai",
                "name": name,
                "secret_encrypted": secret or encrypt("sk-up"),
                "weight": 1.0,
                "models": [],
                "base_url": None,
                "created_at": time.time(),
            },
            "test",
        )
    await registry.set_price("openai/sora-2-pro", {"per_second": 0.3, "tiers": "cheap"}, "test")
    await registry.set_price("openai/sora-2", {"per_second": 0.07}, "test")


def test_a_gateway_starts_past_rows_it_cannot_load(
    make_gateway: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)

    async def prepare() -> None:
        engine = make_engine(db_url)
        try:
            await migrate(engine)
            await store_unloadable_rows(Registry(engine))
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    caplog.set_level(logging.WARNING, logger="videogate.governance")
    gw = make_gateway(providers={"openai": {"type": "openai", "base_url": mock.url}})
    with gw.http(admin_token(gw)) as admin:
        keys = admin.get("/api/providers").json()["data"][0]["keys"]
        table = admin.get("/api/governance/prices").json()["data"]
    assert [k["name"] for k in keys] == ["api"]
    assert table["openai/sora-2"]["source"] == "admin"
    assert "openai/sora-2-pro" not in table  # the stored one is skipped
    with gw.http() as http:
        assert http.post("/v1/videos", json=CREATE).status_code == 200
    assert "'openai/old'" in caplog.text and "'openai/sora-2-pro'" in caplog.text
    assert "sk-old" not in caplog.text


async def test_the_loop_skips_unloadable_rows_and_goes_on(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)
    engine = make_engine(db_url)
    await migrate(engine)
    registry = Registry(engine)
    settings = Settings(
        data_dir=tmp_path,
        providers={
            "openai": ProviderConfig(
                base_url=mock_free_url(),
                keys=[UpstreamKey(name="cfg", value="sk-cfg"), UpstreamKey(name="api")],
            )
        },
    )
    providers = build_providers(settings)
    prices = PriceTable({})
    forgotten: list[int] = []
    sync = GovernanceSync(registry, prices, providers, 0.05, forget=[lambda: forgotten.append(1)])
    try:
        await sync.reload()
        assert sync.version == await registry.stamp()
        assert [k.name for k in providers["openai"].keys.keys] == ["cfg", "api"]
        assert prices.stored == {}

        caplog.set_level(logging.DEBUG, logger="videogate.governance")
        sync.start()
        before = await registry.stamp()
        await store_unloadable_rows(registry)
        assert await registry.stamp() == before + 4  # one bump per change
        await until(lambda: set(prices.stored) == {"openai/sora-2"})
        # The stored "api" replaces the configured key of that name; "old" is skipped.
        assert [(k.name, k.value) for k in providers["openai"].keys.keys] == [
            ("cfg", "sk-cfg"),
            ("api", "sk-up"),
        ]
        assert "'openai/old'" in caplog.text and "sk-old" not in caplog.text
        warned = [r for r in caplog.records if r.levelno == logging.WARNING]

        # Later changes still arrive; the same bad rows are not warned about again.
        await registry.set_price("openai/sora-2", {"per_second": 0.09}, "test")
        await until(lambda: prices.stored["openai/sora-2"].per_second == 0.09)
        await registry.delete_upstream_key("openai", "api", "test")
        # The configured "api" is back in its place (it has no value in this config).
        await until(
            lambda: (
                [(k.name, k.value) for k in providers["openai"].keys.keys]
                == [
                    ("cfg", "sk-cfg"),
                    ("api", ""),
                ]
            )
        )
        assert [r for r in caplog.records if r.levelno == logging.WARNING] == warned
        assert forgotten and sync.version == await registry.stamp()
        assert not await sync.refresh()  # nothing changed: one read, no reload
    finally:
        await sync.stop()
        await engine.dispose()


def mock_free_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # never called: nothing is created here


async def until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE:g} s"
        await asyncio.sleep(0.05)


def test_the_migrations_create_exactly_the_tables_in_models(db_url: str) -> None:
    """`store/models.py` and the migrations agree (the stamp's table included)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from videogate.store.models import metadata

    async def differences() -> list[Any]:
        engine = make_engine(db_url)
        try:
            await migrate(engine)
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()

    assert asyncio.run(differences()) == []
