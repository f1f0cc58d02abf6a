"""The poller: asks each provider about the jobs the worker has leased.

A provider error backs off (`PollPolicy.next_poll`, honouring Retry-After); a 404 means the
provider lost the job, which then fails with `expired`. Writing the answer is
`JobProgress.apply`'s, shared with retrieve.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..errors import GatewayError
from ..providers.base import CallContext
from ..store.videos import VideoStore
from ..video import ACTIVE, Failure, UpstreamVideo, Video
from .policy import PollPolicy
from .progress import JobProgress
from .routing import Routing

log = logging.getLogger("videogate.poller")
# Takes an answer that leaves its job active (and the lease token) to write later; the
# future is done once it is written.
Defer = Callable[[Video, str], "asyncio.Future[None]"]


def retry_after(exc: GatewayError) -> float | None:
    value = exc.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Poller:
    def __init__(
        self, videos: VideoStore, routing: Routing, progress: JobProgress, policy: PollPolicy
    ) -> None:
        self.videos = videos
        self.routing = routing
        self.progress = progress
        self.policy = policy

    async def poll_one(
        self, video: Video, token: str, defer: Defer | None = None
    ) -> asyncio.Future[None] | None:
        """Ask the provider about leased `video` and write the answer. With `defer`, an
        answer that leaves the job active is handed to it (the worker's batched writes)
        and its pending write returned; anything else is written here."""
        provider = self.routing.providers.get(video.provider)
        if provider is None:
            await self.videos.release(video.id, token, {"next_poll_at": self.policy.orphaned()})
            return None
        try:
            key = provider.key_named(video.provider_key)
            up = await provider.retrieve(video.upstream_id, key, CallContext())
        except GatewayError as exc:
            if exc.status == 404:
                # The provider no longer knows the job: it will never finish.
                gone = UpstreamVideo(
                    id=video.upstream_id,
                    status="failed",
                    progress=video.progress,
                    error={
                        "code": Failure.EXPIRED.value,
                        "message": f"The provider lost the job: {exc.message}",
                    },
                )
                await self.progress.apply(video, gone, token)
                return None
            failures = video.poll_failures + 1
            await self.videos.release(
                video.id,
                token,
                {
                    "poll_failures": failures,
                    "next_poll_at": self.policy.next_poll(
                        provider.poll_after_ms, failures, retry_after(exc)
                    ),
                },
            )
            log.info("poll of %s failed (%s %s); retrying", video.id, exc.status, exc.code)
            return None
        if defer is not None and up.status in ACTIVE:
            return defer(self.progress.answered(video, up, token), token)
        await self.progress.apply(video, up, token)
        return None
