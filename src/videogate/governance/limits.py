"""Counters for budgets, rate limits, active jobs and video-seconds, reserved atomically.

A `Claim` asks for `amount` more of something capped at `limit` in one window. `acquire`
takes a whole list of claims (every level of the hierarchy, every kind of limit) all or
nothing, so concurrent creates can never overrun a cap between a check and an increment:

- SQL (default): one conditional upsert per claim (`used + reserved + amount <= limit`),
  claims in a fixed order, all in one transaction (`store/limits.py`); SQLite serialises
  writers, PostgreSQL re-checks the condition under the row lock.
- Redis (`redis_url` set, for many instances): one Lua script checks every claim and then
  applies them, atomically on the server.

`settle` later turns a reservation into use (or releases it).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any

from ..store.limits import LimitCounters

EPSILON = 1e-9


@dataclass(frozen=True)
class Claim:
    kind: str  # budget | rpm | active | vsec
    level: str  # key | team | customer
    entity: str  # the id at that level
    name: str  # its human name, for messages
    window: str
    amount: float
    limit: float
    reset_at: float | None  # when the window ends; None: never

    @property
    def scope(self) -> str:
        return f"{self.kind}:{self.level}:{self.entity}"

    def ttl(self) -> int:
        return 0 if self.reset_at is None else max(1, int(self.reset_at - time.time()) + 60)

    def to_json(self) -> dict[str, Any]:
        # not dataclasses.asdict: it deep-copies field by field (~3% of a create's CPU)
        return {name: getattr(self, name) for name in CLAIM_FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Claim:
        return cls(**data)


CLAIM_FIELDS = tuple(f.name for f in fields(Claim))


class Denied(Exception):
    def __init__(self, claim: Claim, used: float, reserved: float) -> None:
        super().__init__(claim.scope)
        self.claim = claim
        self.used = used
        self.reserved = reserved


class LimitBackend(ABC):
    @abstractmethod
    async def acquire(self, claims: list[Claim], ledger: dict[str, Any] | None = None) -> None:
        """Reserve every claim or none; raises `Denied` naming the first that does not fit."""

    @abstractmethod
    async def settle(self, claim: Claim, actual: float) -> None:
        """Drop the claim's reservation and count `actual` as used (0: a plain release)."""

    @abstractmethod
    async def current(self, claim: Claim) -> tuple[float, float]:
        """(used, reserved) in the claim's window."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def _ordered(claims: list[Claim]) -> list[Claim]:
    # One global order for locking, so two transactions never wait on each other in a cycle.
    return sorted(claims, key=lambda c: (c.scope, c.window))


class SqlLimits(LimitBackend):
    """Counters in the gateway's own database (the store's statements, `store/limits.py`)."""

    def __init__(self, counters: LimitCounters) -> None:
        self.counters = counters

    async def acquire(self, claims: list[Claim], ledger: dict[str, Any] | None = None) -> None:
        if not claims:
            if ledger is not None:  # nothing is limited, but a create's intent is kept
                await self.counters.record(ledger)
            return
        ordered = _ordered(claims)
        # A counter's first claim inserts it unchecked, so a claim over the cap alone is
        # refused here; the rest is one upsert per claim, with the ledger row in the same
        # transaction.
        too_big = [i for i, c in enumerate(ordered) if c.amount > c.limit + EPSILON]
        refused = too_big[0] if too_big else await self.counters.reserve(ordered, ledger)
        if refused is not None:
            used, reserved = await self.current(ordered[refused])
            raise Denied(ordered[refused], used, reserved)

    async def settle(self, claim: Claim, actual: float) -> None:
        await self.counters.settle(claim.scope, claim.window, claim.amount, actual)

    async def current(self, claim: Claim) -> tuple[float, float]:
        return await self.counters.current(claim.scope, claim.window)


ACQUIRE_LUA = """
local n = #KEYS
for i = 1, n do
  local amount = tonumber(ARGV[(i - 1) * 3 + 1])
  local limit = tonumber(ARGV[(i - 1) * 3 + 2])
  local used = tonumber(redis.call('HGET', KEYS[i], 'used') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  if used + reserved + amount > limit + 1e-9 then return i end
end
for i = 1, n do
  redis.call('HINCRBYFLOAT', KEYS[i], 'reserved', ARGV[(i - 1) * 3 + 1])
  local ttl = tonumber(ARGV[(i - 1) * 3 + 3])
  if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 0
"""

SETTLE_LUA = """
redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', -tonumber(ARGV[1]))
if tonumber(ARGV[2]) ~= 0 then redis.call('HINCRBYFLOAT', KEYS[1], 'used', ARGV[2]) end
return 0
"""


class RedisLimits(LimitBackend):
    def __init__(self, url: str, counters: LimitCounters) -> None:
        import redis.asyncio as aioredis

        self.counters = counters  # where the reservations ledger lives (the store)
        self.redis = aioredis.from_url(url, decode_responses=True)
        self._acquire = self.redis.register_script(ACQUIRE_LUA)
        self._settle = self.redis.register_script(SETTLE_LUA)

    @staticmethod
    def _key(claim: Claim) -> str:
        return f"vg:{claim.scope}:{claim.window}"

    async def acquire(self, claims: list[Claim], ledger: dict[str, Any] | None = None) -> None:
        ordered = _ordered(claims)
        if not ordered:
            if ledger is not None:  # nothing is limited, but a create's intent is kept
                await self.counters.record(ledger)
            return
        args: list[Any] = []
        for c in ordered:
            args += [c.amount, c.limit, c.ttl()]
        failed = int(await self._acquire(keys=[self._key(c) for c in ordered], args=args))
        if failed:
            claim = ordered[failed - 1]
            used, reserved = await self.current(claim)
            raise Denied(claim, used, reserved)
        if ledger is not None:
            try:  # held in Redis now: written down right after (the store is elsewhere)
                await self.counters.record(ledger)
            except BaseException:
                for claim in ordered:
                    await self.settle(claim, 0.0)
                raise

    async def settle(self, claim: Claim, actual: float) -> None:
        await self._settle(keys=[self._key(claim)], args=[claim.amount, actual])

    async def current(self, claim: Claim) -> tuple[float, float]:
        values = await self.redis.hmget(self._key(claim), ["used", "reserved"])
        return float(values[0] or 0), float(values[1] or 0)

    async def aclose(self) -> None:
        await self.redis.aclose()
