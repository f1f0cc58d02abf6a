"""Semantic lookups through the vector index: pgvector's HNSW on PostgreSQL (planned and used,
as exact as brute force on what it returns, picked up when installed late, safe when two
instances set it up at once, and brute force when it is absent), sqlite-vec on SQLite.

The PostgreSQL tests run in the `VIDEOGATE_TEST_DB=postgres` pass; there, a server without
pgvector fails them under CI=true (scripts/services.sh installs it) and skips them elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from videogate.cache import vectors
from videogate.cache.embeddings import normalise
from videogate.cache.service import CacheService
from videogate.config import CacheConfig
from videogate.store.db import make_engine, migrate
from videogate.store.models import cache_entries

from . import test_cache as base
from .conftest import BACKEND, GatewayHandle
from .mocks.embeddings import cosine, words
from .mocks.openai_videos import OpenAIVideosMock

mock = base.mock
embed = base.embed
start = base.start
create, debug, new_key, admin, NS = base.create, base.debug, base.new_key, base.admin, base.NS
PROMPT, REWORDED, OTHER = base.PROMPT, base.REWORDED, base.OTHER
DIMS = 256  # the embeddings mock's


def on(url: str, *sql: str) -> list[list[Any]]:
    """Run statements on the test database; the rows each returned."""

    async def run() -> list[list[Any]]:
        engine = make_engine(url)
        out = []
        try:
            async with engine.begin() as conn:
                for stmt in sql:
                    res = await conn.execute(text(stmt))
                    out.append([tuple(r) for r in res] if res.returns_rows else [])
        finally:
            await engine.dispose()
        return out

    return asyncio.run(run())


def require_pgvector(url: str) -> None:
    if BACKEND != "postgres":
        pytest.skip("pgvector: runs in the PostgreSQL pass (VIDEOGATE_TEST_DB=postgres)")
    (found,) = on(url, "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("pgvector is required under CI (scripts/services.sh installs it)")
        pytest.skip("pgvector is not installed on this PostgreSQL server")


def hnsw_index_names(url: str) -> list[str]:
    (found,) = on(
        url,
        "SELECT indexname FROM pg_indexes WHERE tablename = 'cache_entries' "
        "AND indexname LIKE 'ix_cache_hnsw_%' ORDER BY indexname",
    )
    return [r[0] for r in found]


def stats(gw: GatewayHandle) -> dict[str, Any]:
    with admin(gw) as http:
        return dict(http.get("/api/cache/stats").json())


def semantic_round(gw: GatewayHandle, key: str) -> dict[str, Any]:
    """A stored prompt; a stricter threshold and another subject miss; a rewording hits."""
    close, far = cosine(PROMPT, REWORDED), cosine(PROMPT, OTHER)
    probe = {**NS, "x-bf-cache-no-store": "true"}
    with gw.http(key) as http:
        first = create(http)
        strict = create(http, REWORDED, headers={**probe, "x-bf-cache-threshold": "0.9"})
        assert debug(strict)["cache_hit"] is False
        assert debug(strict)["similarity"] == pytest.approx(close, abs=1e-4)
        unlike = create(http, OTHER, headers=probe)
        assert debug(unlike)["cache_hit"] is False
        assert debug(unlike)["similarity"] == pytest.approx(far, abs=1e-4)
        hit = create(http, REWORDED)
    assert debug(hit)["hit_type"] == "semantic"
    assert debug(hit)["cache_id"] == debug(first)["cache_id"]
    assert debug(hit)["similarity"] == pytest.approx(close, abs=1e-4)
    assert debug(hit)["input_tokens"] == len(words(REWORDED))
    return hit


def test_semantic_lookups_go_through_the_vector_index(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock, db_url: str
) -> None:
    if BACKEND == "postgres":
        require_pgvector(db_url)
    gw = start()
    key, _ = new_key(gw, "maker")
    before = stats(gw)
    assert before["vector_indexes"] == []  # nothing stored yet
    semantic_round(gw, key)
    assert base.upstream_creates(mock) == 3  # the first, and the two no-store misses
    after = stats(gw)
    if BACKEND != "postgres":
        assert before["vector_index"] == after["vector_index"] == "sqlite-vec"
        assert after["vector_indexes"] == []
        return
    assert after["vector_index"] == "pgvector"
    (index,) = after["vector_indexes"]
    assert (index["name"], index["dimensions"]) == (f"ix_cache_hnsw_{DIMS}", DIMS)
    assert index["bytes"] > 0
    # The lookup's own SQL can use the index (a one-row table would be scanned otherwise).
    (entry,) = on(db_url, "SELECT namespace, scope, params_key, embedding_model FROM cache_entries")
    params = dict(zip(("ns", "scope", "pk", "em"), entry[0], strict=True))
    plan = asyncio.run(explain(db_url, vectors.hnsw_sql(DIMS, 5), params, tweak=True))
    assert f"Index Scan using ix_cache_hnsw_{DIMS} on cache_entries" in plan, plan


async def explain(url: str, sql: str, params: dict[str, Any], *, tweak: bool) -> str:
    engine = make_engine(url)
    try:
        return await explain_on(engine, sql, params, DIMS, tweak=tweak)
    finally:
        await engine.dispose()


def test_without_pgvector_postgresql_scores_by_brute_force(
    start: Callable[..., GatewayHandle],
    mock: OpenAIVideosMock,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_pgvector(db_url)  # the real thing is there: prove it is not used

    async def absent(engine: AsyncEngine) -> None:
        return None

    monkeypatch.setattr(vectors, "prepare_pgvector", absent)
    gw = start()
    key, _ = new_key(gw, "maker")
    semantic_round(gw, key)
    after = stats(gw)
    assert (after["vector_index"], after["vector_indexes"]) == ("postgresql", [])
    assert hnsw_index_names(db_url) == []


def test_pgvector_installed_after_migrating_is_taken_up_at_start(
    start: Callable[..., GatewayHandle], mock: OpenAIVideosMock, db_url: str
) -> None:
    require_pgvector(db_url)
    gw = start()
    key, _ = new_key(gw, "maker")
    with gw.http(key) as http:
        create(http)
    assert hnsw_index_names(db_url) == [f"ix_cache_hnsw_{DIMS}"]
    gw.stop()
    # As a server that had no pgvector when migration 0005 ran (its indexes go too).
    on(db_url, "DROP EXTENSION vector CASCADE")
    assert hnsw_index_names(db_url) == []
    again = start(data_dir=gw.settings.data_dir)
    # The extension is created at start and the stored dimension indexed before any store.
    assert stats(again)["vector_index"] == "pgvector"
    assert hnsw_index_names(db_url) == [f"ix_cache_hnsw_{DIMS}"]
    with again.http(key) as http:
        hit = create(http, REWORDED)
    assert debug(hit)["hit_type"] == "semantic"
    assert base.upstream_creates(mock) == 1


def test_two_instances_set_pgvector_up_at_once(db_url: str) -> None:
    require_pgvector(db_url)
    asyncio.run(set_up_at_once(db_url))


async def set_up_at_once(db_url: str) -> None:
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        await migrate(engines[0])
        async with engines[0].begin() as conn:
            await conn.execute(text("DROP EXTENSION vector CASCADE"))
            await conn.execute(insert(cache_entries).values(**entry(0, "p", unit(32))))
        found = await asyncio.gather(*(vectors.prepare_pgvector(e) for e in engines))
        assert [f.dimensions if f else None for f in found] == [frozenset({32})] * 2
        made = await asyncio.gather(*(vectors.index_dimension(e, 48) for e in engines))
        assert made == [True, True]
        assert await vectors.index_dimension(engines[1], 5000) is False  # past HNSW's limit
        async with engines[1].connect() as conn:
            names = [i["name"] for i in await vectors.hnsw_indexes(conn)]
        assert names == ["ix_cache_hnsw_32", "ix_cache_hnsw_48"]
    finally:
        for e in engines:
            await e.dispose()


def unit(dims: int, rng: random.Random | None = None) -> list[float]:
    rng = rng or random.Random(dims)
    return normalise([rng.gauss(0, 1) for _ in range(dims)])


def entry(n: int, group: str, vector: list[float]) -> dict[str, Any]:
    return {
        "id": f"ce_{group}_{n}",
        "namespace": "ns",
        "scope": "s",
        "params_key": group,
        "direct_key": f"{group}{n}",
        "provider": "openai",
        "model": "sora-2",
        "prompt": f"p{n}",
        "embedding": vector,
        "embedding_model": "m",
        "source_video_id": f"v_{group}_{n}",
        "hits": 0,
        "created_at": float(n),
        "expires_at": time.time() + 3600,
    }


def test_hnsw_lookups_are_planned_and_agree_with_exact_search(db_url: str) -> None:
    """1,900 entries in three groups of one namespace: the planner takes the HNSW index for
    the big group, the iterative scan still fills a selective one, and what comes back is
    ranked and scored as the exact search ranks and scores it."""
    require_pgvector(db_url)
    asyncio.run(planned_and_exact(db_url))


async def planned_and_exact(db_url: str) -> None:
    dims, rng = 64, random.Random(11)
    sizes = {"big": 1700, "tenth": 200, "few": 3}
    data = {g: [unit(dims, rng) for _ in range(n)] for g, n in sizes.items()}
    engine = make_engine(db_url)
    try:
        await migrate(engine)
        pg = await vectors.prepare_pgvector(engine)
        assert pg is not None and pg.iterative_scan and pg.dimensions == frozenset()
        assert await vectors.index_dimension(engine, dims)
        async with engine.begin() as conn:
            for group, rows in data.items():
                values = [entry(n, group, v) for n, v in enumerate(rows)]
                await conn.execute(insert(cache_entries), values)
            await conn.execute(text("ANALYZE cache_entries"))
        filters = {"ns": "ns", "scope": "s", "pk": "big", "em": "m"}
        plan = await explain_on(engine, vectors.hnsw_sql(dims, 5), filters, dims)
        assert f"Index Scan using ix_cache_hnsw_{dims}" in plan, plan  # no planner tweaks
        top1 = near = total = 0
        for group, rows in data.items():
            for _ in range(8):
                query = unit(dims, rng)
                exact = sorted(
                    ((f"ce_{group}_{n}", vectors.dot(query, v)) for n, v in enumerate(rows)),
                    key=lambda item: -item[1],
                )
                found = await lookup(engine, query, group)
                assert len(found) == min(5, len(rows))
                scores = dict(exact)
                for entry_id, source, similarity in found:
                    assert entry_id.startswith(f"ce_{group}_") and source.startswith(f"v_{group}")
                    assert similarity == pytest.approx(scores[entry_id], abs=1e-5)
                assert [s for _, _, s in found] == sorted((s for _, _, s in found), reverse=True)
                top1 += found[0][0] == exact[0][0]
                near += found[0][0] in {e for e, _ in exact[:5]}
                total += 1
        # Approximate, on random vectors (HNSW's hardest case): the best is nearly always
        # found (23 of 24 here), and what comes first is among the exact five nearest.
        assert top1 >= total * 0.75, f"HNSW found the exact nearest in {top1}/{total} lookups"
        assert near >= total - 1, f"HNSW's first was among the exact top 5 in {near}/{total}"
        # A small ef_search: HNSW hands over its 10 nearest, most of them from other groups;
        # the iterative scan goes on until the 10% group fills the LIMIT.
        for _ in range(4):
            assert len(await lookup(engine, unit(dims, rng), "tenth", ef_search=10)) == 5
    finally:
        await engine.dispose()


async def lookup(
    engine: AsyncEngine, query: list[float], group: str, ef_search: int | None = None
) -> list[tuple[str, str, float]]:
    async with engine.connect() as conn:
        if ef_search is not None:
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
        return await vectors.nearest(
            conn,
            vectors.PGVECTOR,
            query,
            namespace="ns",
            scope="s",
            params_key=group,
            embedding_model="m",
            now=time.time(),
            scan=2000,
            limit=5,
            iterative_scan=True,
        )


async def explain_on(
    engine: AsyncEngine, sql: str, params: dict[str, Any], dims: int, *, tweak: bool = False
) -> str:
    """The plan of a lookup query; `tweak`: with sequential scans off (a tiny table)."""
    async with engine.begin() as conn:
        if tweak:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
        query = {"q": unit(dims), "now": time.time(), "scan": 2000, **params}
        res = await conn.execute(text("EXPLAIN (COSTS OFF) " + sql), query)
        return "\n".join(r[0] for r in res)


def test_a_role_that_may_not_create_pgvector_gets_brute_force(db_url: str) -> None:
    """pgvector is not a trusted extension: a database owner without superuser cannot create
    it. Migration 0005 goes through (the attempt is in a savepoint) and the cache starts on
    brute force, as on a server without pgvector at all."""
    require_pgvector(db_url)
    role = "vg_plain_" + secrets.token_hex(4)
    database = db_url.rsplit("/", 1)[1]
    on(
        db_url,
        f"CREATE ROLE {role} LOGIN",
        f"ALTER DATABASE {database} OWNER TO {role}",
        f"ALTER SCHEMA public OWNER TO {role}",
    )

    async def run() -> None:
        engine = make_engine(db_url.replace("://postgres@", f"://{role}@"))
        try:
            await migrate(engine)
            assert await vectors.prepare_pgvector(engine) is None
            service = await CacheService.start(engine, CacheConfig())
            assert service.store.index == vectors.POSTGRES
            async with engine.connect() as conn:
                res = await conn.execute(
                    text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
                )
                assert res.first() is None
                res = await conn.execute(text("SELECT count(*) FROM cache_claims"))
                assert res.scalar() == 0  # the rest of the migration is there
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    finally:
        on(db_url, f"REASSIGN OWNED BY {role} TO postgres", f"DROP OWNED BY {role}")
        on(db_url, f"DROP ROLE {role}")
