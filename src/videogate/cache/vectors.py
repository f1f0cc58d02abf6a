"""Nearest cached prompts: pgvector's HNSW on PostgreSQL, sqlite-vec on SQLite.

A semantic hit must match everything but the wording, so candidates are those of one
namespace, sharing scope, parameter set and embedding model. Vectors are unit length, so
cosine similarity is a dot product.

- PostgreSQL with pgvector (`pgvector`): the `real[]` column is indexed as it is, one partial
  expression HNSW index per dimension stored (pgvector's pattern for mixed dimensions),
  `ix_cache_hnsw_<N>`: `USING hnsw ((embedding::vector(N)) vector_cosine_ops) WHERE
  array_length(embedding, 1) = N` (`halfvec(N)` above 2,000 dimensions, the limit of
  `vector` in HNSW; not indexed above 4,000). No extra column, so rows written by any
  version of the gateway are indexed. The lookup orders by the same expression with `<=>`;
  the other filters are applied during an iterative index scan (pgvector >= 0.8, strict
  order), so a selective filter still returns rows. For a small group the planner prefers
  the b-tree on the filters and an exact sort, which is right too. If the index scan gives
  nothing, the newest `max_semantic_candidates` are scored exactly.

Without pgvector, the newest `max_semantic_candidates` candidates are scored:

- SQLite: sqlite-vec's `vec_distance_cosine` over float32 blobs. Python builds without
  loadable-extension support (pyenv's default) cannot call `load_extension`, so the
  extension's entry point is registered with `sqlite3_auto_extension`, SQLite's public C API,
  and every connection opened afterwards has it.
- PostgreSQL without the extension (`postgresql`): `real[]` columns scored with `unnest` in
  SQL; linear in the candidates, which the cap bounds.
- Fallback (SQLite without sqlite-vec): the same candidates scored in Python.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import logging
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("videogate.cache")
SQLITE_VEC = "sqlite-vec"
POSTGRES = "postgresql"
PGVECTOR = "pgvector"
PYTHON = "python"
# HNSW indexes `vector` up to 2,000 dimensions and `halfvec` up to 4,000 (pgvector 0.7+).
HNSW_MAX_VECTOR = 2000
HNSW_MAX_HALFVEC = 4000
# Serialises schema changes for the cache across gateway instances (pg_advisory_xact_lock).
_SCHEMA_LOCK = 0x76676361636865  # "vgcache"
_registered: list[Any] = []  # keeps the loaded extension's handle alive

_CANDIDATES = """
    SELECT id, source_video_id, embedding FROM cache_entries
    WHERE namespace = :ns AND scope = :scope AND params_key = :pk AND embedding_model = :em
      AND embedding IS NOT NULL AND expires_at > :now
    ORDER BY created_at DESC LIMIT :scan
"""
_SCORED = {
    SQLITE_VEC: "1.0 - vec_distance_cosine(c.embedding, :q)",
    POSTGRES: "(SELECT sum(a::float8 * b) FROM unnest(c.embedding, CAST(:q AS real[])) AS t(a, b))",
}


def register_sqlite_vec() -> bool:
    """Make sqlite-vec part of every SQLite connection opened from now on (idempotent)."""
    if _registered:
        return True
    if importlib.util.find_spec("sqlite_vec") is None:
        return False
    sqlite_vec: Any = importlib.import_module("sqlite_vec")
    base = Path(sqlite_vec.loadable_path())
    found = [p for p in (base.with_suffix(s) for s in (".so", ".dylib", ".dll")) if p.exists()]
    spec = importlib.util.find_spec("_sqlite3")
    if not found or spec is None or spec.origin is None:
        return False
    try:
        sqlite = ctypes.CDLL(spec.origin)  # resolves the libsqlite3 that Python itself uses
        sqlite.sqlite3_compileoption_used.argtypes = [ctypes.c_char_p]
        if sqlite.sqlite3_compileoption_used(b"OMIT_LOAD_EXTENSION"):
            return False  # extensions would get no API table
        extension = ctypes.CDLL(str(found[0]))
        sqlite.sqlite3_auto_extension.argtypes = [ctypes.c_void_p]
        entry = ctypes.cast(extension.sqlite3_vec_init, ctypes.c_void_p)
        if sqlite.sqlite3_auto_extension(entry) != 0:
            return False
    except (OSError, AttributeError) as exc:
        log.warning("sqlite-vec could not be registered (%s); scoring in Python", exc)
        return False
    _registered.append(extension)
    return True


def pack(vector: list[float], index: str) -> Any:
    """The column value: a float32 blob on SQLite, a list for PostgreSQL's real[]."""
    return vector if index in (POSTGRES, PGVECTOR) else array("f", vector).tobytes()


