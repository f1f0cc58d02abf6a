"""The key cache looks each key up once however many requests miss it together, and a key
change (`forget`) is never undone by a lookup that started before it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from videogate.api.auth import Authenticator


def _auth() -> Authenticator:
    return Authenticator(keys=None, jwt_secret="s", cache_seconds=60)  # type: ignore[arg-type]


async def _settle() -> None:
    for _ in range(5):  # let started tasks and the lookups they start run up to their wait
        await asyncio.sleep(0)


class Loader:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.value: dict[str, Any] | None = {"v": 1}
        self.fail = False

    async def __call__(self) -> dict[str, Any] | None:
        self.calls += 1
        value = self.value
        await self.release.wait()
        if self.fail:
            raise RuntimeError("store down")
        return value


async def test_concurrent_misses_share_one_lookup() -> None:
    auth, load = _auth(), Loader()
    waiters = [asyncio.create_task(auth._key_row("h:x", load)) for _ in range(20)]
    await _settle()
    waiters[0].cancel()  # one caller goes away; the others still get the row
    load.release.set()
    results = await asyncio.gather(*waiters[1:])
    assert load.calls == 1 and all(r == {"v": 1} for r in results)
    assert await auth._key_row("h:x", load) == {"v": 1} and load.calls == 1  # cached


async def test_forget_is_not_undone_by_an_older_lookup() -> None:
    auth, old, new = _auth(), Loader(), Loader()
    before = asyncio.create_task(auth._key_row("h:x", old))
    await _settle()
    auth.forget()  # e.g. the key was revoked meanwhile
    new.value = {"v": 2}
    after = asyncio.create_task(auth._key_row("h:x", new))
    await _settle()
    assert new.calls == 1  # a fresh lookup, not a share of the older one
    new.release.set()
    assert await after == {"v": 2}
    old.release.set()  # the older lookup ends last
    assert await before == {"v": 1}
    assert await auth._key_row("h:x", Loader()) == {"v": 2}  # the older row was not cached


async def test_a_failed_lookup_reaches_every_waiter_and_is_not_cached() -> None:
    auth, load = _auth(), Loader()
    load.fail = True
    waiters = [asyncio.create_task(auth._key_row("h:x", load)) for _ in range(3)]
    await _settle()
    load.release.set()
    for w in waiters:
        with pytest.raises(RuntimeError):
            await w
    load.fail = False
    assert await auth._key_row("h:x", load) == {"v": 1} and load.calls == 2
