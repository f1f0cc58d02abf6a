"""The background worker: runs inside `videogate serve`, or alone as `videogate worker`.

Each pass leases due jobs and polls or mirrors each, carries out owed upstream deletions,
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
from ..lifecycle.orphans import Orphans
from ..lifecycle.policy import STAGING_GRACE_SECONDS
from ..telemetry import metrics, tracing
from ..telemetry.upstream import working_on
from ..video import Video

log = logging.getLogger("videogate.worker")


def _mirroring(video: Video) -> bool:
    """A completed job whose media still has to be copied (else: a job to poll)."""
    return video.status == "completed" and video.mirror_state == "pending"


class Worker:
    def __init__(self, gw: Gateway) -> None:
        self.videos = gw.videos
        self.poller = gw.poller
        self.mirror = gw.mirror
        self.deletions = gw.deletions
        self.webhooks = gw.webhook_delivery
        self.policy = gw.policy
        self.gov = gw.gov
        self.orphans = Orphans(
            gw.providers, gw.gov, gw.videos, gw.keys, gw.idempotency, gw.progress
        )
        self.assets = gw.assets
        self.settings = gw.settings.worker
        self.liveness = gw.liveness
        self.requestlog = gw.requestlog
        self.logging = gw.settings.logging
        self._last_beat = 0.0
        self._last_prune = 0.0
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._last_purge = 0.0
        self._last_sweep = 0.0
        self._slots: dict[str, asyncio.Semaphore] = {}

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="videogate-worker")

    async def run_once(self) -> int:
        done = 0
        steps = (self._beat, self._poll, self._delete, self._webhooks, self._purge, self._sweep)
        for step in (*steps, self._prune):
            try:
                done += await step()
            except Exception:
                log.exception("worker step %s failed", step.__name__)
        return done

    async def _poll(self) -> int:
        """Lease due jobs and poll or mirror them concurrently, at most `polls_per_provider`
        at a time for each provider; returns how many were handled."""
        token = f"{self.id}:{time.monotonic_ns()}"
        due = await self.videos.lease_due(
            token, self.settings.poll_batch, self.settings.lease_seconds
        )
        # Videos sharing one upstream job (cache hits) are mirrored one after another, so
        # the second reuses the first's copy instead of downloading the media again. A
        # batch ends before the next is leased, so grouping within it is enough.
        groups: dict[object, list[Video]] = {}
        now = time.time()
        for video in due:
            if video.next_poll_at is not None:
                metrics.poll_lag(
                    "mirror" if _mirroring(video) else "poll", now - video.next_poll_at
                )
            job = (video.provider, video.upstream_id) if _mirroring(video) else video.id
            groups.setdefault(job, []).append(video)
        if groups:
            await asyncio.gather(*(self._handle_in_turn(group, token) for group in groups.values()))
        return len(due)

    async def _handle_in_turn(self, videos: list[Video], token: str) -> None:
        for video in videos:
            await self._handle(video, token)

    async def _handle(self, video: Video, token: str) -> None:
        slots = self._slots.get(video.provider)
        if slots is None:
            slots = self._slots[video.provider] = asyncio.Semaphore(
                self.settings.polls_per_provider
            )
        mirroring = _mirroring(video)
        # a poll is one upstream call; a mirror copies a whole video within its own lease
        bound = (
            self.settings.mirror_timeout_seconds
            if mirroring
            else self.settings.poll_timeout_seconds
        )
        kind = "mirror" if mirroring else "poll"
        working_on(video.model_requested)  # the label of this task's upstream calls
        async with slots:
            try:
                with tracing.span(
                    f"worker {kind}",
                    attributes={
                        "videogate.video_id": video.id,
                        "videogate.provider": video.provider,
                    },
                ):
                    async with asyncio.timeout(bound):
                        if mirroring:
                            await self.mirror.mirror_one(video, token)
                        else:
                            await self.poller.poll_one(video, token)
                metrics.worker_step(kind, "ok")
            except Exception as exc:
                metrics.worker_step(kind, "timeout" if isinstance(exc, TimeoutError) else "crashed")
                if isinstance(exc, TimeoutError):
                    log.warning("worker step for %s gave up after %.0f s", video.id, bound)
                else:
                    log.exception("worker step for %s crashed", video.id)
                await self.videos.release(
                    video.id, token, {"next_poll_at": self.policy.after_crash()}
                )

    async def _beat(self) -> int:
        """Record that this worker is alive (/ready fails when the newest beat is stale)."""
        if time.monotonic() - self._last_beat < self.settings.heartbeat_seconds:
            return 0
        self._last_beat = time.monotonic()
        await self.liveness.beat(self.id)
        return 0

    async def _prune(self) -> int:
        """Delete request-log rows past their retention."""
        if time.monotonic() - self._last_prune < self.logging.prune_interval_seconds:
            return 0
        self._last_prune = time.monotonic()
        cutoff = time.time() - self.logging.request_log_retention_days * 86400
        await self.requestlog.prune(cutoff)
        return 0

    async def _delete(self) -> int:
        return await self.deletions.drain_due()

    async def _webhooks(self) -> int:
        return await self.webhooks.deliver_due()

    async def _purge(self) -> int:
        if time.monotonic() - self._last_purge < self.settings.purge_interval_seconds:
            return 0
        self._last_purge = time.monotonic()
        return await self.mirror.purge_expired()

    async def _sweep(self) -> int:
        """Give back the reservations of creates that died before recording their job, and
        adopt (or record as orphans) the upstream jobs they may have started."""
        if time.monotonic() - self._last_sweep < self.settings.sweep_seconds:
            return 0
        self._last_sweep = time.monotonic()
        await self.orphans.sweep(self.settings.create_grace_seconds)
        return 0  # not "busy": the loop need not hurry for it

    async def _run(self) -> None:
        # Partial files of copies a killed worker left (there is one worker per store).
        removed = await asyncio.to_thread(self.assets.clean_staging, STAGING_GRACE_SECONDS)
        if removed:
            log.warning("removed %d partial asset file(s) left by an interrupted copy", removed)
        interval = self.settings.interval_seconds
        while not self._stop.is_set():
            busy = await self.run_once()
            # A full batch means more is due: go again at once instead of sleeping.
            if busy >= self.settings.poll_batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # a clean stop is not a stale worker
            await self.liveness.forget(self.id)
