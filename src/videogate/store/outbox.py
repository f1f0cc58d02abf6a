"""The deletion outbox: upstream deletions still owed, retried until the provider agrees."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .backend import Backend
from .models import deletions

Row = dict[str, Any]


class DeletionOutbox:
    def __init__(self, engine: AsyncEngine, backend: Backend) -> None:
        self.engine = engine
        self.backend = backend

    async def due(self, limit: int = 50) -> list[Row]:
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(deletions)
                .where(deletions.c.state == "pending", deletions.c.next_attempt_at <= time.time())
                .order_by(deletions.c.next_attempt_at)
                .limit(limit)
            )
            return [dict(r) for r in res.mappings()]

    async def assets_removed(self, seq: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(deletions).where(deletions.c.seq == seq).values(assets=None))

    async def mark_done(self, seq: int) -> None:
        """The owed deletion is done (the backend's one statement: every delete ends here)."""
        await self.backend.mark_done(seq, time.time())

    async def retry_later(self, seq: int, attempts: int, delay: float, error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deletions)
                .where(deletions.c.seq == seq)
                .values(attempts=attempts, next_attempt_at=time.time() + delay, last_error=error)
            )
