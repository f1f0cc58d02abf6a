"""The one place a provider's answer about a job is applied, whoever noticed it.

The poller and retrieve (for a stale row) both come here, so a job ends exactly once: the
store writes the answer only while the row is still active, and when that write ends the
job, its `video.completed` / `video.failed` webhook events are queued in the same
transaction and its reservation is settled into the real cost.
"""

from __future__ import annotations

import time
from typing import Any

from ..governance.policy import Governance
from ..governance.prices import Reported
from ..store.videos import VideoStore
from ..store.webhooks import WebhookStore
from ..video import TERMINAL, UpstreamVideo, Video, VideoStatus
from .policy import PollPolicy
from .routing import Routing


class JobProgress:
    def __init__(
        self,
        videos: VideoStore,
        routing: Routing,
        gov: Governance,
        policy: PollPolicy,
        *,
        mirror: bool,
    ) -> None:
        self.videos = videos
        self.routing = routing
        self.gov = gov
        self.policy = policy
        self.mirror = mirror

    def schedule(self, video: Video) -> None:
        """What comes next for a job that just answered: another poll, a mirror of its
        media, or nothing."""
        video.poll_failures = 0
        if video.status in TERMINAL:
            mirror = video.status == VideoStatus.COMPLETED and self.mirror
            video.mirror_state = "pending" if mirror else None
            video.next_poll_at = time.time() if mirror else None
        else:
            video.next_poll_at = self.policy.first_poll(self.routing.poll_after_ms(video.provider))

    def answered(self, video: Video, up: UpstreamVideo, lease_token: str | None = None) -> Video:
        """The job with the provider's answer folded in and what comes next scheduled (the
        lease dropped when `lease_token` held it): what `apply` writes."""
        updated = video.apply(up)
        self.schedule(updated)
        if lease_token is not None:
            updated.lease_owner = updated.lease_until = None
        return updated

    async def apply(self, video: Video, up: UpstreamVideo, lease_token: str | None = None) -> Video:
        """Write the provider's answer; queue the job's end events and settle it if it
        ended with this write. Returns the job as it now is."""
        updated = self.answered(video, up, lease_token)
        event = "video.completed" if up.status == "completed" else "video.failed"

        async def on_end(conn: Any) -> None:
            await WebhookStore.enqueue(conn, video.owner, event, video.id)

        if await self.videos.record_poll(updated, lease_token=lease_token, on_end=on_end):
            await self.settle_ended(updated, up)
        return updated

    async def settle_ended(self, video: Video, up: UpstreamVideo | None = None) -> None:
        """Charge what a finished job really cost (what the provider reported, where it
        did), free its reservations, and fold a completed job's time into its
        deployment's measured speed (the `fastest` strategy reads it)."""
        provider = self.routing.providers.get(video.provider)
        reported = Reported(up.cost_usd, up.tokens) if up is not None else None
        await self.gov.settle(
            video.id,
            video.status,
            seconds=float(video.seconds) if video.seconds else None,
            size=video.size,
            provider_type=provider.type_name if provider else None,
            reported=reported,
        )
        if video.status == VideoStatus.COMPLETED and video.model_deployment:
            took = max(0.0, time.time() - video.created_at)
            await self.routing.speeds.record(f"{video.provider}/{video.model_deployment}", took)
