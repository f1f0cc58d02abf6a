"""ASGI app factory for running videogate under granian or multi-worker uvicorn.

`create()` builds `videogate.api.app.create_app(load_settings(config))` from the file named by
`VIDEOGATE_BENCH_CONFIG`. With several worker processes only the first to take an exclusive
lock on `<data_dir>/worker.lock` runs the background worker; the others serve HTTP only.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from videogate.api.app import create_app
from videogate.config import load_settings

_held: list[Any] = []  # keeps the lock's file object (and so the lock) alive


def _take_worker_lock(data_dir: Path) -> bool:
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = (data_dir / "worker.lock").open("a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return False
    _held.append(fh)
    return True


def create() -> Starlette:
    settings = load_settings(Path(os.environ["VIDEOGATE_BENCH_CONFIG"]))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    run_worker = settings.worker.enabled and _take_worker_lock(settings.data_dir)
    logging.getLogger("videogate").info("pid %d: background worker %s", os.getpid(), run_worker)
    return create_app(settings, run_worker=run_worker)
