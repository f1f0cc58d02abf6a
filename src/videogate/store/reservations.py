"""The reservation ledger's statements (see `models.reservations`).

The row is written by the limit claim's own transaction (`Backend.claim`; unlimited keys
write nothing), and the usage row that later takes the claims over names it, so the hot
path never deletes here. The sweep reads old rows with whether a usage row took them over,
and drops them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import reservations, usage


class ReservationLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def stale(self, before: float, limit: int = 500) -> list[tuple[str, Any, bool]]:
        """(id, claims, taken over by a usage row) of reservations made before `before`."""
        taken = exists().where(usage.c.reservation_id == reservations.c.id)
        q = (
            select(reservations.c.id, reservations.c.claims, taken.label("taken"))
            .where(reservations.c.created_at < before)
            .order_by(reservations.c.created_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [(r[0], r[1], bool(r[2])) for r in (await conn.execute(q)).all()]

    async def drop(self, reservation_id: str) -> bool:
        """Remove one; False if another sweeper (or the create's undo) got there first."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                delete(reservations).where(reservations.c.id == reservation_id)
            )
        return bool(res.rowcount)
