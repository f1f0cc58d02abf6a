"""`VideoStore.delete` and its hooks on both backends: a plain delete is one bare-driver
round trip, a hook whose predicate holds runs in the delete's transaction (and may close
the outbox row), a predicate may name any subset of the video's parts, and a second delete
of the same video answers None. SQLite needs a file: an in-memory URL is a config error."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from videogate.config import ConfigError
from videogate.store.backend import backend_for
from videogate.store.db import check_url, make_engine, migrate
from videogate.store.models import deletions
from videogate.store.videos import DeleteHook, VideoStore
from videogate.video import Video


def video(n: int, owner: str = "key_a") -> Video:
    return Video(
        id=f"video_{n}:sim",
        provider="sim",
        upstream_id=f"up_{n}",
        owner=owner,
        status="queued",
        created_at=int(time.time()),
        updated_at=time.time(),
        assets={"video": {"key": f"{owner}/{n}/video", "size": 1, "content_type": "video/mp4"}},
    )


def test_deletes_with_and_without_hooks(db_url: str) -> None:
    async def run() -> None:
        engine = make_engine(db_url)
        await migrate(engine)
        backend = backend_for(check_url(db_url))
        store = VideoStore(engine, backend)
        try:
            plain = video(1)
            await store.insert(plain)
            out = await store.delete(plain, 30.0)
            assert out is not None and out["state"] == "pending" and out["seq"] > 0
            assert out["assets"] == ["key_a/1/video"]
            assert await store.get(plain.id) is None
            assert await store.delete(plain, 30.0) is None  # already gone

            ran: list[str] = []

            async def close(conn: AsyncConnection, v: Video) -> None:
                ran.append(v.id)
                await conn.execute(
                    update(deletions).where(deletions.c.video_id == v.id).values(state="done")
                )

            # predicates naming only some parts (PostgreSQL must not see untyped parameters)
            store.on_delete(DeleteHook("{owner} = 'key_b'", close))
            store.on_delete(DeleteHook("{upstream} = 'up_3' AND {provider} = 'sim'", close))
            untouched, owned, shared = video(2), video(4, owner="key_b"), video(3)
            for v in (untouched, owned, shared):
                await store.insert(v)
            out = await store.delete(untouched, 30.0)
            assert out is not None and out["state"] == "pending" and ran == []
            out = await store.delete(owned, 30.0)
            assert out is not None and out["state"] == "done"  # as the hooks left it
            assert ran == [owned.id, owned.id]  # every hook runs once one is involved
            out = await store.delete(shared, 30.0)
            assert out is not None and out["state"] == "done" and ran[2:] == [shared.id] * 2
            assert await store.delete(shared, 30.0) is None  # hooked path: already gone
            assert ran[4:] == []
            async with engine.connect() as conn:
                res = await conn.execute(select(deletions.c.video_id, deletions.c.state))
                states: dict[str, Any] = {r[0]: r[1] for r in res}
            assert states == {
                plain.id: "pending",
                untouched.id: "pending",
                owned.id: "done",
                shared.id: "done",
            }
        finally:
            await backend.aclose()
            await engine.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite+aiosqlite://", "sqlite://"])
def test_an_in_memory_sqlite_database_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="in-memory"):
        make_engine(url)
