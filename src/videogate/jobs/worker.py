"""The background worker that runs inside `videogate serve` (and `videogate worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..gateway import Gateway
from .deletion import drain_due

log = logging.getLogger("videogate.worker")


class Worker:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="videogate-worker")

    async def _run(self) -> None:
        interval = self.gw.settings.worker.interval_seconds
        while not self._stop.is_set():
            try:
                await drain_due(self.gw)
            except Exception:
                log.exception("worker pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
