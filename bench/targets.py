"""What the bench drives: the loopback upstream ("direct"), videogate variants and LiteLLM.

A `Target` knows its port, the headers every request carries, the model to create with, the
process tree to measure, and where ids come from for each workload (`ids(kind, n)`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import seed
from .procs import Group, Service, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
UPSTREAM_KEY = "sk-upstream-bench"

# ids(kind, n): `n` ids of jobs of that kind ("running", "finished", "delete", "content");
# "delete" ids are fresh each call (each is deleted once), the others may repeat.
IdSource = Callable[[str, int], list[str]]


@dataclass
class Target:
    name: str
    kind: str  # direct | videogate | litellm
    port: int
    model: str
    headers: dict[str, str]
    service: Service
    ids: IdSource
    label: str = ""
    notes: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)  # workload -> why

    def pids(self) -> list[int]:
        return self.service.tree()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for children: no proxies (nothing may leave the machine), plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env.update(extra)
    return env


def start_upstream(group: Group, work: Path, procs: int = 2, name: str = "upstream") -> Service:
    port = free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port), "--procs", str(procs)]
    return group.start(name, argv, port=port, log=work / f"{name}.log", env=clean_env(), cwd=ROOT)


def direct_target(upstream: Service) -> Target:
    counter = [0]

    def ids(kind: str, n: int) -> list[str]:
        tag = {"running": "run", "finished": "done", "content": "done"}.get(kind, "done")
        start = counter[0]
        counter[0] += n
        return [f"video_{tag}_direct_{i}" for i in range(start, start + n)]

    return Target(
        name="direct",
        kind="direct",
        port=upstream.port,
        model="sora-2",
        headers={"Authorization": f"Bearer {UPSTREAM_KEY}"},
        service=upstream,
        ids=ids,
        label="direct (loopback upstream)",
    )


@dataclass(frozen=True)
class Variant:
    server: str  # uvicorn | granian
    db: str  # sqlite | pg
    workers: int

    @property
    def name(self) -> str:
        return f"{self.server}·{'SQLite' if self.db == 'sqlite' else 'PG'}·{self.workers}w"

    @property
    def slug(self) -> str:
        return f"{self.server}_{self.db}_{self.workers}w"


def videogate_config(
    port: int, data_dir: Path, db_url: str | None, upstream_port: int
) -> dict[str, Any]:
    """Production settings: auth on, log level info, no access log (the servers' default).

    The worker is on but parked (one pass an hour), so its poller does not spend the CPU we
    measure on the bench's synthetic running jobs; `stale_after_seconds: 0` with the
    provider's `poll_after_ms: 1` makes every retrieve of a running job refresh it from the
    upstream inline (the path under test), while finished jobs are served from the store.
    """
    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(data_dir),
        "log_level": "info",
        "auth": {"enabled": True},
        "worker": {"enabled": True, "interval_seconds": 3600, "stale_after_seconds": 0},
        "providers": {
            "openai": {
                "type": "openai",
                "base_url": f"http://127.0.0.1:{upstream_port}/v1",
                "poll_after_ms": 1,
                "keys": [{"name": "main", "value": UPSTREAM_KEY}],
            }
        },
    }
    if db_url:
        config["database_url"] = db_url
    return config


BENCH_BUDGET_USD = 1_000_000_000


def create_key(config_file: Path, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(key id, secret) of a new virtual key, made with the gateway's own CLI."""
    out = subprocess.run(
        [
            *(str(VENV_BIN / "videogate"), "keys", "create", "bench", "--config", str(config_file)),
            # A real budget, so that every create claims it (the budget check under test).
            *("--budget-usd", str(BENCH_BUDGET_USD), "--budget-period", "monthly"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env or clean_env(),
        cwd=ROOT,
    ).stdout
    found = re.search(r"\bid (vk_[0-9A-Za-z]+)", out)
    if not found:
        raise RuntimeError(f"cannot read the key id from: {out!r}")
    return found.group(1), out.strip().splitlines()[-1].strip()


def server_argv(variant: Variant, config_file: Path) -> list[str]:
    """The product's own command: what a user runs (`videogate serve --server --workers`)."""
    return [
        *(str(VENV_BIN / "videogate"), "serve", "--config", str(config_file)),
        *("--server", variant.server, "--workers", str(variant.workers)),
    ]


@dataclass
class VideogateSetup:
    """Everything about one videogate instance the bench needs besides its Target."""

    variant: Variant
    config_file: Path
    db_url: str
    owner: str
    pg_name: str | None
    data_dir: Path


def start_videogate(
    group: Group,
    work: Path,
    variant: Variant,
    upstream_port: int,
    pg_base: str | None,
    *,
    tag: str = "",
    seed_pools: int = 20_000,
    extra_config: dict[str, Any] | None = None,
    src: Path | None = None,
) -> tuple[Target, VideogateSetup]:
    """A fresh store (SQLite file or PG database), a virtual key, seeded jobs, the server."""
    slug = variant.slug + tag
    data_dir = work / f"vg_{slug}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    pg_name = None
    db_url = f"sqlite+aiosqlite:///{data_dir / 'videogate.db'}"
    if variant.db == "pg":
        if pg_base is None:
            raise RuntimeError("PostgreSQL is not available")
        pg_name = f"vgbench_{slug}"
        db_url = seed.pg_create(pg_base, pg_name)
    port = free_port()
    config_file = data_dir / "videogate.yaml"
    config = videogate_config(port, data_dir, db_url if variant.db == "pg" else None, upstream_port)
    for section, values in (extra_config or {}).items():
        config[section] = {**config.get(section, {}), **values}
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    env = clean_env()
    if src is not None:  # another checkout's code (a baseline measured in the same run)
        env["PYTHONPATH"] = f"{src / 'src'}:{ROOT}"
    owner, secret = create_key(config_file, env)  # also migrates the fresh store
    pools = {"running": "run", "finished": "done"}
    made: dict[str, list[str]] = {}
    for kind, prefix in pools.items():
        finished = kind == "finished"
        if seed_pools:
            seed.seed(db_url, prefix, seed_pools, owner=owner, finished=finished)
        made[kind] = [
            f"{u}:openai" for u in seed.upstream_ids(prefix, seed_pools, finished=finished)
        ]
    seed.seed(db_url, "content", 1, owner=owner, finished=True)
    made["content"] = ["video_done_content_0:openai"]
    fresh = [0]

    def ids(kind: str, n: int) -> list[str]:
        if kind == "delete":
            start = fresh[0]
            fresh[0] += n
            seed.seed(db_url, "del", n, owner=owner, finished=True, start=start)
            return [f"{u}:openai" for u in seed.upstream_ids("del", n, finished=True, start=start)]
        pool = made[kind]
        return [pool[i % len(pool)] for i in range(n)]

    service = group.start(
        f"videogate_{slug}",
        server_argv(variant, config_file),
        port=port,
        log=work / f"videogate_{slug}.log",
        env=env,
        cwd=ROOT,
    )
    target = Target(
        name=variant.name,
        kind="videogate",
        port=port,
        model="openai/sora-2",
        headers={"Authorization": f"Bearer {secret}"},
        service=service,
        ids=ids,
        label=f"videogate {variant.name}",
    )
    return target, VideogateSetup(variant, config_file, db_url, owner, pg_name, data_dir)
