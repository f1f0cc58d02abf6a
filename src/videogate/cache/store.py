"""Cache rows: entries, upstream jobs shared by several videos, and per-namespace counters.

Every step that creates or removes a reference to a shared job runs in one transaction with
the video row it concerns, and both sides touch the same rows in the same order (the entry,
then the job), so a hit racing a delete of its source either sees the source gone or is
counted before the delete decides what to remove.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..governance.prices import tier_of
from ..store.models import (
    cache_claims,
    cache_counters,
    cache_entries,
    cache_jobs,
    deletions,
    usage,
    videos,
)
from . import vectors

log = logging.getLogger("videogate.cache")
Row = dict[str, Any]
SWEEP_BATCH = 500
# A dimension whose HNSW index could not be built is tried again after this long.
INDEX_RETRY_SECONDS = 60.0
ClaimKey = tuple[str, str, str]  # namespace, scope, direct_key


class Unusable(Exception):
    """The entry's source video cannot serve a hit any more (failed, expired or gone)."""


def _dialect(conn: AsyncConnection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


def _upsert(conn: AsyncConnection, table: Any, values: Row, keys: list[str], changes: Row) -> Any:
    dialect = _dialect(conn)
    return (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_update(index_elements=keys, set_=changes)
    )


def _count(
    conn: AsyncConnection, namespace: str, *, hit_type: str | None = None, saved: float = 0.0
) -> Any:
    c = cache_counters.c
    now = time.time()
    if hit_type is None:
        return _upsert(
            conn,
            cache_counters,
            {"namespace": namespace, "misses": 1, "updated_at": now},
            ["namespace"],
            {"misses": c.misses + 1, "updated_at": now},
        )
    kind = "direct_hits" if hit_type == "direct" else "semantic_hits"
    return _upsert(
        conn,
        cache_counters,
        {"namespace": namespace, "hits": 1, kind: 1, "saved_usd": saved, "updated_at": now},
        ["namespace"],
        {
            "hits": c.hits + 1,
            kind: c[kind] + 1,
            "saved_usd": c.saved_usd + saved,
            "updated_at": now,
        },
    )


def _claimed(key: ClaimKey) -> tuple[Any, ...]:
    c = cache_claims.c
    return (c.namespace == key[0], c.scope == key[1], c.direct_key == key[2])


# When a delete must run `CacheStore.release`: the video is an entry's source, or its job
# is shared through the cache.
SHARED = (
    "EXISTS (SELECT 1 FROM cache_entries WHERE source_video_id = {id}) "
    "OR EXISTS (SELECT 1 FROM cache_jobs WHERE provider = {provider} AND upstream_id = {upstream})"
)


class CacheStore:
    def __init__(
        self,
        engine: AsyncEngine,
        index: str,
        max_candidates: int,
        pgvector: vectors.PgVector | None = None,
    ) -> None:
        self.engine = engine
        self.index = index
        self.max_candidates = max_candidates
        self.pgvector = pgvector
        # Dimensions known to have their HNSW index (pgvector); others are indexed when first
        # stored. Failed attempts: dimension -> when to try again.
        self._indexed: set[int] = set(pgvector.dimensions) if pgvector else set()
        self._index_retry: dict[int, float] = {}

    # -- lookups --------------------------------------------------------------------------
    async def direct_candidates(
        self, namespace: str, scope: str, direct_key: str, now: float, limit: int = 5
    ) -> list[tuple[str, str]]:
        e = cache_entries.c
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(e.id, e.source_video_id)
                .where(
                    e.namespace == namespace,
                    e.scope == scope,
                    e.direct_key == direct_key,
                    e.expires_at > now,
                )
                .order_by(e.created_at.desc())
                .limit(limit)
            )
            return [(r[0], r[1]) for r in res]

    async def semantic_candidates(
        self,
        namespace: str,
        scope: str,
        params_key: str,
        embedding_model: str,
        vector: list[float],
        now: float,
        limit: int = 5,
    ) -> list[tuple[str, str, float]]:
        async with self.engine.connect() as conn:
            return await vectors.nearest(
                conn,
                self.index,
                vector,
                namespace=namespace,
                scope=scope,
                params_key=params_key,
                embedding_model=embedding_model,
                now=now,
                scan=self.max_candidates,
                limit=limit,
                iterative_scan=self.pgvector is not None and self.pgvector.iterative_scan,
            )

    # -- writes ---------------------------------------------------------------------------
    async def add_entry(self, values: Row, claim: tuple[ClaimKey, str] | None = None) -> None:
        """Store an entry; with `claim` (key, holder), release that claim in the same
        transaction, so whoever sees the claim gone also sees the entry."""
        if values.get("embedding") is not None:
            await self._index_dimension(len(values["embedding"]))
            values = {**values, "embedding": vectors.pack(values["embedding"], self.index)}
        async with self.engine.begin() as conn:
            await conn.execute(insert(cache_entries).values(**values))
            if claim is not None:
                await conn.execute(_unclaim(*claim))

    async def _index_dimension(self, dims: int) -> None:
        """pgvector: the HNSW index for `dims`, the first time this process stores one."""
        if self.index != vectors.PGVECTOR or dims in self._indexed:
            return
        if time.monotonic() < self._index_retry.get(dims, 0.0):
            return
        try:
            await vectors.index_dimension(self.engine, dims)
        except DBAPIError as exc:
            log.warning(
                "could not create the HNSW index for %d dimensions (%s): those lookups scan "
                "exactly until it exists; retrying in %.0f s",
                dims,
                str(exc.orig).strip(),
                INDEX_RETRY_SECONDS,
            )
            self._index_retry[dims] = time.monotonic() + INDEX_RETRY_SECONDS
            return
        self._indexed.add(dims)
        self._index_retry.pop(dims, None)

    # -- claims on identical creates in flight ---------------------------------------------
    async def claim(self, key: ClaimKey, holder: str, now: float, expires_at: float) -> bool:
        """Hold `key` for `holder`: a new claim, or one whose holder let it expire (crashed).
        False while another holder's claim is live."""
        c = cache_claims.c
        async with self.engine.begin() as conn:
            res = await conn.execute(
                _dialect(conn)
                .insert(cache_claims)
                .values(
                    namespace=key[0],
                    scope=key[1],
                    direct_key=key[2],
                    holder=holder,
                    expires_at=expires_at,
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
            if res.rowcount == 1:
                return True
            # Taken over only if still expired when the row is locked (PostgreSQL re-checks
            # the condition on the newest version; SQLite holds the write lock).
            res = await conn.execute(
                update(cache_claims)
                .where(*_claimed(key), c.expires_at < now)
                .values(holder=holder, expires_at=expires_at, created_at=now)
            )
            return bool(res.rowcount == 1)

    async def claim_live(self, key: ClaimKey, now: float) -> bool:
        """Whether someone holds `key` (a claim that has not expired)."""
        c = cache_claims.c
        async with self.engine.connect() as conn:
            res = await conn.execute(select(c.holder).where(*_claimed(key), c.expires_at >= now))
            return res.first() is not None

    async def unclaim(self, key: ClaimKey, holder: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_unclaim(key, holder))

    async def drop_entry(self, entry_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(cache_entries).where(cache_entries.c.id == entry_id))

    async def count_miss(self, namespace: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_count(conn, namespace))

    async def create_hit(
        self,
        entry_id: str,
        now: float,
        build: Callable[[Row], Row | None],
        who: Row,
        namespace: str,
        hit_type: str,
        saved: float,
    ) -> Row | None:
        """Insert the caller's video sharing the entry's job, with its usage row; None when
        the entry is gone (then nothing is written) or its source cannot serve (then the
        entry is dropped)."""
        e = cache_entries.c
        try:
            async with self.engine.begin() as conn:
                # First a write on the entry: the row lock (PostgreSQL) or the write lock
                # (SQLite) orders this hit against a delete of the source, whose transaction
                # removes this entry.
                res = await conn.execute(
                    update(cache_entries)
                    .where(e.id == entry_id, e.expires_at > now)
                    .values(hits=e.hits + 1, last_hit_at=now)
                    .returning(e.source_video_id)
                )
                source_id = res.scalar()
                if source_id is None:
                    return None
                found = (
                    (await conn.execute(select(videos).where(videos.c.id == source_id)))
                    .mappings()
                    .first()
                )
                row = build(dict(found)) if found is not None else None
                if row is None:
                    raise Unusable(entry_id)
                j = cache_jobs.c
                await conn.execute(
                    _upsert(
                        conn,
                        cache_jobs,
                        {
                            "provider": row["provider"],
                            "upstream_id": row["upstream_id"],
                            "refs": 2,  # the source and this hit
                            "created_at": now,
                        },
                        ["provider", "upstream_id"],
                        {"refs": j.refs + 1},
                    )
                )
                await conn.execute(insert(videos).values(**row))
                await conn.execute(
                    insert(usage).values(
                        video_id=row["id"],
                        **who,
                        provider=row["provider"],
                        model=row["model_deployment"] or "",
                        seconds=float(row["seconds"] or 0),
                        resolution=tier_of(row["size"]),
                        estimate_usd=saved,  # what it would have cost; nothing is charged
                        cost_usd=0.0,
                        status="cache_hit",
                        claims=None,
                        created_at=now,
                        settled_at=now,
                    )
                )
                await conn.execute(_count(conn, namespace, hit_type=hit_type, saved=saved))
                return row
        except Unusable:
            await self.drop_entry(entry_id)
            return None

    @staticmethod
    async def release(conn: AsyncConnection, row: Row) -> int | None:
        """Inside the transaction deleting video `row`: drop its entries and its reference to
        a shared upstream job. Returns how many videos still share the job (then the outbox
        row is closed: neither the job nor any asset may go yet, and this row's assets wait
        in `held_assets`), or None when nothing is shared (then the outbox row deletes the
        job and every asset any sharer left behind)."""
        await conn.execute(
            delete(cache_entries).where(cache_entries.c.source_video_id == row["id"])
        )
        j = cache_jobs.c
        job = (j.provider == row["provider"], j.upstream_id == row["upstream_id"])
        res = await conn.execute(
            update(cache_jobs).where(*job).values(refs=j.refs - 1).returning(j.refs, j.held_assets)
        )
        found = res.first()
        if found is None:
            return None
        refs, held = int(found[0]), set(found[1] or [])
        keys = {a["key"] for a in (row.get("assets") or {}).values()}
        outbox = (deletions.c.video_id == row["id"], deletions.c.state == "pending")
        if refs > 0:
            await conn.execute(
                update(cache_jobs).where(*job).values(held_assets=sorted(held | keys))
            )
            await conn.execute(
                update(deletions)
                .where(*outbox)
                .values(
                    state="done",
                    done_at=time.time(),
                    assets=None,
                    last_error=f"kept: {refs} other video(s) share this job through the cache",
                )
            )
            return refs
        await conn.execute(delete(cache_jobs).where(*job))
        await conn.execute(update(deletions).where(*outbox).values(assets=sorted(held | keys)))
        return None

    async def shared_copy(self, row: Row, now: float) -> Row | None:
        """A mirrored copy of `row`'s job held by another video sharing it, if any."""
        j, v = cache_jobs.c, videos.c
        async with self.engine.connect() as conn:
            shared = await conn.execute(
                select(j.refs).where(
                    j.provider == row["provider"], j.upstream_id == row["upstream_id"]
                )
            )
            if shared.scalar() is None:
                return None
            res = await conn.execute(
                select(v.assets, v.expires_at)
                .where(
                    v.provider == row["provider"],
                    v.upstream_id == row["upstream_id"],
                    v.id != row["id"],
                    v.mirror_state == "done",
                    v.assets.is_not(None),
                    v.expires_at > now,
                )
                .limit(1)
            )
            found = res.mappings().first()
        return dict(found) if found is not None and found["assets"] else None

    # -- admin ----------------------------------------------------------------------------
    async def stats(self, namespace: str | None, now: float) -> list[Row]:
        """Per namespace: live entries and the counters."""
        e, c = cache_entries.c, cache_counters.c
        live = select(e.namespace, func.count()).where(e.expires_at > now).group_by(e.namespace)
        counters = select(cache_counters)
        if namespace is not None:
            live = live.where(e.namespace == namespace)
            counters = counters.where(c.namespace == namespace)
        async with self.engine.connect() as conn:
            entries = {r[0]: int(r[1]) for r in await conn.execute(live)}
            counts = {r["namespace"]: dict(r) for r in (await conn.execute(counters)).mappings()}
        out = []
        for ns in sorted(set(entries) | set(counts)):
            row = counts.get(ns, {})
            out.append(
                {
                    "namespace": ns,
                    "entries": entries.get(ns, 0),
                    "hits": int(row.get("hits") or 0),
                    "direct_hits": int(row.get("direct_hits") or 0),
                    "semantic_hits": int(row.get("semantic_hits") or 0),
                    "misses": int(row.get("misses") or 0),
                    "dollars_saved": round(float(row.get("saved_usd") or 0.0), 6),
                }
            )
        return out

    async def shared_jobs(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(cache_jobs))).scalar_one()
            )

    async def purge(self, namespace: str) -> int:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                delete(cache_entries).where(cache_entries.c.namespace == namespace)
            )
            return int(res.rowcount)

    async def sweep_expired(self, now: float) -> int:
        e = cache_entries.c
        batch = select(e.id).where(e.expires_at <= now).limit(SWEEP_BATCH).scalar_subquery()
        async with self.engine.begin() as conn:
            res = await conn.execute(delete(cache_entries).where(e.id.in_(batch)))
            # Claims of crashed holders (a live holder always deletes its own).
            await conn.execute(delete(cache_claims).where(cache_claims.c.expires_at < now))
            return int(res.rowcount)

    async def index_info(self) -> list[Row]:
        """The vector indexes behind semantic lookups (pgvector's HNSW), for the stats."""
        if self.index != vectors.PGVECTOR:
            return []
        async with self.engine.connect() as conn:
            return await vectors.hnsw_indexes(conn)


def _unclaim(key: ClaimKey, holder: str) -> Any:
    """Delete `holder`'s claim on `key`; nothing if it expired and someone else took it."""
    return delete(cache_claims).where(*_claimed(key), cache_claims.c.holder == holder)
