"""Webhook endpoints per owner (a virtual key) and the durable delivery log."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..video import Video
from .models import webhook_deliveries, webhook_endpoints
from .pages import after_id, after_seq
from .videos import DeleteHook

Row = dict[str, Any]
EVENTS = ("video.completed", "video.failed", "video.deleted")
# When a delete must queue `video.deleted`: the owner has an enabled endpoint.
WATCHED = "EXISTS (SELECT 1 FROM webhook_endpoints WHERE owner = {owner} AND enabled)"


class WebhookStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_endpoint(
        self, owner: str, url: str, events: list[str], stored_secret: str
    ) -> Row:
        """A new endpoint; `stored_secret` is its signing secret as kept (sealed)."""
        row = {
            "id": "we_" + secrets.token_hex(10),
            "owner": owner,
            "url": url,
            "secret": stored_secret,
            "events": events,
            "enabled": True,
            "created_at": time.time(),
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert(webhook_endpoints).values(**row))
        return row

    async def endpoints(
        self, owner: str | None = None, limit: int | None = None, after: str | None = None
    ) -> list[Row]:
        """Oldest first; with `limit`, a page after the endpoint id `after`."""
        q = select(webhook_endpoints)
        q = (
            q.order_by(webhook_endpoints.c.created_at)
            if limit is None
            else after_id(q, webhook_endpoints, after, limit)
        )
        if owner is not None:
            q = q.where(webhook_endpoints.c.owner == owner)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def endpoint(self, endpoint_id: str) -> Row | None:
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
            )
            found = res.mappings().first()
        return dict(found) if found else None

    async def delete_endpoint(self, endpoint_id: str) -> bool:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
            )
            return bool(res.rowcount)

    @staticmethod
    async def enqueue(
        conn: AsyncConnection, owner: str, event_type: str, video_id: str, now: float | None = None
    ) -> int:
        """Queue `event_type` for every endpoint of `owner` that wants it (same transaction
        as the state change that caused it, so no event is lost or doubled)."""
        now = now or time.time()
        res = await conn.execute(
            select(webhook_endpoints).where(
                webhook_endpoints.c.owner == owner, webhook_endpoints.c.enabled.is_(True)
            )
        )
        count = 0
        for ep in res.mappings():
            if event_type not in ep["events"]:
                continue
            event_id = "evt_" + uuid.uuid4().hex
            payload = {
                "id": event_id,
                "object": "event",
                "type": event_type,
                "created_at": int(now),
                "data": {"id": video_id},
            }
            await conn.execute(
                insert(webhook_deliveries).values(
                    id=event_id + "." + ep["id"],
                    endpoint_id=ep["id"],
                    event_type=event_type,
                    video_id=video_id,
                    payload=orjson.dumps(payload).decode(),
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            count += 1
        return count

    async def due(self, limit: int = 50) -> list[Row]:
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(webhook_deliveries)
                .where(
                    webhook_deliveries.c.state == "pending",
                    webhook_deliveries.c.next_attempt_at <= time.time(),
                )
                .order_by(webhook_deliveries.c.next_attempt_at)
                .limit(limit)
            )
            return [dict(r) for r in res.mappings()]

    async def record_attempt(
        self,
        seq: int,
        *,
        state: str,
        attempts: int,
        next_at: float,
        status: int | None,
        error: str | None,
    ) -> None:
        values: Row = {
            "state": state,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "last_status": status,
            "last_error": error,
        }
        if state == "delivered":
            values["delivered_at"] = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(webhook_deliveries).where(webhook_deliveries.c.seq == seq).values(**values)
            )

    async def deliveries(
        self,
        endpoint_id: str | None = None,
        owner: str | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> list[Row]:
        """Newest first; `after` is the `seq` of the previous page's last row."""
        q = after_seq(select(webhook_deliveries), webhook_deliveries.c.seq, after, limit)
        if endpoint_id is not None:
            q = q.where(webhook_deliveries.c.endpoint_id == endpoint_id)
        if owner is not None:
            q = q.where(
                webhook_deliveries.c.endpoint_id.in_(
                    select(webhook_endpoints.c.id).where(webhook_endpoints.c.owner == owner)
                )
            )
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]


async def _announce_delete(conn: AsyncConnection, video: Video) -> None:
    await WebhookStore.enqueue(conn, video.owner, "video.deleted", video.id)


# Registered with the video store: a deleted video's `video.deleted` events, queued in the
# delete's own transaction.
DELETE_HOOK = DeleteHook(WATCHED, _announce_delete)
