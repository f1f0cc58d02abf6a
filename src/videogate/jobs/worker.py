"""The background worker: runs inside `videogate serve`, or alone as `videogate worker`.

The poller leases due jobs in batches and polls or mirrors each as soon as its provider has a
free slot; a pass of housekeeping carries out owed upstream deletions, delivers webhooks and,
now and then, purges media past its retention. Every piece is
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
from collections import Counter

from ..gateway import Gateway
from ..lifecycle.orphans import Orphans
from ..lifecycle.policy import STAGING_GRACE_SECONDS
from ..telemetry import metrics, tracing
from ..telemetry.upstream import working_on
from ..video import Video
from .writes import PollWrites

log = logging.getLogger("videogate.worker")


def _mirroring(video: Video) -> bool:
    """A completed job whose media still has to be copied (else: a job to poll)."""
    return video.status == "completed" and video.mirror_state == "pending"


# After a lease that found less than a batch due, the poller waits at least this long before
# leasing again (a lease is a write): at most 20 leases a second while jobs trickle in, each
# job picked up at most this late. The wait is otherwise until the next job falls due, at
# most `interval_seconds` (the 1 s sleep alone made the p99 lag 1.0 s at 1,000 polls/s).
MIN_LEASE_GAP_SECONDS = 0.05
# A leased job that waits this share of its lease for a slot of its (busy) provider gives the
# lease back instead, so a hanging provider's backlog never outlives its leases.
SLOT_WAIT_SHARE = 1 / 3
# A poll ends this long before its lease at the latest, so no other worker can take the job
# over while it is still being polled (poll_timeout_seconds may be longer than the lease).
LEASE_MARGIN_SECONDS = 5.0
# A provider with all its slots taken and no poll through one for this long is stuck (a slow
# or hanging upstream): its due jobs are left out of the lease, which then scans past them.
# Any other provider may hold up to `polls_per_provider + poll_batch` leased jobs; the lease
# waits while one holds more (leaving out every busy provider instead made each lease scan
# all of a backlogged provider's due rows: 82% of the samples, 161 polls/s at 10^5 due jobs).
STUCK_SECONDS = 0.25
# A stopping worker lets in-flight polls finish for this long, then cancels them (their leases
# expire and another worker takes the jobs over).
STOP_GRACE_SECONDS = 10.0


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
        # Per provider: leased jobs not yet through their slot (waiting or polling). A stuck
        # provider (`STUCK_SECONDS`) is left out of the next lease, so a slow or hanging one
        # holds only its own jobs, never the others' (issue 19).
        self._busy: Counter[str] = Counter()
        self._moved: dict[str, float] = {}  # provider -> when a job last got through a slot
        self._skipped: frozenset[str] = frozenset()  # stuck: left out of the lease
        self._full: frozenset[str] = frozenset()  # holding its share: the lease waits
        self._jobs: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._writes = PollWrites(gw.videos)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="videogate-worker")

    async def run_once(self) -> int:
        """One pass of the housekeeping steps (the poller runs on its own: `_pump`)."""
        done = 0
        steps = (self._beat, self._delete, self._webhooks, self._purge, self._sweep)
        for step in (*steps, self._prune):
            try:
                done += await step()
            except Exception:
                log.exception("worker step %s failed", step.__name__)
        return done

    # -- the poller -----------------------------------------------------------------------
    async def _pump(self) -> None:
        """Lease due jobs and start each as soon as its provider has a free slot, without
        waiting for the batch: one hanging provider cannot delay the others' polls."""
        interval = self.settings.interval_seconds
        while not self._stop.is_set():
            last = time.monotonic()
            self._wake.clear()
            try:
                leased = await self._poll()
            except Exception:
                log.exception("worker step _poll failed")
                leased = 0
            if leased < 0:  # a provider holds its share: until one of its jobs gets through
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=STUCK_SECONDS)
                continue
            if leased >= self.settings.poll_batch:
                continue  # a full batch: more is due at once
            try:
                due = await self.videos.next_due()
            except Exception:
                log.exception("worker: reading the next due time failed")
                due = None
            delay = interval if due is None else min(interval, due - time.time())
            delay = max(delay, MIN_LEASE_GAP_SECONDS - (time.monotonic() - last))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, delay))

    async def _poll(self) -> int:
        """Lease due jobs of providers that are not stuck and start polling or mirroring
        each; returns how many were leased, -1 when a provider holds its share."""
        slots = self.settings.polls_per_provider
        share = slots + self.settings.poll_batch
        moment = time.monotonic()
        self._skipped = frozenset(
            p
            for p, n in self._busy.items()
            if n >= slots and moment - self._moved.get(p, moment) > STUCK_SECONDS
        )
        self._full = frozenset(
            p for p, n in self._busy.items() if n >= share and p not in self._skipped
        )
        if self._full:
            return -1
        token = f"{self.id}:{time.monotonic_ns()}"
        due = await self.videos.lease_batch(
            token, self.settings.poll_batch, self.settings.lease_seconds, sorted(self._skipped)
        )
        # Videos sharing one upstream job (cache hits) are mirrored one after another, so
        # the second reuses the first's copy instead of downloading the media again.
        groups: dict[object, list[Video]] = {}
        now = time.time()
        for video in due:
            if video.next_poll_at is not None:
                metrics.poll_lag(
                    "mirror" if _mirroring(video) else "poll", now - video.next_poll_at
                )
            job = (video.provider, video.upstream_id) if _mirroring(video) else video.id
            groups.setdefault(job, []).append(video)
        loop = asyncio.get_running_loop()
        for group in groups.values():
            provider = group[0].provider
            if not self._busy[provider]:
                self._moved[provider] = moment
            self._busy[provider] += len(group)
            task = loop.create_task(self._handle_in_turn(group, token, now))
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)
        return len(due)

    async def _handle_in_turn(self, videos: list[Video], token: str, leased_at: float) -> None:
        for video in videos:
            await self._handle(video, token, leased_at)

    def _through(self, provider: str) -> None:
        """A job of `provider` left its slot: wake the poller if it waits for the provider
        or left it out."""
        self._moved[provider] = time.monotonic()
        self._busy[provider] -= 1
        if self._busy[provider] <= 0:
            del self._busy[provider]
        if provider in self._skipped or provider in self._full:
            self._wake.set()

    async def _handle(self, video: Video, token: str, leased_at: float) -> None:
        slots = self._slots.get(video.provider)
        if slots is None:
            slots = self._slots[video.provider] = asyncio.Semaphore(
                self.settings.polls_per_provider
            )
        mirroring = _mirroring(video)
        lease = self.settings.lease_seconds
        # a poll is one upstream call within the lease; a mirror copies a whole video
        # within its own, renewed lease
        bound = (
            self.settings.mirror_timeout_seconds
            if mirroring
            else min(self.settings.poll_timeout_seconds, max(1.0, lease - LEASE_MARGIN_SECONDS))
        )
        kind = "mirror" if mirroring else "poll"
        working_on(video.model_requested)  # the label of this task's upstream calls
        pending: asyncio.Future[None] | None = None
        try:
            try:
                async with asyncio.timeout(lease * SLOT_WAIT_SHARE):
                    await slots.acquire()
            except TimeoutError:
                # Its provider is stuck: give the job back, due as it was.
                self._through(video.provider)
                await self.videos.release(video.id, token, {})
                return
            try:
                if not mirroring:  # the lease's time spent waiting is the poll's no more
                    bound = min(
                        bound, max(1.0, leased_at + lease - LEASE_MARGIN_SECONDS - time.time())
                    )
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
                            pending = await self.poller.poll_one(video, token, self._writes.defer)
            finally:
                slots.release()
                self._through(video.provider)
            if pending is not None:  # the batched write of an answer (outside the slot)
                await pending
            metrics.worker_step(kind, "ok")
        except Exception as exc:
            metrics.worker_step(kind, "timeout" if isinstance(exc, TimeoutError) else "crashed")
            if isinstance(exc, TimeoutError):
                log.warning("worker step for %s gave up after %.0f s", video.id, bound)
            else:
                log.exception("worker step for %s crashed", video.id)
            with contextlib.suppress(Exception):
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
        pump = asyncio.get_running_loop().create_task(self._pump(), name="videogate-poller")
        interval = self.settings.interval_seconds
        try:
            while not self._stop.is_set():
                busy = await self.run_once()
                # A full batch means more is due: go again at once instead of sleeping.
                if busy >= self.settings.poll_batch:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=interval)
        finally:
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self._finish_jobs()

    async def _finish_jobs(self) -> None:
        """Let in-flight polls end (for `STOP_GRACE_SECONDS`) and their answers be written."""
        if self._jobs:
            _, late = await asyncio.wait(set(self._jobs), timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        await self._writes.drain()

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # a clean stop is not a stale worker
            await self.liveness.forget(self.id)
