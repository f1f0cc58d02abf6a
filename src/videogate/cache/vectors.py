"""Nearest cached prompts: sqlite-vec on SQLite, in-database brute force on PostgreSQL.

Candidates are first narrowed to one namespace, sharing scope, parameter set and embedding
model (a semantic hit must match everything but the wording), and to the newest
`max_semantic_candidates` of those; only they are scored. Vectors are unit length, so cosine
similarity is a dot product.

- SQLite: sqlite-vec's `vec_distance_cosine` over float32 blobs. Python builds without
  loadable-extension support (pyenv's default) cannot call `load_extension`, so the
  extension's entry point is registered with `sqlite3_auto_extension`, SQLite's public C API,
  and every connection opened afterwards has it.
- PostgreSQL: `real[]` columns scored with `unnest` in SQL (no pgvector package for this
  Debian release); linear in the candidates, which the cap bounds.
- Fallback (SQLite without sqlite-vec): the same candidates scored in Python.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import logging
from array import array
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger("videogate.cache")
SQLITE_VEC = "sqlite-vec"
POSTGRES = "postgresql"
PYTHON = "python"
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
    return vector if index == POSTGRES else array("f", vector).tobytes()


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
