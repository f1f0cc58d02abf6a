"""Carrying out upstream deletions from the outbox, now or after the job has ended.

A delete answers as soon as the gateway's own row and assets are gone; what the provider
still owes is retried here until it confirms or no longer knows the job. Rows survive
restarts, so an accepted delete is never forgotten.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from ..errors import GatewayError
from ..gateway import Gateway
from ..providers.base import CallContext, Capability
from .backoff import backoff

log = logging.getLogger("videogate.deletion")
Outcome = Literal["done", "pending", "unsupported"]
# The inline attempt owns a fresh outbox row for this long before the worker may retry it.
INLINE_GRACE_SECONDS = 30.0


def _backoff(gw: Gateway, attempts: int, base: float) -> float:
    return backoff(base, attempts, gw.settings.worker.deletion_backoff_max_seconds, 12)


async def carry_out(gw: Gateway, row: dict[str, Any]) -> Outcome:
    """One attempt at the upstream deletion recorded in outbox row `row`."""
    attempts = int(row["attempts"]) + 1
    try:
        for key in row.get("assets") or []:
            await gw.assets.delete(key)  # idempotent, so retries are safe
    except Exception as exc:
        await gw.outbox.retry_later(
            row["seq"], attempts, _backoff(gw, attempts, 2.0), f"asset removal failed: {exc}"
        )
        log.warning("removing assets of %s failed (%s); will retry", row["video_id"], exc)
        return "pending"
    if row.get("assets"):
        await gw.outbox.assets_removed(row["seq"])
    provider = gw.providers.get(row["provider"])
    if provider is None:
        await gw.outbox.retry_later(
            row["seq"],
            attempts,
            _backoff(gw, attempts, 60.0),
            f"provider {row['provider']!r} is not configured",
        )
        return "pending"
    if not (provider.supports(Capability.DELETE) or provider.supports(Capability.CANCEL)):
        await gw.outbox.mark_done(row["seq"])
        return "unsupported"
    try:
        key = provider.key_named(row["provider_key"])
        result = await provider.delete(row["upstream_id"], key, CallContext())
    except GatewayError as exc:
        if exc.status == 404:
            await gw.outbox.mark_done(row["seq"])
            return "done"
        await gw.outbox.retry_later(
            row["seq"], attempts, _backoff(gw, attempts, 2.0), f"{exc.status} {exc.message}"
        )
        log.warning("upstream deletion of %s failed (%s); will retry", row["video_id"], exc)
        return "pending"
    if result.pending:
        base = max(1.0, provider.poll_after_ms / 1000)
        await gw.outbox.retry_later(
            row["seq"],
            attempts,
            _backoff(gw, min(attempts, 4), base),
            result.detail or "job still running upstream",
        )
        return "pending"
    await gw.outbox.mark_done(row["seq"])
    # Neither deleted nor pending: the provider cannot remove a job that has ended (cancel-only
    # providers such as fal and Replicate); only the gateway's copy is gone.
    return "done" if result.deleted else "unsupported"


async def drain_due(gw: Gateway) -> int:
    """Attempt every outbox row that is due; returns how many were tried."""
    rows = await gw.outbox.due()
    for row in rows:
        try:
            await carry_out(gw, row)
        except Exception:  # one bad row must not stop the others
            log.exception("deletion of %s crashed", row["video_id"])
    return len(rows)
