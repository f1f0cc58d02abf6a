"""`Idempotency-Key` records: the first create with a key wins; retries get its video."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import idempotency_keys as ik

Row = dict[str, Any]
TTL_SECONDS = 24 * 3600


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, owner: str, key: str, request_hash: str) -> Row | None:
        """Take `key` for a new create; None if taken now, else the record that holds it."""
        now = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(ik).where(
                    ik.c.owner == owner, ik.c.key == key, ik.c.started_at < now - TTL_SECONDS
                )
            )
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(ik).values(
                        owner=owner,
                        key=key,
                        request_hash=request_hash,
                        state="started",
                        started_at=now,
                    )
                )
            return None
        except IntegrityError:
            async with self.engine.connect() as conn:
                res = await conn.execute(select(ik).where(ik.c.owner == owner, ik.c.key == key))
                found = res.mappings().first()
            return dict(found) if found else None

    async def set_state(self, owner: str, key: str, state: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(ik).where(ik.c.owner == owner, ik.c.key == key).values(state=state, **values)
            )

    async def release(self, owner: str, key: str) -> None:
        """Forget a key whose create failed for certain, so a retry starts afresh."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(ik).where(ik.c.owner == owner, ik.c.key == key))
