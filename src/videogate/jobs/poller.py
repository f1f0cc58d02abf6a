"""Advancing active jobs: the poller, and the one place a provider's answer is applied.

The worker leases due rows, asks each provider for its job, and writes the answer; when a
job ends the same transaction queues its webhooks, and a completed job is marked for
mirroring. Retrieve uses `apply` too when a row is stale, so a job ends exactly once
whoever notices first.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import GatewayError
from ..gateway import Gateway
from ..providers.base import FAILURE_EXPIRED, TERMINAL, CallContext, Provider, UpstreamVideo
from ..store.videos import fields_from_upstream
from ..store.webhooks import WebhookStore
from .backoff import backoff

log = logging.getLogger("videogate.poller")
Row = dict[str, Any]
MAX_MIRROR_FAILURES = 8


def next_poll(
    provider: Provider,
    failures: int = 0,
    retry_after: float | None = None,
    cap: float = 300.0,
) -> float:
    """When to look again: the provider's interval with ±20% jitter, backing off on errors
    (up to `cap` seconds) and never sooner than a Retry-After the provider asked for."""
    delay = backoff(provider.poll_after_ms / 1000, failures, cap, 8)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return time.time() + delay


def _retry_after(exc: GatewayError) -> float | None:
    value = exc.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def values_for(gw: Gateway, provider: Provider, up: UpstreamVideo) -> Row:
    values = fields_from_upstream(up)
    values["poll_failures"] = 0
    if up.status in TERMINAL:
        mirror = up.status == "completed" and gw.settings.assets.mirror
        values["mirror_state"] = "pending" if mirror else None
        values["next_poll_at"] = time.time() if mirror else None
    else:
        values["next_poll_at"] = next_poll(provider)
    return values


async def apply(gw: Gateway, row: Row, up: UpstreamVideo, lease_token: str | None = None) -> Row:
    """Write the provider's answer; queue `video.completed`/`video.failed` if it ended."""
    provider = gw.providers[row["provider"]]
    values = values_for(gw, provider, up)
    if lease_token is not None:
        values.update(lease_owner=None, lease_until=None)

    async def on_end(conn: Any) -> None:
        event = "video.completed" if up.status == "completed" else "video.failed"
        await WebhookStore.enqueue(conn, row["owner"], event, row["id"])

    ended = await gw.videos.record_poll(row["id"], values, lease_token=lease_token, on_end=on_end)
    updated = {**row, **values}
    if ended:
        await settle_ended(gw, updated)
    return updated


async def settle_ended(gw: Gateway, row: Row) -> None:
    """Charge what a finished job really cost and free its reservations."""
    provider = gw.providers.get(row["provider"])
    await gw.gov.settle(
        row["id"],
        row["status"],
        seconds=float(row["seconds"]) if row.get("seconds") else None,
        size=row.get("size"),
        provider_type=provider.type_name if provider else None,
    )


async def poll_one(gw: Gateway, row: Row, token: str) -> None:
    provider = gw.providers.get(row["provider"])
    if provider is None:
        await gw.videos.release(row["id"], token, {"next_poll_at": time.time() + 300})
        return
    try:
        key = provider.key_named(row["provider_key"])
        up = await provider.retrieve(row["upstream_id"], key, CallContext())
    except GatewayError as exc:
        if exc.status == 404:
            # The provider no longer knows the job: it will never finish.
            gone = UpstreamVideo(
                id=row["upstream_id"],
                status="failed",
                progress=row["progress"],
                error={
                    "code": FAILURE_EXPIRED,
                    "message": f"The provider lost the job: {exc.message}",
                },
            )
            await apply(gw, row, gone, token)
            return
        failures = int(row["poll_failures"]) + 1
        await gw.videos.release(
            row["id"],
            token,
            {
                "poll_failures": failures,
                "next_poll_at": next_poll(
                    provider,
                    failures,
                    _retry_after(exc),
                    gw.settings.worker.poll_backoff_max_seconds,
                ),
            },
        )
        log.info("poll of %s failed (%s %s); retrying", row["id"], exc.status, exc.code)
        return
    await apply(gw, row, up, token)


async def poll_due(gw: Gateway, worker_id: str) -> int:
    """One pass: lease due jobs and poll or mirror each; returns how many were handled."""
    from .mirror import mirror_one  # mirror depends on this module's helpers

    settings = gw.settings.worker
    token = f"{worker_id}:{time.monotonic_ns()}"
    rows = await gw.videos.lease_due(token, settings.poll_batch, settings.lease_seconds)
    for row in rows:
        try:
            if row["status"] == "completed" and row["mirror_state"] == "pending":
                await mirror_one(gw, row, token)
            else:
                await poll_one(gw, row, token)
        except Exception:
            log.exception("worker step for %s crashed", row["id"])
            await gw.videos.release(row["id"], token, {"next_poll_at": time.time() + 30})
    return len(rows)
