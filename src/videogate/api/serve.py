"""`videogate serve`: one uvicorn process, or several processes under uvicorn or granian.

Worker processes cannot be handed the app object, so they build it from `worker_app`, which
reads the command line's settings back from `VIDEOGATE_SERVE` (the config file's path and the
flags, never secrets). The first start (migrations, the default key) happens once in the
parent, before any worker exists, so workers do not race to create a key. Exactly one
worker process runs the background worker: the first to lock `<data_dir>/worker.lock`.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from ..config import Settings, private_dir, settings_from
from ..telemetry import logs, metrics
from .app import GatewayApp, create_app, ensure_first_key

ENV = "VIDEOGATE_SERVE"
log = logging.getLogger("videogate")
_lock: list[TextIO] = []  # holds the worker lock's file (and so the lock) for the process


def take_worker_lock(data_dir: Path) -> bool:
    """True for the one process that may run the background worker (held until it exits)."""
    private_dir(data_dir)
    fh = (data_dir / "worker.lock").open("a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return False
    _lock.append(fh)
    return True


def worker_app() -> GatewayApp:
    """The app of one worker process (the servers' `--factory` target)."""
    spec = json.loads(os.environ[ENV])
    settings = settings_from(spec)
    configure_logging(settings, bool(spec.get("access_log")))
    metrics.adopt_multiprocess()
    run_worker = settings.worker.enabled and take_worker_lock(settings.data_dir)
    log.info("pid %d serving; background worker here: %s", os.getpid(), run_worker)
    return create_app(settings, run_worker=run_worker)


async def first_start(settings: Settings) -> None:
    """Migrate the store and mint the default key once, before workers start."""
    from ..gateway import Gateway

    gw = await Gateway.start(settings)
    try:
        await ensure_first_key(gw)
    finally:
        await gw.close()


def configure_logging(settings: Settings, access_log: bool = False) -> None:
    """The process's logging: `log_format` text or JSON; access lines with --access-log."""
    logs.configure(settings.log_level, settings.log_format, access_log)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "http": "httptools",
        "log_level": settings.log_level,
        # the app writes the access lines (with request id, key, provider, model, cost)
        "access_log": False,
        "log_config": None,  # uvicorn's loggers use the process's handler (text or JSON)
        "lifespan": "on",
        "timeout_graceful_shutdown": math.ceil(settings.server.shutdown_timeout_seconds),
    }


def run(spec: dict[str, Any], *, access_log: bool) -> int:
    settings = settings_from(spec)
    configure_logging(settings, access_log)
    kind, workers = settings.server.kind, settings.server.workers
    if kind == "uvicorn" and workers == 1:  # the simple case: the app object, one process
        import uvicorn

        uvicorn.run(create_app(settings), **_uvicorn_options(settings))
        return 0
    target = f"{__name__}:worker_app"
    asyncio.run(first_start(settings))
    # Every worker process writes its metric samples here and /metrics sums them; a new
    # directory per run, since files left by an earlier run would be summed in too.
    metrics.use_multiprocess_dir(str(private_dir(settings.data_dir) / "prometheus"))
    os.environ[ENV] = json.dumps({**spec, "access_log": access_log}, default=str)
    log.info("serving with %s, %d worker process(es)", kind, workers)
    if kind == "uvicorn":
        import uvicorn

        uvicorn.run(target, factory=True, workers=workers, **_uvicorn_options(settings))
        return 0
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    Granian(
        target,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop if sys.platform != "win32" else Loops.asyncio,
        log_level=LogLevels(settings.log_level),
        log_access=False,  # the app writes the access lines
        log_dictconfig=logs.granian_log_config(settings.log_format),
        factory=True,
        respawn_failed_workers=True,
        workers_kill_timeout=math.ceil(settings.server.shutdown_timeout_seconds),
    ).serve()
    return 0
