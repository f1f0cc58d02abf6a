"""Carrying out upstream deletions from the outbox, now or after the job has ended.

A delete answers as soon as the gateway's own row and assets are gone; what the provider
still owes is retried here until it confirms or no longer knows the job. Rows survive
restarts, so an accepted delete is never forgotten.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from ..assets.store import AssetStore
from ..errors import GatewayError
from ..providers.base import CallContext, Capability
from ..store.outbox import DeletionOutbox
from .policy import PollPolicy
from .routing import Routing

log = logging.getLogger("videogate.deletion")
Outcome = Literal["done", "pending", "unsupported"]


class Deletions:
    def __init__(
        self, outbox: DeletionOutbox, routing: Routing, assets: AssetStore, policy: PollPolicy
    ) -> None:
        self.outbox = outbox
        self.routing = routing
        self.assets = assets
        self.policy = policy

    async def carry_out(self, row: dict[str, Any], ctx: CallContext | None = None) -> Outcome:
        """One attempt at the upstream deletion recorded in outbox row `row`; `ctx` is the
        caller's when a delete request makes the attempt inline (its raw bodies)."""
        attempts = int(row["attempts"]) + 1
        seq = row["seq"]
        try:
            for key in row.get("assets") or []:
                await self.assets.delete(key)  # idempotent, so retries are safe
        except Exception as exc:
            await self.outbox.retry_later(
                seq, attempts, self.policy.deletion_retry(attempts), f"asset removal failed: {exc}"
            )
            log.warning("removing assets of %s failed (%s); will retry", row["video_id"], exc)
            return "pending"
        if row.get("assets"):
            await self.outbox.assets_removed(seq)
        provider = self.routing.providers.get(row["provider"])
        if provider is None:
            await self.outbox.retry_later(
                seq,
                attempts,
                self.policy.deletion_orphan_retry(attempts),
                f"provider {row['provider']!r} is not configured",
            )
            return "pending"
        if not (provider.supports(Capability.DELETE) or provider.supports(Capability.CANCEL)):
            await self.outbox.mark_done(seq)
            return "unsupported"
        try:
            key = provider.key_named(row["provider_key"])
            result = await provider.delete(row["upstream_id"], key, ctx or CallContext())
        except GatewayError as exc:
            if exc.status == 404:
                await self.outbox.mark_done(seq)
                return "done"
            await self.outbox.retry_later(
                seq, attempts, self.policy.deletion_retry(attempts), f"{exc.status} {exc.message}"
            )
            log.warning("upstream deletion of %s failed (%s); will retry", row["video_id"], exc)
            return "pending"
        if result.pending:
            await self.outbox.retry_later(
                seq,
                attempts,
                self.policy.deletion_pending_retry(attempts, provider.poll_after_ms),
                result.detail or "job still running upstream",
            )
            return "pending"
        await self.outbox.mark_done(seq)
        # Neither deleted nor pending: the provider cannot remove a job that has ended
        # (cancel-only providers such as fal and Replicate); only the gateway's copy is gone.
        return "done" if result.deleted else "unsupported"

    async def drain_due(self) -> int:
        """Attempt every outbox row that is due; returns how many were tried."""
        rows = await self.outbox.due()
        for row in rows:
            try:
                await self.carry_out(row)
            except Exception:  # one bad row must not stop the others
                log.exception("deletion of %s crashed", row["video_id"])
        return len(rows)
