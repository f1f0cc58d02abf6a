"""The SQLite and PostgreSQL backends: the one implementation of each hot statement.

Through SQLAlchemy's async layer one statement costs a greenlet switch, cache-key generation,
parameter processing and its own BEGIN/COMMIT round trips: 350 µs of CPU for a one-statement
transaction against 110 µs for the same statement on a bare asyncpg connection (bench). So
the statements on the path of create, retrieve and delete run here, one round trip each:

- PostgreSQL: an asyncpg pool; a write that touches two tables is one statement with a
  data-modifying CTE, so it is atomic without BEGIN/COMMIT round trips.
- SQLite: reads on a read-only `sqlite3` connection on the event-loop thread (an indexed
  lookup in WAL mode takes microseconds, less than a thread hop). A write runs on the
  event-loop thread too when it can start at once: no write of this process is queued, the
  cross-process write lock is free and SQLite grants the write lock without waiting. Else it
  queues on a read-write connection in one dedicated thread, one hop per transaction
  (aiosqlite hops per statement), which may wait.

The SQL is generated from the table definitions in `models.py`, so columns are named once.
These statements exist only here (there is no SQLAlchemy twin of any of them); the rare
ones (leases, pages, a job ending with its webhook events, a delete that features hooked
into) run on SQLAlchemy Core in `videos.py` and `outbox.py`, each once.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import orjson
from sqlalchemy import JSON, Table

from ..video import ACTIVE_SQL
from .listing import page_sql
from .models import reservations, usage, videos

Row = dict[str, Any]
T = TypeVar("T")
COLUMNS = [c.name for c in videos.c]
JSON_COLUMNS = frozenset(c.name for c in videos.c if isinstance(c.type, JSON))
EPSILON = 1e-9
CHECKPOINT_EVERY = 500  # inline SQLite commits between WAL checkpoints (~2 MB of WAL)

# No delete hook registered: nothing ever makes a delete leave the one-round-trip path.
NOBODY = "(1 = 0)"
OUTBOX_COLUMNS = (
    "video_id",
    "provider",
    "upstream_id",
    "provider_key",
    "owner",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
    "assets",
)


def _decode(row: Row) -> Row:
    for name in JSON_COLUMNS:
        value = row.get(name)
        if isinstance(value, str | bytes):
            row[name] = orjson.loads(value)
    return row


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


class Insert:
    """`INSERT INTO table (every column but the sequence)` and its parameter tuple."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.columns = [c for c in table.c if c.name != "seq"]  # the sequence numbers itself
        self.names = ", ".join(f'"{c.name}"' for c in self.columns)
        self._json = [isinstance(c.type, JSON) for c in self.columns]
        self._default = [
            getattr(c.default, "arg", None)
            if c.default is not None and c.default.is_scalar
            else None
            for c in self.columns
        ]

    def sql(self, placeholder: Callable[[int], str], start: int = 0) -> str:
        marks = ", ".join(placeholder(start + i) for i in range(len(self.columns)))
        return f"INSERT INTO {self.table.name} ({self.names}) VALUES ({marks})"

    def params(self, row: Row) -> list[Any]:
        out = []
        for col, is_json, default in zip(self.columns, self._json, self._default, strict=True):
            value = row.get(col.name, default)
            out.append(_json(value) if is_json else value)
        return out


VIDEO_INSERT = Insert(videos)
USAGE_INSERT = Insert(usage)
LEDGER_INSERT = Insert(reservations)


def outbox_row(row: Row, next_attempt_at: float, now: float) -> Row:
    """The deletion-outbox row owed for deleting video `row` (columns `OUTBOX_COLUMNS`)."""
    return {
        "video_id": row["id"],
        "provider": row["provider"],
        "upstream_id": row["upstream_id"],
        "provider_key": row["provider_key"],
        "owner": row["owner"],
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": next_attempt_at,
        "created_at": now,
        "assets": [a["key"] for a in (row.get("assets") or {}).values()] or None,
    }


