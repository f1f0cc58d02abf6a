"""The limit counters' statements: reserve (all or nothing), settle, read.

Governance decides what to claim (`governance/limits.py`); the counters' SQL lives here.
Reserving is the backend's statement (one upsert per claim, on the hot path of every
create); settling and reading are rare and run on SQLAlchemy Core.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .backend import Backend, Row
from .models import limit_counters as lc


class LimitCounters:
    def __init__(self, engine: AsyncEngine, backend: Backend) -> None:
        self.engine = engine
        self.backend = backend

    async def reserve(self, claims: list[Any], ledger: Row | None = None) -> int | None:
        """Reserve every claim (`scope`, `window`, `amount`, `limit`, `reset_at`) or none,
        in the given order, and write `ledger` (a reservations row) with them; the index of
        the first that does not fit, or None."""
        return await self.backend.claim(claims, ledger)

    async def record(self, ledger: Row) -> None:
        """A reservations row for claims held elsewhere (Redis)."""
        await self.backend.insert_reservation(ledger)

    async def settle(self, scope: str, window: str, reserved: float, used: float) -> None:
        """Drop `reserved` from the counter's reservation and add `used` to its use."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(lc)
                .where(lc.c.scope == scope, lc.c.window == window)
                .values(reserved=lc.c.reserved - reserved, used=lc.c.used + used)
            )

    async def current(self, scope: str, window: str) -> tuple[float, float]:
        """(used, reserved) of one counter; zeros for one never claimed."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(lc.c.used, lc.c.reserved).where(
                        lc.c.scope == scope, lc.c.window == window
                    )
                )
            ).first()
        return (float(row[0]), float(row[1])) if row else (0.0, 0.0)
