"""The background worker: runs inside `videogate serve`, or alone as `videogate worker`.

Each pass advances due jobs (poll or mirror), carries out owed upstream deletions,
delivers webhooks and, now and then, purges media past its retention. Every piece is
driven by rows in the store, so any instance's worker can pick up any other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time

from ..gateway import Gateway
from .deletion import drain_due
from .mirror import purge_expired
from .poller import poll_due
from .webhooks import deliver_due

log = logging.getLogger("videogate.worker")


class Worker:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last_purge = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="videogate-worker")

    async def run_once(self) -> int:
        done = 0
        for step in (self._poll, self._delete, self._webhooks, self._purge):
            try:
                done += await step()
            except Exception:
                log.exception("worker step %s failed", step.__name__)
        return done

    async def _poll(self) -> int:
        return await poll_due(self.gw, self.id)

    async def _delete(self) -> int:
        return await drain_due(self.gw)

    async def _webhooks(self) -> int:
        return await deliver_due(self.gw)

    async def _purge(self) -> int:
        if time.monotonic() - self._last_purge < self.gw.settings.worker.purge_interval_seconds:
            return 0
        self._last_purge = time.monotonic()
        return await purge_expired(self.gw)

    async def _run(self) -> None:
        interval = self.gw.settings.worker.interval_seconds
        while not self._stop.is_set():
            busy = await self.run_once()
            # A full batch means more is due: go again at once instead of sleeping.
            if busy >= self.gw.settings.worker.poll_batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