def _outbox_params(outbox: Row) -> list[Any]:
    return [_json(outbox[k]) if k == "assets" else outbox[k] for k in OUTBOX_COLUMNS]


def update_sql(keys: tuple[str, ...], mark: Callable[[int], str], leased: bool) -> str:
    sets = ", ".join(f'"{k}" = {mark(i)}' for i, k in enumerate(keys))
    n = len(keys)
    sql = f"UPDATE videos SET {sets} WHERE id = {mark(n)} AND status IN {ACTIVE_SQL}"
    return sql + (f" AND lease_owner = {mark(n + 1)}" if leased else "")


# The worker's due queues: each an index range of `ix_videos_due` / `ix_videos_mirror_due`
# read in `next_poll_at` order. One `status IN (...)` range instead made both stores sort every
# due row on each lease (SQLite: a temp B-tree, 7 ms a lease at 10^5 due rows; PostgreSQL: 600
# polls/s at 10^5 due rows against 1,125 at 10^4, bench.active_jobs), so each queue is read
# on its own and the heads merged.
DUE_QUEUES = ("status = 'queued'", "status = 'in_progress'", "mirror_state = 'pending'")


def lease_sql(mark: Callable[[str], str], lock: str) -> str:
    """Lease the `limit` earliest due, claimable rows of providers not in `skip` to `token`
    until `until`, in one statement; every column of the leased rows is returned."""
    free = f"(lease_until IS NULL OR lease_until < {mark('now')})"
    heads = [
        f"q{i} AS (SELECT seq, next_poll_at FROM videos WHERE {queue} "
        f"AND next_poll_at <= {mark('now')} AND {free} AND {mark('skip')} "
        f"ORDER BY next_poll_at LIMIT {mark('limit')}{lock})"
        for i, queue in enumerate(DUE_QUEUES)
    ]
    merged = " UNION ALL ".join(f"SELECT seq, next_poll_at FROM q{i}" for i in range(len(heads)))
    return (
        f"WITH {', '.join(heads)}, pick AS (SELECT seq FROM ({merged}) AS heads "
        f"ORDER BY next_poll_at LIMIT {mark('limit')}) "
        f"UPDATE videos SET lease_owner = {mark('token')}, lease_until = {mark('until')} "
        f"WHERE seq IN (SELECT seq FROM pick) AND {free} "
        f"RETURNING {', '.join(COLUMNS)}"
    )


def next_due_sql(mark: Callable[[str], str]) -> str:
    """The earliest `next_poll_at` after `now` in any due queue (NULL: none)."""
    heads = " UNION ALL ".join(
        f"SELECT * FROM (SELECT next_poll_at FROM videos WHERE {queue} "
        f"AND next_poll_at > {mark('now')} ORDER BY next_poll_at LIMIT 1) AS h{i}"
        for i, queue in enumerate(DUE_QUEUES)
    )
    return f"SELECT min(next_poll_at) FROM ({heads}) AS heads"


def claim_sql(mark: Callable[[int], str]) -> str:
    """Reserve `amount` in one counter if it fits under `limit`: an upsert whose update only
    applies under the cap; a new row is checked by the caller (amount ≤ limit)."""
    return (
        'INSERT INTO limit_counters AS c (scope, "window", used, reserved, expires_at) '
        f"VALUES ({mark(0)}, {mark(1)}, 0, {mark(2)}, {mark(3)}) "
        'ON CONFLICT (scope, "window") DO UPDATE SET reserved = c.reserved + excluded.reserved '
        f"WHERE c.used + c.reserved + excluded.reserved <= {mark(4)} RETURNING 1"
    )


def claim_params(claim: Any) -> list[Any]:
    return [claim.scope, claim.window, claim.amount, claim.reset_at, claim.limit + EPSILON]


def _pg(i: int) -> str:
    return f"${i + 1}"


