"""Video rows: what the gateway knows about each job, and who owns it.

Rows become `Video`s here, at the store's edge. The hot statements (insert, get, an active
poll's update, a plain delete) run on the backend (`backend.py`); the rare ones run here on
SQLAlchemy Core. Each statement exists once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..video import ACTIVE, ANSWER_COLUMNS, Video
from .backend import NOBODY, Backend, outbox_row
from .listing import Page
from .models import deletions, videos

Row = dict[str, Any]
INSERT_DELETION = insert(deletions).returning(deletions.c.seq)
OnEnd = Callable[[AsyncConnection], Awaitable[None]]
# What a poll's answer writes: the answer, and what comes next for the job.
POLL_COLUMNS = (*ANSWER_COLUMNS, "poll_failures", "next_poll_at", "mirror_state")


@dataclass(frozen=True)
class DeleteHook:
    """A feature that must act inside the transaction deleting a video.

    `involved` is an SQL boolean expression with the placeholders {id} {provider} {upstream}
    {owner}: true when `act` must run for this video. A delete no hook is involved in stays
    one round trip on the backend.
    """

    involved: str
    act: Callable[[AsyncConnection, Video], Awaitable[None]]


def _claimable(now: float, token: str | None = None) -> ColumnElement[bool]:
    """The lease rule: a row nobody holds, whose lease expired, or (re-)held by `token`."""
    free = [videos.c.lease_until.is_(None), videos.c.lease_until < now]
    if token is not None:
        free.append(videos.c.lease_owner == token)
    return or_(*free)


class VideoStore:
    def __init__(self, engine: AsyncEngine, backend: Backend) -> None:
        self.engine = engine
        self.backend = backend
        self._hooks: list[DeleteHook] = []

    def on_delete(self, hook: DeleteHook) -> None:
        """Register a feature that acts on deletes (webhook events, the cache's shared jobs)."""
        self._hooks.append(hook)
        involved = " OR ".join(f"({h.involved})" for h in self._hooks)
        self.backend.hooks_changed(f"({involved})" if involved else NOBODY)

    async def insert(self, video: Video, usage_row: Row | None = None) -> None:
        """Write a new video (and its usage row) in one transaction."""
        await self.backend.insert_video(video.to_row(), usage_row)

    async def get(self, video_id: str) -> Video | None:
        found = await self.backend.video(video_id)
        return Video.from_row(found) if found is not None else None

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
    ) -> Page | None:
        """One page in `seq` order, rendered by the database; None when `after` names no
        visible video."""
        rows = await self.backend.page(
            owner=owner, provider=provider, after=after, limit=limit, order=order
        )
        return None if rows is None else Page.of(rows, limit)

    async def record_poll(
        self, video: Video, *, lease_token: str | None = None, on_end: OnEnd | None = None
    ) -> bool:
        """Write a provider's answer (`POLL_COLUMNS` of `video`, and the lease dropped when
        `lease_token` holds it) while the stored job is still active; True if this write
        ended it.

        The update only applies while the job is queued or in progress (and, for the
        poller, while it holds the lease), so the move to a terminal state happens once and
        `on_end` (webhook events) runs exactly once, in the same transaction. An answer that
        leaves the job active is the backend's one statement.
        """
        values = {name: getattr(video, name) for name in POLL_COLUMNS}
        if lease_token is not None:
            values.update(lease_owner=None, lease_until=None)
        if video.active:
            await self.backend.update_active(video.id, values, lease_token)
            return False  # still active: nothing ended, nothing to announce
        async with self.engine.begin() as conn:
            q = update(videos).where(videos.c.id == video.id, videos.c.status.in_(ACTIVE))
            if lease_token is not None:
                q = q.where(videos.c.lease_owner == lease_token)
            res = await conn.execute(q.values(**values))
            ended = res.rowcount == 1
            if ended and on_end is not None:
                await on_end(conn)
            return ended

    async def lease_due(self, token: str, limit: int, lease_seconds: float) -> list[Video]:
        """Lease up to `limit` jobs due for a poll or a mirror to worker `token`.

        One UPDATE claims the rows (PostgreSQL skips rows another worker has locked; SQLite
        serialises writers), so two workers never hold the same job; an expired lease is
        simply claimable again, which is how a crashed worker's jobs are taken over.
        """
        now = time.time()
        claimed: list[Video] = []
        for due in (videos.c.status.in_(ACTIVE), videos.c.mirror_state == "pending"):
            if len(claimed) >= limit:
                break
            pick = (
                select(videos.c.seq)
                .where(due, videos.c.next_poll_at <= now, _claimable(now))
                .order_by(videos.c.next_poll_at)
                .limit(limit - len(claimed))
                .with_for_update(skip_locked=True)
            )
            async with self.engine.begin() as conn:
                res = await conn.execute(
                    update(videos)
                    .where(videos.c.seq.in_(pick.scalar_subquery()), _claimable(now))
                    .values(lease_owner=token, lease_until=now + lease_seconds)
                    .returning(*videos.c)
                )
                claimed.extend(Video.from_row(dict(r)) for r in res.mappings())
        return claimed

    async def lease_one(self, video_id: str, token: str, lease_seconds: float) -> bool:
        """Take the lease on one row if it is claimable (or already `token`'s)."""
        now = time.time()
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(videos)
                .where(videos.c.id == video_id, _claimable(now, token))
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

    async def expired_assets(
        self, now: float, limit: int = 100
    ) -> list[tuple[str, dict[str, Any] | None]]:
        """(id, assets) of mirrored jobs past their retention."""
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(videos.c.id, videos.c.assets)
                .where(videos.c.mirror_state == "done", videos.c.expires_at <= now)
                .limit(limit)
            )
            return [(r.id, r.assets) for r in res]

    async def delete(self, video: Video, grace_seconds: float) -> Row | None:
        """Remove the row and record the owed upstream deletion atomically; the outbox row
        as the registered hooks left it (a hook may close it), or None when a concurrent
        delete removed the video first.

        The outbox row becomes due after `grace_seconds`, leaving the first attempt to the
        request that is deleting; if that process dies, the worker takes over. A video no
        hook is involved in is one round trip on the backend.
        """
        now = time.time()
        row = video.to_row()
        outbox = outbox_row(row, now + grace_seconds, now)
        seq = await self.backend.delete_plain(row, outbox)
        if seq == 0:
            return None
        if seq is not None:
            return {**outbox, "seq": seq}
        async with self.engine.begin() as conn:
            gone = await conn.execute(delete(videos).where(videos.c.id == video.id))
            if gone.rowcount != 1:
                return None
            res = await conn.execute(
                INSERT_DELETION, {**outbox, "done_at": None, "last_error": None}
            )
            seq = int(res.scalar_one())
            for hook in self._hooks:
                await hook.act(conn, video)  # each checks its own involvement
            found = await conn.execute(select(deletions).where(deletions.c.seq == seq))
            return dict(found.mappings().one())

    # -- the worker's batched statements (jobs/worker.py) ----------------------------------
    async def lease_batch(
        self, token: str, limit: int, lease_seconds: float, skip: list[str] | None = None
    ) -> list[Video]:
        """`lease_due` in one statement on the backend, skipping the providers in `skip`
        (the worker's busy ones): each due queue read in index order, the heads merged."""
        now = time.time()
        rows = await self.backend.lease_due(token, limit, now + lease_seconds, now, skip or [])
        found = [Video.from_row(r) for r in rows]
        found.sort(key=lambda v: v.next_poll_at or 0.0)
        return found

    async def next_due(self) -> float | None:
        """When the next job falls due for a poll or a mirror (None: nothing is waiting)."""
        return await self.backend.next_due(time.time())

    async def record_polls(self, answers: list[tuple[Video, str]]) -> None:
        """`record_poll` for many (answer, lease token) that leave their jobs active, in one
        transaction: each row is written only while active and held by its token, which
        is dropped."""
        rows = []
        for video, token in answers:
            values = {name: getattr(video, name) for name in POLL_COLUMNS}
            values.update(lease_owner=None, lease_until=None)
            rows.append((video.id, values, token))
        await self.backend.update_polls(rows)
