"""Deleting a video (the seed's `DELETE /v1/videos/{id}`): the row goes and the upstream
deletion it owes is queued in one transaction, then attempted inline for a few seconds.

Features that must act on a delete (webhook events, the response cache's shared jobs)
registered with the store; a job still shared with other videos through the cache is kept
upstream ("shared"). A job still running when deleted settles as `cancelled` (nothing
billed) when the provider stopped it, else `deleted` (it may still bill).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..errors import not_found
from ..governance.auth import Principal
from ..governance.policy import Governance
from ..providers.base import Capability
from ..store.videos import VideoStore
from ..video import Video
from .call import Call
from .outbox import Deletions
from .policy import INLINE_DELETE_ATTEMPT_SECONDS, INLINE_DELETE_GRACE_SECONDS
from .reading import Reader
from .routing import Routing


@dataclass
class Deleted:
    video: Video
    outcome: str  # done | pending | unsupported | shared


class DeleteVideo:
    def __init__(
        self,
        videos: VideoStore,
        reader: Reader,
        deletions: Deletions,
        routing: Routing,
        gov: Governance,
    ) -> None:
        self.videos = videos
        self.reader = reader
        self.deletions = deletions
        self.routing = routing
        self.gov = gov

    async def __call__(self, principal: Principal, video_id: str, call: Call) -> Deleted:
        video = await self.reader.owned(principal, video_id, call)
        outbox = await self.videos.delete(video, INLINE_DELETE_GRACE_SECONDS)
        if outbox is None:  # a concurrent delete of the same video got there first
            raise not_found(video.id)
        outcome = "shared"  # closed by the cache: other videos still share the job
        if outbox["state"] == "pending":
            try:
                outcome = await asyncio.wait_for(
                    self.deletions.carry_out(outbox, call.ctx), INLINE_DELETE_ATTEMPT_SECONDS
                )
            except TimeoutError:
                outcome = "pending"  # the worker retries once the outbox row's grace passed
        if video.active:
            provider = self.routing.providers.get(video.provider)
            cancelled = (
                outcome == "done" and provider is not None and provider.supports(Capability.CANCEL)
            )
            # A job stopped upstream costs nothing; one left running may still be billed.
            await self.gov.settle(video.id, "cancelled" if cancelled else "deleted")
        return Deleted(video, outcome)