def unpack(value: Any) -> list[float]:
    if isinstance(value, bytes | bytearray | memoryview):
        return array("f", bytes(value)).tolist()
    return [float(v) for v in value]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def nearest(
    conn: AsyncConnection,
    index: str,
    vector: list[float],
    *,
    namespace: str,
    scope: str,
    params_key: str,
    embedding_model: str,
    now: float,
    scan: int,
    limit: int,
    iterative_scan: bool = False,
) -> list[tuple[str, str, float]]:
    """(entry id, source video id, similarity) of the closest candidates, best first."""
    params: dict[str, Any] = {
        "ns": namespace,
        "scope": scope,
        "pk": params_key,
        "em": embedding_model,
        "now": now,
        "scan": scan,
    }
    if index == PGVECTOR:
        params["q"] = vector
        dims = len(vector)
        queries = [exact_sql(dims, limit)]
        if pg_type(dims)[1] is not None:
            queries.insert(0, hnsw_sql(dims, limit))
            if iterative_scan:  # SET LOCAL: this transaction only (pgvector >= 0.8)
                await conn.execute(text(_ITERATIVE))
        for sql in queries:
            res = await conn.execute(text(sql), params)
            found = [(r[0], r[1], float(r[2])) for r in res if r[2] is not None]
            if found:
                return found
        return []
    if index in _SCORED:
        params.update(q=pack(vector, index), k=limit)
        res = await conn.execute(
            text(
                f"SELECT c.id, c.source_video_id, {_SCORED[index]} AS sim "
                f"FROM ({_CANDIDATES}) AS c ORDER BY sim DESC LIMIT :k"
            ),
            params,
        )
        return [(r[0], r[1], float(r[2])) for r in res if r[2] is not None]
    rows = (await conn.execute(text(_CANDIDATES), params)).all()
    scored = [(r[0], r[1], dot(vector, unpack(r[2]))) for r in rows]
    scored.sort(key=lambda item: item[2], reverse=True)
    return scored[:limit]


# -- pgvector -------------------------------------------------------------------------------
# Dimensions and limits are inlined as integer literals: a partial index is only used when the
# planner can prove that the query implies its predicate, which it cannot for a bound
# parameter (generic plans), and the cast's dimensions are part of the indexed expression.
_ITERATIVE = "SELECT set_config('hnsw.iterative_scan', 'strict_order', true)"
_FILTERS = (
    "array_length(embedding, 1) = {dims} AND namespace = :ns AND scope = :scope"
    " AND params_key = :pk AND embedding_model = :em AND expires_at > :now"
)
# An index is built in the request that first stores its dimension: give up (and retry on a
# later store) rather than queue behind a long transaction holding the table.
_INDEX_LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class PgVector:
    """pgvector as found (or created) in the database at start."""

    version: str
    dimensions: frozenset[int]  # those with an HNSW index already

    @property
    def iterative_scan(self) -> bool:
        return _version(self.version) >= (0, 8)


def _version(text_: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text_.split("-")[0].split(".") if p.isdigit())


def pg_type(dims: int) -> tuple[str, str | None]:
    """The cast type for `dims`-dimensional vectors and the HNSW operator class (None: too
    many dimensions for any HNSW index; searched exactly)."""
    dims = int(dims)
    if dims <= HNSW_MAX_VECTOR:
        return f"vector({dims})", "vector_cosine_ops"
    if dims <= HNSW_MAX_HALFVEC:
        return f"halfvec({dims})", "halfvec_cosine_ops"
    return f"vector({dims})", None


def hnsw_name(dims: int) -> str:
    return f"ix_cache_hnsw_{int(dims)}"


def _distance(dims: int, column: str = "embedding") -> str:
    kind, _ = pg_type(dims)
    return f"CAST({column} AS {kind}) <=> CAST(CAST(:q AS real[]) AS {kind})"


def hnsw_sql(dims: int, limit: int) -> str:
    """Approximate nearest neighbours through `ix_cache_hnsw_<dims>`: ORDER BY the indexed
    expression's cosine distance, LIMIT."""
    distance = _distance(dims)
    return (
        f"SELECT id, source_video_id, 1 - ({distance}) AS sim FROM cache_entries "
        f"WHERE {_FILTERS.format(dims=int(dims))} ORDER BY {distance} LIMIT {int(limit)}"
    )


def exact_sql(dims: int, limit: int) -> str:
    """The newest `:scan` candidates scored exactly (when the index scan found nothing)."""
    return (
        f"SELECT c.id, c.source_video_id, 1 - ({_distance(dims, 'c.embedding')}) AS sim "
        f"FROM (SELECT id, source_video_id, embedding FROM cache_entries "
        f"WHERE {_FILTERS.format(dims=int(dims))} ORDER BY created_at DESC LIMIT :scan) AS c "
        f"ORDER BY sim DESC LIMIT {int(limit)}"
    )


