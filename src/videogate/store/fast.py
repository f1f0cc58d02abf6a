"""A direct-driver read path for the hottest query: one video row by its public id.

Retrieve, content, remix and delete all start with this lookup. Through SQLAlchemy's async
layer it costs a greenlet switch, cache-key generation and result processing (about half of a
store-served retrieve's CPU in the profile); here it is one prepared statement:

- SQLite: a read-only `sqlite3` connection used on the event loop thread. An indexed lookup in
  WAL mode takes microseconds, less than the thread hop aiosqlite would add.
- PostgreSQL: an asyncpg pool with its prepared-statement cache.

Writes still go through SQLAlchemy; this only reads what those writes committed.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import quote

import orjson

from .models import videos

Row = dict[str, Any]
COLUMNS = [c.name for c in videos.c]
JSON_COLUMNS = frozenset(c.name for c in videos.c if c.type.__class__.__name__ == "JSON")
SELECT_SQL = f"SELECT {', '.join(COLUMNS)} FROM videos WHERE id = "


def _decode(row: Row) -> Row:
    for name in JSON_COLUMNS:
        value = row.get(name)
        if isinstance(value, str | bytes):
            row[name] = orjson.loads(value)
    return row


class FastReader:
    async def video(self, video_id: str) -> Row | None:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class SqliteReader(FastReader):
    def __init__(self, path: str) -> None:
        uri = f"file:{quote(path)}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._sql = SELECT_SQL + "?"

    async def video(self, video_id: str) -> Row | None:
        cur = self._conn.execute(self._sql, (video_id,))
        found = cur.fetchone()
        return _decode(dict(zip(COLUMNS, found, strict=True))) if found else None

    async def aclose(self) -> None:
        self._conn.close()


class PostgresReader(FastReader):
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: Any = None
        self._sql = SELECT_SQL + "$1"

    async def _get_pool(self) -> Any:
        if self._pool is None:
            import asyncpg

            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=10)
        return self._pool

    async def video(self, video_id: str) -> Row | None:
        pool = await self._get_pool()
        found = await pool.fetchrow(self._sql, video_id)
        return _decode(dict(found)) if found is not None else None

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def reader_for(url: str) -> FastReader | None:
    """The fast reader for a normalised SQLAlchemy URL, or None to stay on SQLAlchemy."""
    if url.startswith("sqlite+aiosqlite:///"):
        path = url[len("sqlite+aiosqlite:///") :]
        return SqliteReader(path) if path and path != ":memory:" else None
    if url.startswith("postgresql+asyncpg://"):
        return PostgresReader("postgresql://" + url[len("postgresql+asyncpg://") :])
    return None
