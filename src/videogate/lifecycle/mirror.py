"""Copying a finished job's media into the gateway's asset store, and expiring it later.

Providers' download URLs expire within hours; the gateway keeps its own copy for the
configured retention and serves content from it. Each variant is streamed straight into the
store (no whole-file buffering), its size checked against Content-Length and its type
against the variant. A job deleted while it was being mirrored loses the copies too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..assets.store import AssetStore
from ..errors import GatewayError
from ..providers.base import VARIANT_CAPABILITY, CallContext, Provider
from ..store.videos import VideoStore
from ..telemetry import metrics
from ..video import Video
from .policy import PollPolicy
from .routing import Routing

log = logging.getLogger("videogate.mirror")
TYPE_FAMILY = {"video": "video/", "thumbnail": "image/", "spritesheet": "image/"}
# A sibling's copy of the same upstream job (the response cache shares jobs), if any.
SharedCopy = Callable[[Video], Awaitable[dict[str, Any] | None]]


class MirrorError(Exception):
    """A downloaded asset is not what the provider said it was."""


def asset_key(video: Video, variant: str) -> str:
    return f"{video.owner}/{video.id.replace(':', '~')}/{variant}"


class Mirror:
    def __init__(
        self,
        videos: VideoStore,
        routing: Routing,
        assets: AssetStore,
        policy: PollPolicy,
        shared_copy: SharedCopy,
        *,
        retention_days: float,
        lease_seconds: float,
    ) -> None:
        self.videos = videos
        self.routing = routing
        self.assets = assets
        self.policy = policy
        self.shared_copy = shared_copy
        self.retention_days = retention_days
        self.lease_seconds = lease_seconds

    async def _copy(self, provider: Provider, video: Video, variant: str) -> dict[str, Any]:
        key = provider.key_named(video.provider_key)
        content = await provider.content(video.upstream_id, variant, key, CallContext())
        try:
            if not content.content_type.startswith(TYPE_FAMILY[variant]):
                raise MirrorError(f"{variant} arrived as {content.content_type}")
            target = asset_key(video, variant)
            size = await self.assets.put(target, content.chunks, content.content_type)
        finally:
            await content.close()
        if content.content_length is not None and size != content.content_length:
            await self.assets.delete(target)
            raise MirrorError(f"{variant}: got {size} bytes of {content.content_length}")
        if size == 0:
            await self.assets.delete(target)
            raise MirrorError(f"{variant} is empty")
        metrics.mirrored(video.provider, size)
        return {"key": target, "size": size, "content_type": content.content_type}

    async def mirror_one(self, video: Video, token: str) -> None:
        provider = self.routing.providers.get(video.provider)
        if provider is None:
            await self.videos.release(video.id, token, {"next_poll_at": self.policy.orphaned()})
            return
        # Re-leased below for the long copy. Another worker may take the row in between, or
        # may have finished it: only the holder of a row still pending copies (two workers
        # on one store each copied every asset once more before this check).
        if not await self.videos.release(video.id, token, {}):
            return
        if not await self.videos.lease_one(video.id, token, self.lease_seconds):
            return
        current = await self.videos.get(video.id)
        if current is None or current.mirror_state != "pending":
            await self.videos.release(video.id, token, {})
            return
        shared = await self.shared_copy(video)  # a sibling of a cached job already copied it
        if shared is not None:
            done = {"mirror_state": "done", "poll_failures": 0, "next_poll_at": None}
            await self.videos.release(video.id, token, {**shared, **done})
            return
        assets: dict[str, Any] = {}
        heartbeat = asyncio.create_task(self._keep_lease(video.id, token))
        try:
            for variant, capability in VARIANT_CAPABILITY.items():
                if not provider.supports(capability):
                    continue
                try:
                    assets[variant] = await self._copy(provider, video, variant)
                except GatewayError as exc:
                    if variant != "video" and exc.status == 404:
                        continue  # an optional variant this job does not have
                    raise
        except (GatewayError, MirrorError, OSError) as exc:
            heartbeat.cancel()
            metrics.mirror_failed(video.provider)
            for asset in assets.values():
                await self.assets.delete(asset["key"])
            failures = video.poll_failures + 1
            give_up = self.policy.mirror_gives_up(failures)
            await self.videos.release(
                video.id,
                token,
                {
                    "poll_failures": failures,
                    "mirror_state": "failed" if give_up else "pending",
                    "next_poll_at": None
                    if give_up
                    else self.policy.mirror_retry(provider.poll_after_ms, failures),
                },
            )
            log.warning(
                "mirroring %s failed (%s)%s", video.id, exc, "; giving up" if give_up else ""
            )
            return
        finally:
            heartbeat.cancel()
        kept = await self.videos.release(
            video.id,
            token,
            {
                "assets": assets,
                "mirror_state": "done",
                "poll_failures": 0,
                "next_poll_at": None,
                "expires_at": int(time.time() + self.retention_days * 86400),
            },
        )
        if not kept and await self.videos.get(video.id) is None:
            for asset in assets.values():  # deleted while we copied: leave nothing behind
                await self.assets.delete(asset["key"])

    async def _keep_lease(self, video_id: str, token: str) -> None:
        """Renew the copy's lease every third of it until cancelled (the copy ended)."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                if not await self.videos.lease_one(video_id, token, self.lease_seconds):
                    return  # lost it (deleted meanwhile): the release at the end will say so
            except Exception:  # the store is away: the next renewal may still make it
                log.warning("renewing the mirror lease of %s failed", video_id, exc_info=True)

    async def purge_expired(self) -> int:
        """Remove mirrored media past its retention; the row stays, marked expired."""
        rows = await self.videos.expired_assets(time.time())
        for video_id, assets in rows:
            for asset in (assets or {}).values():
                await self.assets.delete(asset["key"])
            await self.videos.update(video_id, {"assets": None, "mirror_state": "expired"})
        return len(rows)
