"""Identical creates in flight on several gateway instances sharing one database: the first
to miss holds a `cache_claims` row, the others wait for it and attach to the job it started;
a failed holder lets the next one go upstream, a crashed one's claim expires. Runs on SQLite
and on PostgreSQL (two Gateway objects, each with its own event loop, on the same store)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from videogate.cache.store import CacheStore
from videogate.cache.vectors import PYTHON
from videogate.store.db import make_engine, migrate
from videogate.store.models import cache_claims, cache_entries

from . import test_cache as base
from .conftest import GatewayHandle
from .mocks.openai_videos import OpenAIVideosMock

# The cache tests' fixtures: the OpenAI mock, the embeddings mock, gateways in front of them.
mock = base.mock
embed = base.embed
start = base.start
create, debug, new_key, NS = base.create, base.debug, base.new_key, base.NS


def upstream_creates(mock: OpenAIVideosMock) -> int:
    return len(mock.find_requests("POST", "/v1/videos"))


def post(gw: GatewayHandle, key: str) -> httpx.Response:
    body = {"model": "openai/sora-2", "prompt": base.PROMPT, "seconds": "4", "size": "720x1280"}
    with gw.http(key) as http:
        return http.post("/v1/videos", json=body, headers=NS)


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def rows(url: str, table: Any) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return [dict(r) for r in (await conn.execute(select(table))).mappings()]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def two_instances(start: Callable[..., GatewayHandle], **settings: Any) -> list[GatewayHandle]:
    first = start(**settings)
    # Same database and secrets; its own Gateway, event loop, pool and in-process locks.
    return [first, start(data_dir=first.settings.data_dir, **settings)]


def test_identical_creates_on_two_instances_start_one_upstream_job(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock, db_url: str
) -> None:
    one, two = two_instances(start)
    key, _ = new_key(one, "maker")
    mock.hang_next(1.0, path_contains="/v1/videos", method="POST")  # keep the first in flight
    answers = at_once(lambda: post(one, key), lambda: post(two, key))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert upstream_creates(mock) == 1
    videos = [a.json() for a in answers]
    assert len({v["id"] for v in videos}) == 2
    assert sorted(debug(v)["cache_hit"] for v in videos) == [False, True]
    hit = next(v for v in videos if debug(v)["cache_hit"])
    miss = next(v for v in videos if not debug(v)["cache_hit"])
    assert debug(hit)["hit_type"] == "direct"
    assert debug(hit)["cache_id"] == debug(miss)["cache_id"]
    assert hit["id"].startswith("cache_")
    assert rows(db_url, cache_claims) == []  # released with the entry
    # Both instances serve the hit, and it finishes with the one job.
    for gw in (one, two):
        with gw.http(key) as http:
            base.wait_for(
                lambda h=http: h.get(f"/v1/videos/{hit['id']}").json()["status"] == "completed"
            )


def test_failed_holder_lets_the_waiting_instance_go_upstream(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock, db_url: str
) -> None:
    one, two = two_instances(start)
    key, _ = new_key(one, "maker")
    mock.hang_next(1.0, path_contains="/v1/videos", method="POST")
    mock.fail_next(400, path_contains="/v1/videos", method="POST")  # the same (first) request
    answers = at_once(lambda: post(one, key), lambda: post(two, key))
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    made = next(a.json() for a in answers if a.status_code == 200)
    assert debug(made)["cache_hit"] is False  # nothing to attach to: it started its own job
    assert upstream_creates(mock) == 2
    assert rows(db_url, cache_claims) == []


def test_a_crashed_holders_claim_expires(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock, db_url: str
) -> None:
    gw = start(cache={"claim_ttl_seconds": 5})
    key, _ = new_key(gw, "maker")
    assert debug(post(gw, key).json())["cache_hit"] is False
    (entry,) = rows(db_url, cache_entries)
    with base.admin(gw) as http:  # forget the entry: the next identical create misses again
        assert http.delete("/api/cache/namespaces/studio").json()["deleted_entries"] == 1

    async def crashed_holder() -> None:  # as a gateway that died mid-create leaves it
        engine = make_engine(db_url)
        async with engine.begin() as conn:
            await conn.execute(
                insert(cache_claims).values(
                    namespace=entry["namespace"],
                    scope=entry["scope"],
                    direct_key=entry["direct_key"],
                    holder="crashed:1",
                    expires_at=time.time() + 1.5,
                    created_at=time.time(),
                )
            )
        await engine.dispose()

    asyncio.run(crashed_holder())
    started = time.monotonic()
    again = post(gw, key)
    waited = time.monotonic() - started
    assert again.status_code == 200, again.text
    assert debug(again.json())["cache_hit"] is False
    assert 1.3 < waited < 5.0  # waited for the claim to expire, not for the wait's bound
    assert upstream_creates(mock) == 2
    assert rows(db_url, cache_claims) == []


async def test_claims_are_exclusive_and_expire(db_url: str) -> None:
    engine = make_engine(db_url)
    await migrate(engine)
    store = CacheStore(engine, PYTHON, 10)
    key = ("ns", "team:1", "d" * 64)
    now = time.time()
    try:
        assert await store.claim(key, "a", now, now + 60)
        assert not await store.claim(key, "b", now, now + 60)  # live: b waits
        assert await store.claim_live(key, now)
        await store.unclaim(key, "b")  # only the holder releases
        assert await store.claim_live(key, now)
        later = now + 61  # a's claim has expired: c takes it over
        assert not await store.claim_live(key, later)
        assert await store.claim(key, "c", later, later + 60)
        await store.unclaim(key, "a")  # a, back from the dead, cannot free c's claim
        assert await store.claim_live(key, later)
        await store.unclaim(key, "c")
        assert not await store.claim_live(key, later)
        # Many at once: exactly one wins.
        other = ("ns", "team:1", "e" * 64)
        won = await asyncio.gather(*(store.claim(other, f"h{n}", now, now + 60) for n in range(8)))
        assert sorted(won) == [False] * 7 + [True]
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(cache_claims))).scalar()
        assert count == 1
        # The sweep removes what crashed holders left once expired, and nothing live.
        await store.sweep_expired(now + 30)
        assert await store.claim_live(other, now)
        await store.sweep_expired(now + 61)
        assert not await store.claim_live(other, now)
    finally:
        await engine.dispose()
