"""Reading jobs: the caller's own video (404, never 403, for anyone else's), kept fresh;
pages of them; where a completed video's bytes come from.

A running job's stored row is served while a worker keeps it fresh (`PollPolicy.fresh_for`);
otherwise the provider is asked now and the answer applied like a poll's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..assets.store import AssetStore
from ..errors import GatewayError, bad_request, not_found
from ..governance.auth import Principal
from ..ids import parse_video_id
from ..providers.base import VARIANT_CAPABILITY, Content, Provider
from ..store.listing import Page
from ..store.videos import VideoStore
from ..video import TERMINAL, Video, VideoStatus
from .call import Call
from .policy import PollPolicy
from .progress import JobProgress
from .routing import Routing


@dataclass
class Stored:
    """A mirrored asset: served from the gateway's own store."""

    key: str
    size: int
    content_type: str


@dataclass
class Source:
    """Where a completed video's variant comes from: the asset store or the provider."""

    video: Video
    provider: Provider
    stored: Stored | None = None
    upstream: Content | None = None


class Reader:
    def __init__(
        self,
        videos: VideoStore,
        routing: Routing,
        progress: JobProgress,
        policy: PollPolicy,
        assets: AssetStore,
    ) -> None:
        self.videos = videos
        self.routing = routing
        self.progress = progress
        self.policy = policy
        self.assets = assets

    async def owned(self, principal: Principal, video_id: str, call: Call) -> Video:
        """The video if the caller may see it; tags the call with its provider and model."""
        _, call.provider = parse_video_id(video_id)
        video = await self.videos.get(video_id)
        if video is None and call.provider not in self.routing.providers:
            raise bad_request(
                "unknown_provider",
                f"Video id {video_id!r} names provider {call.provider!r}, which is not "
                f"configured; configured: {self.routing.configured()}.",
                "video_id",
            )
        if video is None or not (principal.is_admin or video.owner == principal.owner):
            raise not_found(video_id)
        call.model_requested = video.model_requested
        return video

    async def refresh(self, video: Video, call: Call) -> Video:
        """From the store when the job has ended or the worker keeps it fresh; otherwise
        brought up to date from the provider now."""
        if video.status in TERMINAL:
            return video
        provider = self.routing.provider(video.provider)
        fresh_for = self.policy.fresh_for(provider.poll_after_ms)
        if fresh_for is not None and time.time() - video.updated_at < fresh_for:
            return video
        up = await provider.retrieve(
            video.upstream_id, provider.key_named(video.provider_key), call.ctx
        )
        return await self.progress.apply(video, up)

    async def retrieve(self, principal: Principal, video_id: str, call: Call) -> Video:
        return await self.refresh(await self.owned(principal, video_id, call), call)

    async def page(
        self,
        principal: Principal,
        *,
        provider: str | None,
        after: str | None,
        limit: int,
        order: str,
        call: Call,
    ) -> Page:
        if provider is not None:
            self.routing.provider(provider)
            call.provider = provider
        page = await self.videos.page(
            owner=None if principal.is_admin else principal.owner,
            provider=provider,
            after=after,
            limit=limit,
            order=order,
        )
        if page is None:
            raise bad_request(
                "invalid_after", f"after={after!r} names no video in this listing.", "after"
            )
        return page

    async def content(
        self, principal: Principal, video_id: str, variant: str, call: Call
    ) -> Source:
        """Where the bytes of a completed video's `variant` come from (the caller streams
        them); 404/409 in the envelope when there are none."""
        video = await self.owned(principal, video_id, call)
        provider = self.routing.provider(video.provider)
        if not provider.supports(VARIANT_CAPABILITY[variant]):
            raise GatewayError(
                404,
                "variant_not_available",
                f"Provider {provider.id!r} does not produce a {variant}.",
                param="variant",
                provider=provider.id,
            )
        video = await self.refresh(video, call)
        if video.status != VideoStatus.COMPLETED:
            raise GatewayError(
                409,
                "video_not_ready",
                f"Video {video.id!r} is {video.status}; content exists only once it is completed.",
                provider=provider.id,
            )
        stored: dict[str, Any] | None = (video.assets or {}).get(variant)
        if stored is not None:
            return Source(
                video,
                provider,
                stored=Stored(stored["key"], int(stored["size"]), stored["content_type"]),
            )
        if video.mirror_state == "expired":
            raise GatewayError(
                404,
                "video_content_expired",
                f"The content of {video.id!r} has passed its retention and was removed.",
                param="variant",
                provider=provider.id,
            )
        content = await provider.content(
            video.upstream_id, variant, provider.key_named(video.provider_key), call.ctx
        )
        return Source(video, provider, upstream=content)