def create_index_sql(dims: int) -> str | None:
    """`CREATE INDEX IF NOT EXISTS ix_cache_hnsw_<dims> …`, None above HNSW's limit."""
    kind, ops = pg_type(dims)
    if ops is None:
        return None
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_name(dims)} ON cache_entries "
        f"USING hnsw ((CAST(embedding AS {kind})) {ops}) "
        f"WHERE array_length(embedding, 1) = {int(dims)}"
    )


async def _lock_schema(conn: AsyncConnection) -> None:
    """Serialises the cache's DDL across gateway instances until the transaction ends: the
    second instance waits, then finds the work done (IF NOT EXISTS) instead of failing on a
    duplicate catalog row."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})


async def _extension_version(conn: AsyncConnection) -> str | None:
    res = await conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    version = res.scalar()
    return str(version) if version is not None else None


async def prepare_pgvector(engine: AsyncEngine) -> PgVector | None:
    """pgvector for the cache, or None (with a warning) when it cannot be used: the caller
    then scores candidates by brute force.

    Migration 0005 creates the extension when the server has it. If it was installed on the
    server only later, it is created here (under the advisory lock, in a savepoint: a role
    that may not create it leaves brute force), and the dimensions already stored are
    indexed once."""
    try:
        async with engine.connect() as conn:
            version = await _extension_version(conn)
        if version is None:
            version = await _create_extension(engine)
            if version is None:
                return None
        if _version(version) < (0, 5):
            log.warning("pgvector %s has no HNSW index (0.5.0+ has): brute force instead", version)
            return None
        async with engine.connect() as conn:
            found = await hnsw_indexes(conn)
    except DBAPIError as exc:
        log.warning("pgvector set-up failed (%s): brute force instead", str(exc.orig).strip())
        return None
    dims = frozenset(int(i["dimensions"]) for i in found if i["dimensions"] is not None)
    return PgVector(version, dims)


async def _create_extension(engine: AsyncEngine) -> str | None:
    async with engine.begin() as conn:
        available = await conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        )
        if available.scalar() is None:
            log.warning(
                "pgvector is not installed on this PostgreSQL server: the semantic cache "
                "scores the newest candidates by brute force (docs/cache.md)"
            )
            return None
        await _lock_schema(conn)
        try:
            async with conn.begin_nested():
                await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        except DBAPIError as exc:
            log.warning(
                "CREATE EXTENSION vector failed (%s): pgvector is not a trusted extension, so "
                "a superuser must create it once in this database; until then the semantic "
                "cache scores candidates by brute force",
                str(exc.orig).strip(),
            )
            return None
        stored = await conn.execute(
            text(
                "SELECT DISTINCT array_length(embedding, 1) FROM cache_entries "
                "WHERE embedding IS NOT NULL"
            )
        )
        for (dims,) in stored.all():
            if dims and (sql := create_index_sql(int(dims))) is not None:
                await conn.execute(text(sql))
        return await _extension_version(conn)


async def index_dimension(engine: AsyncEngine, dims: int) -> bool:
    """The HNSW index for `dims`-dimensional embeddings, created the first time one is stored
    (by any instance; the others find it there). False when there is none (too many
    dimensions for HNSW)."""
    sql = create_index_sql(dims)
    if sql is None:
        return False
    async with engine.begin() as conn:
        found = await conn.execute(text("SELECT to_regclass(:n)"), {"n": hnsw_name(dims)})
        if found.scalar() is not None:
            return True
        await conn.execute(text(f"SET LOCAL lock_timeout = '{_INDEX_LOCK_TIMEOUT}'"))
        await _lock_schema(conn)
        log.info("creating %s for %d-dimension embeddings", hnsw_name(dims), dims)
        await conn.execute(text(sql))
    return True


async def hnsw_indexes(conn: AsyncConnection) -> list[dict[str, Any]]:
    """The cache's HNSW indexes, for the stats."""
    res = await conn.execute(
        text(
            "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_am a ON a.oid = i.relam WHERE t.relname = 'cache_entries' "
            "AND t.relnamespace = to_regnamespace(current_schema()) AND a.amname = 'hnsw' "
            "ORDER BY i.relname"
        )
    )
    out = []
    for name, size in res:
        tail = str(name).removeprefix("ix_cache_hnsw_")
        out.append(
            {"name": name, "dimensions": int(tail) if tail.isdigit() else None, "bytes": size}
        )
    return out
