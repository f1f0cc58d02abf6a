"""Video rows: what the gateway knows about each job, and who owns it."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..providers.base import UpstreamVideo
from .models import deletions, videos

Row = dict[str, Any]


def fields_from_upstream(v: UpstreamVideo) -> Row:
    """The columns a provider's answer refreshes."""
    return {
        "status": v.status,
        "progress": v.progress,
        "completed_at": v.completed_at,
        "expires_at": v.expires_at,
        "error_code": v.error["code"] if v.error else None,
        "error_message": v.error["message"] if v.error else None,
        "updated_at": time.time(),
    }


class VideoStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def insert(self, row: Row) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(videos).values(**row))

    async def get(self, video_id: str) -> Row | None:
        async with self.engine.connect() as conn:
            res = await conn.execute(select(videos).where(videos.c.id == video_id))
            found = res.mappings().first()
        return dict(found) if found else None

    async def update(self, video_id: str, values: Row) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(videos).where(videos.c.id == video_id).values(**values))

    async def page(
        self,
        *,
        owner: str | None,
        provider: str | None,
        after: str | None,
        limit: int,
        order: str,
    ) -> tuple[list[Row], bool] | None:
        """One page in `seq` order; None when `after` names no visible video."""
        q = select(videos)
        if owner is not None:
            q = q.where(videos.c.owner == owner)
        if provider is not None:
            q = q.where(videos.c.provider == provider)
        async with self.engine.connect() as conn:
            if after is not None:
                cursor = select(videos.c.seq).where(videos.c.id == after)
                if owner is not None:
                    cursor = cursor.where(videos.c.owner == owner)
                seq = (await conn.execute(cursor)).scalar()
                if seq is None:
                    return None
                q = q.where(videos.c.seq > seq if order == "asc" else videos.c.seq < seq)
            q = q.order_by(videos.c.seq.asc() if order == "asc" else videos.c.seq.desc())
            res = await conn.execute(q.limit(limit + 1))
            rows = [dict(r) for r in res.mappings()]
        return rows[:limit], len(rows) > limit

    async def delete_with_outbox(self, row: Row, grace_seconds: float) -> int:
        """Remove the row and record the owed upstream deletion atomically; returns its seq.

        The outbox row becomes due after `grace_seconds`, leaving the first attempt to the
        request that is deleting; if that process dies, the worker takes over.
        """
        now = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(delete(videos).where(videos.c.id == row["id"]))
            res = await conn.execute(
                insert(deletions)
                .values(
                    video_id=row["id"],
                    provider=row["provider"],
                    upstream_id=row["upstream_id"],
                    provider_key=row["provider_key"],
                    owner=row["owner"],
                    state="pending",
                    attempts=0,
                    next_attempt_at=now + grace_seconds,
                    created_at=now,
                )
                .returning(deletions.c.seq)
            )
            return int(res.scalar_one())