def _qmark(_: int) -> str:
    return "?"


PageKey = tuple[bool, bool, bool, str]  # (owner, provider, after, order)
PageRows = list[tuple[str, str]]  # (a Video object's JSON text, its id)


class Backend:
    """The hot statements. `None` from a delete means: a registered hook is involved, take
    the transaction in `VideoStore.delete` that runs the hooks."""

    dialect = ""  # listing.page_sql's name of the SQL dialect

    def __init__(self) -> None:
        # `update_active` statements, one per (columns set, leased), built on first use
        self._updates: dict[tuple[tuple[str, ...], bool], str] = {}
        # list pages, one statement per (filters, order), built on first use
        self._pages: dict[PageKey, tuple[str, list[str]]] = {}
        self.involved = NOBODY  # set by `VideoStore.on_delete`: when a delete needs hooks

    def hooks_changed(self, involved: str) -> None:
        """The registered delete hooks' predicate (placeholders {id} {provider} {upstream}
        {owner}), or `NOBODY`."""
        self.involved = involved

    async def video(self, video_id: str) -> Row | None:
        raise NotImplementedError

    async def insert_video(self, row: Row, usage_row: Row | None) -> None:
        raise NotImplementedError

    async def update_active(self, video_id: str, values: Row, lease_token: str | None) -> bool:
        """Apply a poll's answer while the job is still active; True if the row changed."""
        raise NotImplementedError

    async def lease_due(
        self, token: str, limit: int, until: float, now: float, skip: list[str]
    ) -> list[Row]:
        """Lease up to `limit` due rows (polls and mirrors, earliest first) of providers not
        in `skip` to `token` until `until`: one statement; the leased rows."""
        raise NotImplementedError

    async def next_due(self, now: float) -> float | None:
        """When the next row falls due after `now` (None: no row is waiting)."""
        raise NotImplementedError

    async def update_polls(self, answers: list[tuple[str, Row, str]]) -> None:
        """`update_active` for many (video id, values, lease token), in one transaction."""
        raise NotImplementedError

    async def delete_plain(self, row: Row, outbox: Row) -> int | None:
        """Delete a video nobody shares or watches and queue its upstream deletion (`outbox`,
        from `outbox_row`); the outbox seq, 0 when the row was already gone, None when the
        full path must run."""
        raise NotImplementedError

    def _update(
        self,
        video_id: str,
        values: Row,
        lease_token: str | None,
        mark: Callable[[int], str],
    ) -> tuple[str, list[Any]]:
        """`update_active`'s statement (one per set of columns, kept) and parameters."""
        keys, leased = tuple(values), lease_token is not None
        sql = self._updates.get((keys, leased))
        if sql is None:
            sql = self._updates[(keys, leased)] = update_sql(keys, mark, leased)
        params = [_json(v) if k in JSON_COLUMNS else v for k, v in values.items()]
        params.append(video_id)
        if leased:
            params.append(lease_token)
        return sql, params

    async def page(
        self, *, owner: str | None, provider: str | None, after: str | None, limit: int, order: str
    ) -> PageRows | None:
        """Up to `limit` + 1 rows of the list after the video `after` (in `seq` order), each
        rendered by the database (`listing.py`); None when `after` names no video of
        `owner`'s."""
        raise NotImplementedError

    def _page(
        self, owner: str | None, provider: str | None, seq: int | None, limit: int, order: str
    ) -> tuple[str, list[Any]]:
        """The page statement (kept per filters and order) and its parameters."""
        key = (owner is not None, provider is not None, seq is not None, order)
        found = self._pages.get(key)
        if found is None:
            found = self._pages[key] = page_sql(
                self.dialect, owner=key[0], provider=key[1], after=key[2], order=order
            )
        sql, names = found
        values = {"owner": owner, "provider": provider, "after": seq, "limit": limit + 1}
        return sql, [values[n] for n in names]

    async def mark_done(self, seq: int, now: float) -> None:
        raise NotImplementedError

    async def claim(self, claims: list[Any], ledger: Row | None = None) -> int | None:
        """Reserve every claim or none; the index of the first that does not fit. With
        `ledger`, its reservations row is written in the same transaction (measured: a
        separate SQLAlchemy insert cost a create 2.3 ms of CPU, 2,031 -> 330 RPS)."""
        raise NotImplementedError

    async def insert_reservation(self, ledger: Row) -> None:
        """The reservations row alone (counters held elsewhere: Redis)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class SqliteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        uri = f"file:{quote(path)}?mode=ro"
        self._ro = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        self._ro.execute("PRAGMA busy_timeout=5000")
        self._path = path
        self._lock_fd = os.open(path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
        # its own open file, so the flock also excludes this process's writer thread
        self._inline_fd = os.open(path + ".writelock", os.O_RDWR)
        self._inline: sqlite3.Connection | None = None
        self._queued = 0  # writes handed to the writer thread, not yet finished
        self._unchecked = 0  # inline commits since the last WAL checkpoint
        self._rw: sqlite3.Connection | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="videogate-sqlite")
        self._select = f"SELECT {', '.join(COLUMNS)} FROM videos WHERE id = ?"
        self._insert_video = VIDEO_INSERT.sql(_qmark)
        self._insert_usage = USAGE_INSERT.sql(_qmark)
        self._insert_ledger = LEDGER_INSERT.sql(_qmark)
        names = ", ".join(OUTBOX_COLUMNS)
        marks = ", ".join("?" for _ in OUTBOX_COLUMNS)
        self._outbox = f"INSERT INTO deletions ({names}) VALUES ({marks})"
        self._claim = claim_sql(_qmark)
        self._shared = self._shared_sql()
        skip = "provider NOT IN (SELECT value FROM json_each(:skip))"
        self._lease = lease_sql(lambda name: skip if name == "skip" else f":{name}", "")
        self._next_due = next_due_sql(lambda name: f":{name}")

    def hooks_changed(self, involved: str) -> None:
        super().hooks_changed(involved)
        self._shared = self._shared_sql()

    def _shared_sql(self) -> str:
        # named: the predicates name any of the four values, in any order
        return "SELECT " + self.involved.format(
            id=":id", provider=":provider", upstream=":upstream", owner=":owner"
        )

    def _conn(self) -> sqlite3.Connection:
        if self._rw is None:
            self._rw = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._rw.execute("PRAGMA busy_timeout=30000")
            self._rw.execute("PRAGMA synchronous=NORMAL")
        return self._rw

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one IMMEDIATE transaction (rolled back if it raises): right here if that
        needs no wait, else on the writer thread."""
        if not self._queued:
            result = self._write_inline(work)
            if result is not _Wait.WAIT:
                return result
        self._queued += 1
        try:
            return await self._write_queued(work)
        finally:
            self._queued -= 1

    def _write_inline(self, work: Callable[[sqlite3.Connection], T]) -> T | Literal[_Wait.WAIT]:
        """`work`'s result if the transaction ran on this thread; `_Wait.WAIT` if it would
        have had to wait for another writer. Never blocks: a commit here takes tens of µs,
        a thread hop costs more, and waiting is the writer thread's job."""
        try:
            fcntl.flock(self._inline_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _Wait.WAIT  # another process is writing
        try:
            conn = self._inline_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # SQLITE_BUSY: a SQLAlchemy writer holds it
                return _Wait.WAIT
            result = _finish(conn, work)
        finally:
            fcntl.flock(self._inline_fd, fcntl.LOCK_UN)
        self._unchecked += 1
        if self._unchecked >= CHECKPOINT_EVERY:
            self._unchecked = 0
            self._writer.submit(self._checkpoint)
        return result

    def _inline_conn(self) -> sqlite3.Connection:
        if self._inline is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=0")  # busy means: queue it instead
            conn.execute("PRAGMA synchronous=NORMAL")
            # a checkpoint writes and fsyncs the database file: not on the event loop
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._inline = conn
        return self._inline

    def _checkpoint(self) -> None:
        """Fold the WAL into the database on the writer thread (PASSIVE: never blocks
        writers); inline commits skip SQLite's automatic one."""
        self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def _write_queued(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = self._conn()
            # Writers of other worker processes queue on an flock, woken the moment it is
            # free; SQLite's own busy handler polls with sleeps of up to 100 ms instead
            # (p99 of creates in the hundreds of ms with two workers, bench).
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                conn.execute("BEGIN IMMEDIATE")
                return _finish(conn, work)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

        return await asyncio.get_running_loop().run_in_executor(self._writer, run)

    async def video(self, video_id: str) -> Row | None:
        found = self._ro.execute(self._select, (video_id,)).fetchone()
        return _decode(dict(zip(COLUMNS, found, strict=True))) if found else None

    async def page(
        self, *, owner: str | None, provider: str | None, after: str | None, limit: int, order: str
    ) -> PageRows | None:
        # on the read-only connection, like `video`: 101 rows of 14 columns rendered by
        # json_object take ~0.15 ms (a thread hop and aiosqlite cost more, bench)
        seq = None
        if after is not None:
            sql = "SELECT seq FROM videos WHERE id = ?" + (" AND owner = ?" if owner else "")
            found = self._ro.execute(sql, (after, owner) if owner else (after,)).fetchone()
            if found is None:
                return None
            seq = found[0]
        sql, params = self._page(owner, provider, seq, limit, order)
        rows: PageRows = self._ro.execute(sql, params).fetchall()
        return rows

    async def insert_video(self, row: Row, usage_row: Row | None) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(self._insert_video, VIDEO_INSERT.params(row))
            if usage_row is not None:
                conn.execute(self._insert_usage, USAGE_INSERT.params(usage_row))

        await self._write(work)

    async def update_active(self, video_id: str, values: Row, lease_token: str | None) -> bool:
        sql, params = self._update(video_id, values, lease_token, _qmark)
        return await self._write(lambda conn: conn.execute(sql, params).rowcount == 1)

    async def delete_plain(self, row: Row, outbox: Row) -> int | None:
        def work(conn: sqlite3.Connection) -> int | None:
            shared = conn.execute(
                self._shared,
                {
                    "id": row["id"],
                    "provider": row["provider"],
                    "upstream": row["upstream_id"],
                    "owner": row["owner"],
                },
            ).fetchone()[0]
            if shared:
                return None
            if conn.execute("DELETE FROM videos WHERE id = ?", (row["id"],)).rowcount != 1:
                return 0
            cur = conn.execute(self._outbox, _outbox_params(outbox))
            return int(cur.lastrowid or 0)

        return await self._write(work)

    async def mark_done(self, seq: int, now: float) -> None:
        sql = "UPDATE deletions SET state = 'done', done_at = ? WHERE seq = ?"
        await self._write(lambda conn: conn.execute(sql, (now, seq)))

    async def claim(self, claims: list[Any], ledger: Row | None = None) -> int | None:
        def work(conn: sqlite3.Connection) -> int | None:
            for i, c in enumerate(claims):
                if conn.execute(self._claim, claim_params(c)).fetchone() is None:
                    raise _Refused(i)
            if ledger is not None:
                conn.execute(self._insert_ledger, LEDGER_INSERT.params(ledger))
            return None

        try:
            return await self._write(work)
        except _Refused as refused:
            return refused.index

    async def insert_reservation(self, ledger: Row) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(self._insert_ledger, LEDGER_INSERT.params(ledger))

        await self._write(work)

    async def lease_due(
        self, token: str, limit: int, until: float, now: float, skip: list[str]
    ) -> list[Row]:
        params = {"token": token, "until": until, "now": now, "limit": limit}
        params["skip"] = orjson.dumps(skip).decode()

        def work(conn: sqlite3.Connection) -> list[Row]:
            cur = conn.execute(self._lease, params)
            names = [d[0] for d in cur.description]
            return [_decode(dict(zip(names, r, strict=True))) for r in cur.fetchall()]

        return await self._write(work)

    async def next_due(self, now: float) -> float | None:
        found = self._ro.execute(self._next_due, {"now": now}).fetchone()
        return None if found is None or found[0] is None else float(found[0])

    async def update_polls(self, answers: list[tuple[str, Row, str]]) -> None:
        batches: dict[str, list[list[Any]]] = {}
        for video_id, values, lease_token in answers:
            sql, params = self._update(video_id, values, lease_token, _qmark)
            batches.setdefault(sql, []).append(params)

        def work(conn: sqlite3.Connection) -> None:
            for sql, rows in batches.items():
                conn.executemany(sql, rows)

        await self._write(work)

    async def aclose(self) -> None:
        self._ro.close()
        if self._inline is not None:
            self._inline.close()
        os.close(self._inline_fd)
        if self._rw is not None:
            rw = self._rw
            await asyncio.get_running_loop().run_in_executor(self._writer, rw.close)
        self._writer.shutdown(wait=True)
        os.close(self._lock_fd)


class _Wait(Enum):
    """What `_write_inline` answers when the write must queue instead."""

    WAIT = 0


def _finish(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work` in the transaction just begun on `conn`: committed, or rolled back if it raises."""
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class _Refused(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


class PostgresBackend(Backend):
    dialect = "pg"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self._dsn = dsn
        self._pool: Any = None
        self._select = f"SELECT {', '.join(COLUMNS)} FROM videos WHERE id = $1"
        self._insert_video = VIDEO_INSERT.sql(_pg)
        n = len(VIDEO_INSERT.columns)
        # Both rows in one statement: atomic without a transaction's extra round trips.
        self._insert_both = f"WITH v AS ({self._insert_video}) {USAGE_INSERT.sql(_pg, start=n)}"
        self._delete = self._delete_sql()
        self._claim = claim_sql(_pg)
        self._insert_ledger = LEDGER_INSERT.sql(_pg)
        # other workers' leases are skipped, not waited for; `skip` is a text[]
        marks = {"token": "$1", "until": "$2", "now": "$3", "limit": "$4"}
        marks["skip"] = "provider <> ALL($5::text[])"
        self._lease = lease_sql(marks.__getitem__, " FOR UPDATE SKIP LOCKED")
        self._next_due = next_due_sql(lambda _: "$1")

    def hooks_changed(self, involved: str) -> None:
        super().hooks_changed(involved)
        self._delete = self._delete_sql()

    def _delete_sql(self) -> str:
        """Delete + outbox row in one statement, unless a registered hook is involved."""
        names = ", ".join(OUTBOX_COLUMNS)
        picks = ", ".join(f"${i + 5}" for i in range(len(OUTBOX_COLUMNS)))
        shared = self.involved.format(id="$1", provider="$2", upstream="$3", owner="$4")
        return (
            # the casts type every parameter, whichever of them the predicates name
            f"WITH s AS (SELECT {shared} AS shared, $2::text AS p, $3::text AS u, "
            "$4::text AS o), "
            "v AS (DELETE FROM videos WHERE id = $1 AND NOT (SELECT shared FROM s) RETURNING 1), "
            f"d AS (INSERT INTO deletions ({names}) SELECT {picks} FROM v RETURNING seq) "
            "SELECT (SELECT shared FROM s), (SELECT seq FROM d)"
        )

    async def _get_pool(self) -> Any:
        if self._pool is None:
            import asyncpg

            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=20)
        return self._pool

    async def video(self, video_id: str) -> Row | None:
        pool = await self._get_pool()
        found = await pool.fetchrow(self._select, video_id)
        return _decode(dict(found)) if found is not None else None

    async def page(
        self, *, owner: str | None, provider: str | None, after: str | None, limit: int, order: str
    ) -> PageRows | None:
        pool = await self._get_pool()
        seq = None
        if after is not None:
            sql = "SELECT seq FROM videos WHERE id = $1" + (" AND owner = $2" if owner else "")
            seq = await pool.fetchval(sql, *((after, owner) if owner else (after,)))
            if seq is None:
                return None
        sql, params = self._page(owner, provider, seq, limit, order)
        return [(r[0], r[1]) for r in await pool.fetch(sql, *params)]

    async def insert_video(self, row: Row, usage_row: Row | None) -> None:
        pool = await self._get_pool()
        if usage_row is None:
            await pool.execute(self._insert_video, *VIDEO_INSERT.params(row))
        else:
            params = VIDEO_INSERT.params(row) + USAGE_INSERT.params(usage_row)
            await pool.execute(self._insert_both, *params)

    async def update_active(self, video_id: str, values: Row, lease_token: str | None) -> bool:
        sql, params = self._update(video_id, values, lease_token, _pg)
        pool = await self._get_pool()
        status: str = await pool.execute(sql, *params)
        return status == "UPDATE 1"

    async def delete_plain(self, row: Row, outbox: Row) -> int | None:
        pool = await self._get_pool()
        found = await pool.fetchrow(
            self._delete,
            row["id"],
            row["provider"],
            row["upstream_id"],
            row["owner"],
            *_outbox_params(outbox),
        )
        if found[0]:
            return None
        return int(found[1] or 0)

    async def mark_done(self, seq: int, now: float) -> None:
        pool = await self._get_pool()
        await pool.execute(
            "UPDATE deletions SET state = 'done', done_at = $1 WHERE seq = $2", now, seq
        )

    async def claim(self, claims: list[Any], ledger: Row | None = None) -> int | None:
        pool = await self._get_pool()
        if len(claims) == 1 and ledger is None:  # one statement, no transaction
            found = await pool.fetchrow(self._claim, *claim_params(claims[0]))
            return None if found is not None else 0
        try:
            async with pool.acquire() as conn, conn.transaction():  # all or none
                for i, c in enumerate(claims):
                    if await conn.fetchrow(self._claim, *claim_params(c)) is None:
                        raise _Refused(i)
                if ledger is not None:
                    await conn.execute(self._insert_ledger, *LEDGER_INSERT.params(ledger))
        except _Refused as refused:
            return refused.index
        return None

    async def insert_reservation(self, ledger: Row) -> None:
        pool = await self._get_pool()
        await pool.execute(self._insert_ledger, *LEDGER_INSERT.params(ledger))

    async def lease_due(
        self, token: str, limit: int, until: float, now: float, skip: list[str]
    ) -> list[Row]:
        pool = await self._get_pool()
        found = await pool.fetch(self._lease, token, until, now, limit, skip)
        return [_decode(dict(r)) for r in found]

    async def next_due(self, now: float) -> float | None:
        pool = await self._get_pool()
        found = await pool.fetchval(self._next_due, now)
        return None if found is None else float(found)

    async def update_polls(self, answers: list[tuple[str, Row, str]]) -> None:
        batches: dict[str, list[list[Any]]] = {}
        for video_id, values, lease_token in answers:
            sql, params = self._update(video_id, values, lease_token, _pg)
            batches.setdefault(sql, []).append(params)
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            for sql, rows in batches.items():
                await conn.executemany(sql, rows)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def backend_for(url: str) -> Backend:
    """The backend for a normalised SQLAlchemy URL (`store.db.check_url` vetted it)."""
    if url.startswith("sqlite+aiosqlite:///"):
        return SqliteBackend(url[len("sqlite+aiosqlite:///") :])
    return PostgresBackend("postgresql://" + url[len("postgresql+asyncpg://") :])
