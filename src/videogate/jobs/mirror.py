"""Copying a finished job's media into the gateway's asset store, and expiring it later.

Providers' download URLs expire within hours; the gateway keeps its own copy for the
configured retention and serves content from it. Each variant is streamed straight into the
store (no whole-file buffering), its size checked against Content-Length and its type
against the variant. A job deleted while it was being mirrored loses the copies too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import GatewayError
from ..gateway import Gateway
from ..providers.base import VARIANT_CAPABILITY, CallContext
from .poller import MAX_MIRROR_FAILURES, next_poll

log = logging.getLogger("videogate.mirror")
Row = dict[str, Any]
TYPE_FAMILY = {"video": "video/", "thumbnail": "image/", "spritesheet": "image/"}


class MirrorError(Exception):
    """A downloaded asset is not what the provider said it was."""


def asset_key(row: Row, variant: str) -> str:
    return f"{row['owner']}/{row['id'].replace(':', '~')}/{variant}"


async def _copy(gw: Gateway, row: Row, variant: str) -> dict[str, Any]:
    provider = gw.providers[row["provider"]]
    key = provider.key_named(row["provider_key"])
    content = await provider.content(row["upstream_id"], variant, key, CallContext())
    try:
        if not content.content_type.startswith(TYPE_FAMILY[variant]):
            raise MirrorError(f"{variant} arrived as {content.content_type}")
        target = asset_key(row, variant)
        size = await gw.assets.put(target, content.chunks, content.content_type)
    finally:
        await content.close()
    if content.content_length is not None and size != content.content_length:
        await gw.assets.delete(target)
        raise MirrorError(f"{variant}: got {size} bytes of {content.content_length}")
    if size == 0:
        await gw.assets.delete(target)
        raise MirrorError(f"{variant} is empty")
    return {"key": target, "size": size, "content_type": content.content_type}


async def mirror_one(gw: Gateway, row: Row, token: str) -> None:
    provider = gw.providers.get(row["provider"])
    if provider is None:
        await gw.videos.release(row["id"], token, {"next_poll_at": time.time() + 300})
        return
    await gw.videos.release(row["id"], token, {})  # re-leased below for the long copy
    lease = await gw.videos.lease_one(row["id"], token, gw.settings.worker.mirror_lease_seconds)
    if not lease:
        return
    shared = await gw.cache.shared_copy(row)  # response cache: a sibling already copied the job
    if shared is not None:
        done = {"mirror_state": "done", "poll_failures": 0, "next_poll_at": None}
        await gw.videos.release(row["id"], token, {**shared, **done})
        return
    assets: dict[str, Any] = {}
    try:
        for variant, capability in VARIANT_CAPABILITY.items():
            if not provider.supports(capability):
                continue
            try:
                assets[variant] = await _copy(gw, row, variant)
            except GatewayError as exc:
                if variant != "video" and exc.status == 404:
                    continue  # an optional variant this job does not have
                raise
    except (GatewayError, MirrorError, OSError) as exc:
        for asset in assets.values():
            await gw.assets.delete(asset["key"])
        failures = int(row["poll_failures"]) + 1
        give_up = failures >= MAX_MIRROR_FAILURES
        await gw.videos.release(
            row["id"],
            token,
            {
                "poll_failures": failures,
                "mirror_state": "failed" if give_up else "pending",
                "next_poll_at": None
                if give_up
                else next_poll(provider, failures, cap=gw.settings.worker.poll_backoff_max_seconds),
            },
        )
        log.warning("mirroring %s failed (%s)%s", row["id"], exc, "; giving up" if give_up else "")
        return
    kept = await gw.videos.release(
        row["id"],
        token,
        {
            "assets": assets,
            "mirror_state": "done",
            "poll_failures": 0,
            "next_poll_at": None,
            "expires_at": int(time.time() + gw.settings.assets.retention_days * 86400),
        },
    )
    if not kept and await gw.videos.get(row["id"]) is None:
        for asset in assets.values():  # deleted while we copied: leave nothing behind
            await gw.assets.delete(asset["key"])


async def purge_expired(gw: Gateway) -> int:
    """Remove mirrored media past its retention; the row stays, marked expired."""
    rows = await gw.videos.expired_assets(time.time())
    for row in rows:
        for asset in (row["assets"] or {}).values():
            await gw.assets.delete(asset["key"])
        await gw.videos.update(row["id"], {"assets": None, "mirror_state": "expired"})
    return len(rows)
