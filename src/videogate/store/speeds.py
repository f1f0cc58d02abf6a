"""Measured time to completion per deployment (`models.deployment_speed`).

One row per `provider/model`, updated when a job of it completes: a moving mean that weighs
the newest job by `WEIGHT` (so a host that slows down is noticed within a few jobs), the
last figure, and how many jobs were seen. Reads are one small table scan, cached by the
caller; the write is one UPDATE (an INSERT for a deployment's first job), with no dialect
branch: two first jobs racing meet the primary key, and the loser updates instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import deployment_speed

WEIGHT = 0.2  # of the newest job in the moving mean


@dataclass(frozen=True)
class Speed:
    deployment: str
    samples: int
    mean_seconds: float
    last_seconds: float
    updated_at: float


class SpeedStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, deployment: str, seconds: float) -> None:
        """Fold one completed job's time to completion into its deployment's row."""
        seconds = max(0.0, float(seconds))
        now = time.time()
        table = deployment_speed
        for _ in range(2):
            async with self.engine.begin() as conn:
                res = await conn.execute(
                    update(table)
                    .where(table.c.deployment == deployment)
                    .values(
                        samples=table.c.samples + 1,
                        mean_seconds=table.c.mean_seconds * (1 - WEIGHT) + seconds * WEIGHT,
                        last_seconds=seconds,
                        updated_at=now,
                    )
                )
                if res.rowcount:
                    return
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        insert(table).values(
                            deployment=deployment,
                            samples=1,
                            mean_seconds=seconds,
                            last_seconds=seconds,
                            updated_at=now,
                        )
                    )
                return
            except IntegrityError:
                continue  # another process inserted the first row: update it instead

    async def all(self) -> dict[str, Speed]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(deployment_speed))).mappings().all()
        return {r["deployment"]: Speed(**dict(r)) for r in rows}
