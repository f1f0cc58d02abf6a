"""Video rows: what the gateway knows about each job, and who owns it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..providers.base import UpstreamVideo
from .fast import FastPath, outbox_row
from .models import deletions, usage, videos

Row = dict[str, Any]
ACTIVE = ("queued", "in_progress")
INSERT_VIDEO = insert(videos)
INSERT_USAGE = insert(usage)
INSERT_DELETION = insert(deletions).returning(deletions.c.seq)
OnEnd = Callable[[AsyncConnection], Awaitable[None]]


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
    def __init__(self, engine: AsyncEngine, fast: FastPath | None = None) -> None:
        self.engine = engine
        self.fast = fast

    async def insert(self, row: Row, usage_row: Row | None = None) -> None:
        """Write a new video (and its usage row) in one transaction.

        Rows go in as parameters of a constant statement: building `.values(**row)` per call
        made SQLAlchemy coerce every column and was a third of a create's CPU.
        """
        if self.fast is not None:
            await self.fast.insert_video(row, usage_row)
            return
        async with self.engine.begin() as conn:
            await conn.execute(INSERT_VIDEO, row)
            if usage_row is not None:
                await conn.execute(INSERT_USAGE, usage_row)

    async def get(self, video_id: str) -> Row | None:
        if self.fast is not None:
            return await self.fast.video(video_id)
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

    async def record_poll(
        self,
        video_id: str,
        values: Row,
        *,
        lease_token: str | None = None,
        on_end: OnEnd | None = None,
    ) -> bool:
        """Write a provider's answer for a job still active; True if this write ended it.

        The update only applies while the job is queued or in progress (and, for the
        poller, while it holds the lease), so the move to a terminal state happens once and
        `on_end` (webhook events) runs exactly once, in the same transaction.
        """
        if self.fast is not None and values.get("status") in ACTIVE:
            await self.fast.update_active(video_id, values, lease_token)
            return False  # still active: nothing ended, nothing to announce
        async with self.engine.begin() as conn:
            q = update(videos).where(videos.c.id == video_id, videos.c.status.in_(ACTIVE))
            if lease_token is not None:
                q = q.where(videos.c.lease_owner == lease_token)
            res = await conn.execute(q.values(**values))
            ended = res.rowcount == 1 and values.get("status") not in ACTIVE
            if ended and on_end is not None:
                await on_end(conn)
            return ended

    async def lease_due(self, token: str, limit: int, lease_seconds: float) -> list[Row]:
        """Lease up to `limit` rows due for a poll or a mirror to worker `token`.

        One UPDATE claims the rows (PostgreSQL skips rows another worker has locked; SQLite
        serialises writers), so two workers never hold the same job; an expired lease is
        simply claimable again, which is how a crashed worker's jobs are taken over.
        """
        now = time.time()
        unleased = or_(videos.c.lease_until.is_(None), videos.c.lease_until < now)
        claimed: list[Row] = []
        for due in (videos.c.status.in_(ACTIVE), videos.c.mirror_state == "pending"):
            if len(claimed) >= limit:
                break
            pick = (
                select(videos.c.seq)
                .where(due, videos.c.next_poll_at <= now, unleased)
                .order_by(videos.c.next_poll_at)
                .limit(limit - len(claimed))
                .with_for_update(skip_locked=True)
            )
            async with self.engine.begin() as conn:
                res = await conn.execute(
                    update(videos)
                    .where(videos.c.seq.in_(pick.scalar_subquery()), unleased)
                    .values(lease_owner=token, lease_until=now + lease_seconds)
                    .returning(*videos.c)
                )
                claimed.extend(dict(r) for r in res.mappings())
        return claimed

    async def lease_one(self, video_id: str, token: str, lease_seconds: float) -> bool:
        """Take the lease on one row if nobody holds it (or a held lease has expired)."""
        now = time.time()
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(videos)
                .where(
                    videos.c.id == video_id,
                    or_(
                        videos.c.lease_until.is_(None),
                        videos.c.lease_until < now,
                        videos.c.lease_owner == token,
                    ),
                )
                .values(lease_owner=token, lease_until=now + lease_seconds)
            )
            return bool(res.rowcount == 1)

    async def release(self, video_id: str, token: str, values: Row) -> bool:
        """Apply `values` and drop the lease, if `token` still holds it and the row exists."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(videos)
                .where(videos.c.id == video_id, videos.c.lease_owner == token)
                .values(lease_owner=None, lease_until=None, **values)
            )
            return bool(res.rowcount == 1)

    async def expired_assets(self, now: float, limit: int = 100) -> list[Row]:
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(videos.c.id, videos.c.assets)
                .where(videos.c.mirror_state == "done", videos.c.expires_at <= now)
                .limit(limit)
            )
            return [dict(r) for r in res.mappings()]

    async def delete_with_outbox(
        self, row: Row, grace_seconds: float, on_delete: OnEnd | None = None
    ) -> Row | None:
        """Remove the row and record the owed upstream deletion atomically; returns the outbox
        row, or None when a concurrent delete removed the video first.

        The outbox row becomes due after `grace_seconds`, leaving the first attempt to the
        request that is deleting; if that process dies, the worker takes over. A video that
        nothing shares or watches takes the one-round-trip fast path, where `on_delete` (cache
        references, webhook events) would have had nothing to do.
        """
        now = time.time()
        outbox = outbox_row(row, now + grace_seconds, now)
        if self.fast is not None:
            seq = await self.fast.delete_plain(row, outbox)
            if seq == 0:
                return None
            if seq is not None:
                return {**outbox, "seq": seq}
        async with self.engine.begin() as conn:
            await conn.execute(delete(videos).where(videos.c.id == row["id"]))
            res = await conn.execute(
                INSERT_DELETION, {**outbox, "done_at": None, "last_error": None}
            )
            seq = int(res.scalar_one())
            if on_delete is None:
                return {**outbox, "seq": seq}
            await on_delete(conn)  # it may rewrite the outbox row (assets held by sharers)
            found = await conn.execute(select(deletions).where(deletions.c.seq == seq))
            return dict(found.mappings().one())
