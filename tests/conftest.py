"""Fixtures: real gateways (in a thread or a subprocess) on SQLite or PostgreSQL.

`VIDEOGATE_TEST_DB=postgres` runs every store-touching test against a fresh PostgreSQL
database per gateway; under CI=true a missing PostgreSQL fails those tests instead of
skipping them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from videogate.api.app import create_app
from videogate.config import Settings, load_settings

BACKEND = os.environ.get("VIDEOGATE_TEST_DB", "sqlite")
DB_FIXTURES = {"make_gateway", "gateway", "db_url", "spawn_gateway", "redis_url"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "db: touches the store; runs on SQLite and PostgreSQL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if BACKEND != "postgres":
        yield f"sqlite+aiosqlite:///{tmp_path / 'videogate.db'}"
        return
    base = _require("VIDEOGATE_TEST_PG_URL", "PostgreSQL")
    name = "vg_" + secrets.token_hex(6)
    asyncio.run(_pg_admin(base, f"CREATE DATABASE {name}"))
    yield base.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_pg_admin(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


class ServerThread:
    """uvicorn serving an app from a background thread (its own event loop)."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, loop="asyncio", lifespan="on", log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class GatewayHandle:
    url: str
    settings: Settings
    key: str | None
    stop: Callable[[], None]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def client(self, key: str | None = None, **kw: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=self.v1, api_key=key or self.key, max_retries=0, **kw)

    def http(self, key: str | None = None) -> httpx.Client:
        token = key or self.key
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def new_key(self, name: str) -> str:
        return cli_key(self.settings, name)

    def key_ids(self) -> list[str]:
        """Ids of the store's virtual keys, oldest first (from `videogate keys list`)."""
        out = run_cli(self.settings, "keys", "list")
        return [line.split()[0] for line in out.splitlines()[1:]]


def run_cli(settings: Settings, *args: str) -> str:
    """`videogate ARGS` against this gateway's store, as a user would run it; its stdout."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "videogate",
            *args,
            "--data-dir",
            str(settings.data_dir),
            "--database-url",
            settings.effective_database_url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def cli_key(settings: Settings, name: str) -> str:
    """Create a key the way a user does: the CLI, against the store; its last line is the key."""
    return run_cli(settings, "keys", "create", name).strip().splitlines()[-1]


FAST_SIMULATED = {"type": "simulated", "options": {"generation_seconds": 1.0, "fps": 8}}


def _require(var: str, what: str) -> str:
    value = os.environ.get(var)
    if not value:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is required under CI but {var} is unset")
        pytest.skip(f"{what} not configured (set {var})")
    return value


def new_bucket(endpoint: str, prefix: str) -> str:
    """A fresh bucket on the S3-compatible server (moto takes any credentials)."""
    import boto3

    bucket = prefix + secrets.token_hex(5)
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def assets_config() -> dict[str, Any]:
    """Local disk with SQLite; a fresh bucket on the S3-compatible server with PostgreSQL."""
    if BACKEND != "postgres":
        return {}
    endpoint = _require("VIDEOGATE_TEST_S3_URL", "S3-compatible storage")
    bucket = new_bucket(endpoint, "vg-")
    return {
        "backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint": endpoint,
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }


@pytest.fixture
def redis_url() -> str | None:
    """Counters in Redis on the PostgreSQL run (many instances), in the database on SQLite."""
    if BACKEND != "postgres":
        return None
    return _require("VIDEOGATE_TEST_REDIS_URL", "Redis")


@pytest.fixture
def make_gateway(
    tmp_path: Path, db_url: str, assets_config: dict[str, Any], redis_url: str | None
) -> Iterator[Callable[..., GatewayHandle]]:
    started: list[GatewayHandle] = []

    def make(providers: dict[str, Any] | None = None, **settings: Any) -> GatewayHandle:
        data_dir = tmp_path / f"gw{len(started)}"
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url": db_url,
            "providers": providers or {"simulated": FAST_SIMULATED},
            "worker": {"interval_seconds": 0.2},
            **settings,
        }
        values["assets"] = {**assets_config, **settings.get("assets", {})}
        values.setdefault("redis_url", redis_url)
        config_file = tmp_path / f"gw{len(started)}.yaml"
        config_file.write_text(yaml.safe_dump(_plain(values)))
        s = load_settings(config_file)
        port = free_port()
        s.port = port
        server = ServerThread(create_app(s), port)
        server.start()
        key_file = data_dir / "default-key"
        key = key_file.read_text().strip() if key_file.exists() else None
        handle = GatewayHandle(
            f"http://127.0.0.1:{port}", s, key, server.stop, {"config_file": config_file}
        )
        started.append(handle)
        return handle

    yield make
    for h in started:
        h.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., GatewayHandle]) -> GatewayHandle:
    return make_gateway()


def _plain(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class GatewayProcess:
    """`videogate serve` as a real subprocess, for restarts and kill -9."""

    def __init__(self, config_file: Path, data_dir: Path, port: int) -> None:
        self.args = [
            sys.executable,
            "-m",
            "videogate",
            "serve",
            "--config",
            str(config_file),
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ]
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"serve-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(self.args, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited:\n" + self.log.read_text())
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway did not come up:\n" + self.log.read_text())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def spawn_gateway(
    tmp_path: Path, db_url: str, assets_config: dict[str, Any], redis_url: str | None
) -> Iterator[Callable[..., GatewayProcess]]:
    procs: list[GatewayProcess] = []

    def spawn(providers: dict[str, Any] | None = None, **settings: Any) -> GatewayProcess:
        data_dir = tmp_path / "spawned"
        config_file = tmp_path / "spawned.yaml"
        values = {
            "database_url": db_url,
            "providers": providers or {"simulated": FAST_SIMULATED},
            "worker": {"interval_seconds": 0.2},
            **settings,
        }
        config_file.write_text(yaml.safe_dump(_plain(values)))
        proc = GatewayProcess(config_file, data_dir, free_port())
        proc.start()
        procs.append(proc)
        return proc

    yield spawn
    for p in procs:
        p.stop()


ENVELOPE_KEYS = {"event_id", "type", "is_bifrost_error", "status_code", "error", "extra_fields"}


def assert_envelope(
    resp: httpx.Response, status: int, code: str, *, bifrost: bool = True
) -> dict[str, Any]:
    """The seed's error envelope, exactly, with the request id echoed in the header."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == ENVELOPE_KEYS, body
    assert body["status_code"] == status
    assert body["is_bifrost_error"] is bifrost
    assert set(body["error"]) == {"type", "code", "message", "param", "event_id"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert body["error"]["event_id"] == body["event_id"] == resp.headers["x-request-id"]
    # The seed's three, plus (only) what a failed-over create adds: the attempts made.
    assert {"provider", "model_requested", "request_type"} <= set(body["extra_fields"])
    assert set(body["extra_fields"]) <= {"provider", "model_requested", "request_type", "attempts"}
    return dict(body)
