"""Engine set-up and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..config import ConfigError, private_file

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite:///` URLs and pick the async drivers."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def check_url(url: str) -> str:
    """The normalised URL, if the store can run on it: a SQLite file or PostgreSQL.

    An in-memory SQLite database is refused: every process (and the store's own writer and
    reader connections) must see one database, which only a file gives.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if not path or path == ":memory:" or "mode=memory" in path:
            raise ConfigError(
                f"database_url {url!r}: an in-memory SQLite database is not supported; "
                "use a file (sqlite:///path/to/videogate.db) or PostgreSQL."
            )
        return "sqlite+aiosqlite:///" + path
    if url.startswith("postgresql+asyncpg://"):
        return url
    raise ConfigError(f"database_url {url!r}: use sqlite:///<file> or postgresql://… (asyncpg).")


def make_engine(url: str) -> AsyncEngine:
    url = check_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        private_file(Path(path))  # SQLite gives its -wal and -shm files the same mode
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it doubled the round trips of every query (bench); recycle instead.
    return create_async_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _upgrade(conn: Connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


# Alembic does not serialise concurrent upgrades: two instances starting on one fresh
# PostgreSQL database both created `alembic_version` and one failed. So the upgrade runs
# under a transaction-scoped advisory lock; whoever waited then finds the schema current.
_MIGRATION_LOCK = 0x7667_6D69_6772  # "vgmigr"


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent; runs at start-up; instances
    starting together take turns)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if path:  # SQLite: processes on one file queue on an flock
        fd = os.open(path + ".migratelock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
        finally:
            os.close(fd)  # releases the lock
        return
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        await conn.run_sync(_upgrade)
