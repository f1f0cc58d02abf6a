"""SQLite hot-path writes: on the event loop when nothing is in the way, else queued on the
writer thread, in order, without blocking the loop."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from videogate.store import backend as fast
from videogate.store.backend import SqliteBackend as SqlitePath

MAIN = threading.get_ident()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlitePath]:
    path = str(tmp_path / "v.db")
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER, thread INTEGER)")
    setup.close()
    fp = SqlitePath(path)
    yield fp
    await fp.aclose()


def insert(x: int, seen: list[int] | None = None) -> Any:
    def work(conn: sqlite3.Connection) -> int:
        if seen is not None:
            seen.append(x)
        conn.execute("INSERT INTO t VALUES (?, ?)", (x, threading.get_ident()))
        return x

    return work


def rows(fp: SqlitePath) -> list[tuple[int, int]]:
    return list(fp._ro.execute("SELECT x, thread FROM t ORDER BY rowid"))


async def test_an_uncontended_write_runs_on_the_loop(store: SqlitePath) -> None:
    assert await store._write(insert(1)) == 1
    assert rows(store) == [(1, MAIN)]


async def test_a_write_waits_for_another_process_on_the_thread(
    store: SqlitePath, tmp_path: Path
) -> None:
    other = os.open(str(tmp_path / "v.db.writelock"), os.O_RDWR)  # as another process would
    fcntl.flock(other, fcntl.LOCK_EX)
    seen: list[int] = []
    first = asyncio.create_task(store._write(insert(1, seen)))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(store._write(insert(2, seen)))  # must not jump the queue
    ticks = 0
    for _ in range(10):  # the loop keeps running while both wait
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 10 and not first.done() and not second.done() and seen == []
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    assert await first == 1 and await second == 2
    assert seen == [1, 2]
    assert [x for x, _ in rows(store)] == [1, 2]
    assert all(thread != MAIN for _, thread in rows(store))
    assert await store._write(insert(3)) == 3  # and once the queue is empty, inline again
    assert rows(store)[-1] == (3, MAIN)


async def test_a_write_waits_for_a_sqlalchemy_writer_on_the_thread(
    store: SqlitePath, tmp_path: Path
) -> None:
    other = sqlite3.connect(str(tmp_path / "v.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock, not the flock
    pending = asyncio.create_task(store._write(insert(1)))
    await asyncio.sleep(0.1)
    assert not pending.done()
    other.execute("COMMIT")
    other.close()
    assert await pending == 1
    assert rows(store)[0][1] != MAIN


async def test_a_failed_write_rolls_back_and_frees_the_lock(store: SqlitePath) -> None:
    def fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (9, 0)")
        raise ValueError("refused")

    with pytest.raises(ValueError):
        await store._write(fails)
    assert rows(store) == []
    assert await store._write(insert(1)) == 1
    assert rows(store) == [(1, MAIN)]


async def test_checkpoints_run_on_the_writer_thread(
    store: SqlitePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fast, "CHECKPOINT_EVERY", 3)
    ran: list[int] = []
    real = store._checkpoint

    def spy() -> None:
        ran.append(threading.get_ident())
        real()

    monkeypatch.setattr(store, "_checkpoint", spy)
    for i in range(7):
        await store._write(insert(i))
    await asyncio.get_running_loop().run_in_executor(store._writer, lambda: None)  # drain
    assert len(ran) == 2 and MAIN not in ran
