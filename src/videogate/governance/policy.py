"""Enforcing governance on a create, and settling what a job really cost when it ends.

A request passes every level above it: the key, its team, the team's customer. Each level
may cap dollars per period, requests per minute, concurrently active jobs and video-seconds
per day; all of them are claimed in one atomic `acquire`. The estimate is reserved at create
and settled to the real cost when the job ends (failed jobs are free unless the price says
the provider bills failures). Every job gets a usage row.
"""

from __future__ import annotations

import calendar
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..errors import GatewayError
from ..store.models import customers, teams
from ..store.models import usage as usage_table
from ..store.reservations import ReservationLedger, ledger_claims, split_ledger
from ..telemetry import metrics
from ..telemetry.logs import note_cost
from ..video import Video
from .limits import Claim, Denied, LimitBackend
from .prices import PriceTable, Reported, Usage, tier_of

log = logging.getLogger("videogate.governance")

Row = dict[str, Any]
LEVELS = ("key", "team", "customer")
ESTIMATE_SECONDS = 8.0  # when the request names no duration
CACHE_SECONDS = 1.0


def budget_window(period: str | None, now: float) -> tuple[str, float | None]:
    """(window name, when it resets) for a budget period, in UTC."""
    return _window(period, int(now // 86400))  # every window starts at a UTC midnight


@functools.lru_cache(maxsize=64)
def _window(period: str | None, day_number: int) -> tuple[str, float | None]:
    """Memoised per UTC day: the date arithmetic ran several times on every create."""
    day = datetime.fromtimestamp(day_number * 86400, tz=UTC)
    if period == "daily":
        return day.strftime("%Y-%m-%d"), (day + timedelta(days=1)).timestamp()
    if period == "weekly":
        monday = day - timedelta(days=day.weekday())
        return "w" + monday.strftime("%Y-%m-%d"), (monday + timedelta(days=7)).timestamp()
    if period == "monthly":
        days = calendar.monthrange(day.year, day.month)[1]
        start = day.replace(day=1)
        return start.strftime("%Y-%m"), (start + timedelta(days=days)).timestamp()
    return "all", None


@dataclass
class Subject:
    """The key making a request, and the team and customer above it (any may be None)."""

    key: Row | None
    team: Row | None
    customer: Row | None

    def levels(self) -> list[tuple[str, Row]]:
        return [
            (name, row)
            for name, row in zip(LEVELS, (self.key, self.team, self.customer), strict=True)
            if row is not None
        ]


# (reservation id, its claims, the create's intent) -> adopted (the claims are taken over)
Resolver = Callable[[str, list[Any], dict[str, Any]], Awaitable[bool]]


@dataclass
class Reservation:
    claims: list[Claim]
    estimate_usd: float
    seconds: float
    id: str | None = None  # its ledger row, when it claimed anything or keeps an intent
    intent: dict[str, Any] | None = None  # what its create is about to ask (orphans.py)


def _fmt_time(ts: float | None) -> str:
    if ts is None:
        return "never (no reset period)"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Governance:
    def __init__(
        self,
        engine: AsyncEngine,
        limits: LimitBackend,
        prices: PriceTable,
        ledger: ReservationLedger | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.prices = prices
        self.ledger = ledger or ReservationLedger(engine)
        self._cache: dict[str, tuple[float, Row | None]] = {}

    def forget(self) -> None:
        """Drop cached team and customer rows (governance changed somewhere)."""
        self._cache.clear()

    # -- who ------------------------------------------------------------------------------
    async def _row(self, table: Any, row_id: str | None) -> Row | None:
        if not row_id:
            return None
        cache_key = f"{table.name}:{row_id}"
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        async with self.engine.connect() as conn:
            found = (await conn.execute(select(table).where(table.c.id == row_id))).mappings()
            row = next(iter(found), None)
        value = dict(row) if row is not None else None
        self._cache[cache_key] = (time.monotonic() + CACHE_SECONDS, value)
        return value

    async def subject(self, key_row: Row | None) -> Subject:
        if key_row is None:
            return Subject(None, None, None)
        team = await self._row(teams, key_row.get("team_id"))
        customer = await self._row(customers, team.get("customer_id") if team else None)
        return Subject(key_row, team, customer)

    # -- may it ---------------------------------------------------------------------------
    @staticmethod
    def check_access(
        subject: Subject, provider_id: str, model: str, route: str | None = None
    ) -> None:
        """403 unless the key (and its team) may use `provider_id/model`. A public model's
        name in `allowed_models` admits every deployment of that route, whatever provider
        it is on, when the request came through it (`route`)."""
        key = subject.key
        if key is None:
            return
        full = f"{provider_id}/{model}"
        providers = key.get("allowed_providers")
        if providers and not any(fnmatchcase(provider_id, p) for p in providers):
            raise GatewayError(
                403,
                "provider_blocked",
                f"Virtual key {key['name']!r} may not use provider {provider_id!r}; "
                f"allowed: {', '.join(providers)}.",
                param="model",
            )
        for level, row in (("key", key), ("team", subject.team)):
            patterns = row.get("allowed_models") if row else None
            if patterns and not any(
                fnmatchcase(full, p) or (route is not None and fnmatchcase(route, p))
                for p in patterns
            ):
                raise GatewayError(
                    403,
                    "model_blocked",
                    f"The {level} {row['name']!r} may not use model {route or full!r}; allowed: "  # type: ignore[index]
                    f"{', '.join(patterns)}.",
                    param="model",
                )

    @staticmethod
    def upstream_keys(subject: Subject) -> list[str] | None:
        return subject.key.get("provider_keys") if subject.key else None

    # -- reserve --------------------------------------------------------------------------
    def estimate(self, items: list[tuple[str, Usage]]) -> tuple[float, float]:
        """(dollars, seconds) for the dearest of `(provider/model, usage)`: a create may
        end up on any of its targets, so it reserves what the dearest would cost."""
        best = (0.0, ESTIMATE_SECONDS)
        for deployment, use in items:
            cost = self.prices.cost(deployment, use)
            if cost >= best[0]:
                best = (cost, use.seconds)
        return best

    def claims(self, subject: Subject, estimate_usd: float, seconds: float) -> list[Claim]:
        now = time.time()
        minute = int(now // 60)
        day, day_reset = budget_window("daily", now)
        out: list[Claim] = []
        for level, row in subject.levels():
            entity, name = row["id"], row["name"]
            if row.get("budget_usd") is not None:
                window, reset = budget_window(row.get("budget_period"), now)
                out.append(
                    Claim(
                        "budget",
                        level,
                        entity,
                        name,
                        window,
                        estimate_usd,
                        float(row["budget_usd"]),
                        reset,
                    )
                )
            if row.get("rpm") is not None:
                out.append(
                    Claim(
                        "rpm",
                        level,
                        entity,
                        name,
                        str(minute),
                        1.0,
                        float(row["rpm"]),
                        (minute + 1) * 60.0,
                    )
                )
            if row.get("max_active_jobs") is not None:
                out.append(
                    Claim(
                        "active",
                        level,
                        entity,
                        name,
                        "all",
                        1.0,
                        float(row["max_active_jobs"]),
                        None,
                    )
                )
            if row.get("video_seconds_per_day") is not None:
                out.append(
                    Claim(
                        "vsec",
                        level,
                        entity,
                        name,
                        day,
                        seconds,
                        float(row["video_seconds_per_day"]),
                        day_reset,
                    )
                )
        return out

    async def admits(
        self, subject: Subject, estimate_usd: float, seconds: float
    ) -> list[dict[str, Any]]:
        """Each budget and limit a create of `estimate_usd` and `seconds` would claim, with
        what is used and reserved now and whether it would fit (nothing is taken)."""
        out = []
        for claim in self.claims(subject, estimate_usd, seconds):
            if claim.kind == "rpm":
                continue
            used, reserved = await self.limits.current(claim)
            out.append(
                {
                    "kind": claim.kind,
                    "level": claim.level,
                    "name": claim.name,
                    "limit": claim.limit,
                    "used": round(used, 6),
                    "reserved": round(reserved, 6),
                    "needed": round(claim.amount, 6),
                    "admitted": used + reserved + claim.amount <= claim.limit + 1e-9,
                    "resets_at": claim.reset_at,
                }
            )
        return out

    async def reserve(
        self,
        subject: Subject,
        estimate_usd: float,
        seconds: float,
        intent: dict[str, Any] | None = None,
    ) -> Reservation:
        """Claim every limit for one create. `intent` (a create's targets, reference and
        owner: `lifecycle/orphans.py`) is written in the same ledger row, before any upstream
        call, so the sweep can find a job whose create died before recording it."""
        # rpm is not among them: every request was counted when it was authenticated
        claims = [c for c in self.claims(subject, estimate_usd, seconds) if c.kind != "rpm"]
        reservation = Reservation(claims, estimate_usd, seconds, intent=intent)
        ledger = None
        if claims or intent is not None:
            # Written down with the claims, so a create that dies from here on (even by
            # kill -9) leaves a record the sweep gives back (or resolves, with an intent).
            reservation.id = "rs_" + secrets.token_hex(12)
            held = [c.to_json() for c in claims]
            ledger = {
                "id": reservation.id,
                "claims": ledger_claims(held, intent),
                "created_at": time.time(),
            }
        try:
            await self.limits.acquire(claims, ledger)
        except Denied as denied:
            raise self._refusal(denied, estimate_usd) from None
        note_cost(estimate_usd)  # the request log's cost of this create
        return reservation

    @staticmethod
    def _refusal(denied: Denied, estimate: float) -> GatewayError:
        c = denied.claim
        metrics.limit_refused(c.kind)
        who = f"{c.level} {c.name!r}"
        if c.kind == "budget":
            return GatewayError(
                402,
                "budget_exceeded",
                f"Budget of ${c.limit:.2f} for {who} exceeded: spent ${denied.used:.2f} "
                f"(+${denied.reserved:.2f} reserved by running jobs), this request needs "
                f"${estimate:.2f}; resets at {_fmt_time(c.reset_at)}.",
            )
        retry = 60 if c.reset_at is None else max(1, int(c.reset_at - time.time()) + 1)
        what = {
            "rpm": f"{int(c.limit)} requests per minute",
            "active": f"{int(c.limit)} active jobs at once",
            "vsec": f"{c.limit:g} video-seconds per day (used {denied.used + denied.reserved:g})",
        }[c.kind]
        if c.kind == "active":
            retry = 5
        return GatewayError(
            429,
            "rate_limited",
            f"Rate limit for {who} reached: {what}.",
            # Bifrost names a request-count limit `request_limited`, any other `rate_limited`.
            type="request_limited" if c.kind == "rpm" else "rate_limited",
            headers={"Retry-After": str(retry)},
        )

    async def meter(self, key_row: Row | None) -> None:
        """Count one authenticated request against the key's, its team's and its customer's
        requests per minute (every call, as Bifrost and LiteLLM count: a retrieve too);
        429 `rate_limited` (type `request_limited`) once a minute's allowance is used. A
        key with no team and no rpm costs nothing here."""
        if key_row is None or (key_row.get("rpm") is None and not key_row.get("team_id")):
            return
        await self.count_request(await self.subject(key_row))

    async def count_request(self, subject: Subject) -> None:
        """Take one request from every level's per-minute allowance (nothing else)."""
        claims = [c for c in self.claims(subject, 0.0, 0.0) if c.kind == "rpm"]
        if not claims:
            return
        try:
            await self.limits.acquire(claims)
        except Denied as denied:
            raise self._refusal(denied, 0.0) from None

    async def release(self, reservation: Reservation, *, keep_intent: bool = False) -> None:
        """Give a failed create's claims back, unless the sweep already did. With
        `keep_intent` (a create that timed out upstream: a job may exist) the ledger row
        stays, holding the intent alone, for the sweep to look the job up."""
        if reservation.id is not None:
            if keep_intent and reservation.intent is not None:
                kept = ledger_claims([], reservation.intent)
                if not await self.ledger.keep(reservation.id, kept):
                    return
            elif not await self.ledger.drop(reservation.id):
                return
        await self._give_back(reservation.claims)

    async def _give_back(self, claims: list[Claim]) -> None:
        for claim in claims:
            if claim.kind != "rpm":  # a request that was made still counts against the rate
                await self.limits.settle(claim, 0.0)

    async def sweep_reservations(self, older_than: float, resolve: Resolver | None = None) -> int:
        """Give back the claims of creates that died before their usage row took them over
        (reservations older than `older_than` seconds with no usage row); returns how many.
        Dropping the ledger row first makes each give-back happen once, whoever races.

        A row holding a create's intent goes to `resolve` first (`lifecycle/orphans.py`),
        which may adopt the upstream job it finds: the adopted job's usage row takes the
        claims over. The row is renewed before (one sweeper at a time, and a sweeper that
        dies mid-way leaves it for a later sweep), and dropped once resolved."""
        given = 0
        before = time.time() - older_than
        for reservation_id, held, taken in await self.ledger.stale(before):
            claims, intent = split_ledger(held)
            if intent is not None and resolve is not None and not taken:
                if not await self.ledger.renew(reservation_id, before):
                    continue  # another sweeper has it
                try:
                    adopted = await resolve(reservation_id, claims, intent)
                except Exception:  # left renewed: tried again after another grace
                    log.exception("could not resolve the intent of create %s", reservation_id)
                    continue
                if adopted:  # its job's usage row holds the claims now
                    await self.ledger.drop(reservation_id)
                    continue
            if not await self.ledger.drop(reservation_id) or taken:
                continue
            await self._give_back([Claim.from_json(c) for c in claims])
            given += 1
        if given:
            log.warning("gave back %d reservation(s) of creates that never recorded a job", given)
        return given

    # -- usage ----------------------------------------------------------------------------
    @staticmethod
    def usage_row(
        video: Video,
        subject: Subject,
        reservation: Reservation,
        model: str,
        use: Usage,
        estimate_usd: float | None = None,
        route: str | None = None,
    ) -> Row:
        """The usage row a new job starts with; written in the job's own insert transaction.
        `model` is the deployment used and `use` what it was asked to render (its seconds
        count when the provider did not say how long the video is); `estimate_usd` is that
        deployment's estimate (the reservation may hold more: it covered the dearest
        target), and settlement gives back the difference."""
        return {
            "video_id": video.id,
            "key_id": subject.key["id"] if subject.key else None,
            "team_id": subject.team["id"] if subject.team else None,
            "customer_id": subject.customer["id"] if subject.customer else None,
            "provider": video.provider,
            "model": model,
            "seconds": float(video.seconds or use.seconds),
            "resolution": use.resolution or tier_of(video.size),
            "estimate_usd": reservation.estimate_usd if estimate_usd is None else estimate_usd,
            "cost_usd": 0.0,
            "status": "reserved",
            "claims": [c.to_json() for c in reservation.claims if c.kind != "rpm"],
            "created_at": time.time(),
            "settled_at": None,
            "reservation_id": reservation.id,
            "dimensions": {
                "audio": use.audio,
                "input_seconds": use.input_seconds,
                "fps": use.fps,
                "route": route,
            },
        }

    async def settle(
        self,
        video_id: str,
        status: str,
        *,
        seconds: float | None = None,
        size: str | None = None,
        provider_type: str | None = None,
        reported: Reported | None = None,
    ) -> float | None:
        """Turn a job's reservation into its real cost, once (None: nothing to settle).

        The cost is the price applied to what was rendered (its seconds, tier, audio, input
        seconds, tokens); where the provider reported its own cost, that is the cost, and
        a reported token count replaces the estimated one."""
        async with self.engine.begin() as conn:
            row = (
                (await conn.execute(select(usage_table).where(usage_table.c.video_id == video_id)))
                .mappings()
                .first()
            )
            if row is None or row["status"] != "reserved":
                return None
            secs = float(seconds) if seconds else float(row["seconds"])
            _, price = self.prices.for_deployment(
                row["provider"], provider_type or row["provider"], row["model"]
            )
            billable = status == "completed" or (status == "failed" and price.bill_failures)
            dims = dict(row.get("dimensions") or {})
            use = Usage(
                seconds=secs,
                size=size,
                resolution=row["resolution"] if not tier_of(size) else None,
                audio=bool(dims.get("audio")),
                input_seconds=float(dims.get("input_seconds") or 0.0),
                fps=dims.get("fps"),
                tokens=reported.tokens if reported is not None else None,
            )
            if status == "deleted":  # ended by a delete while running: it may still bill
                cost = float(row["estimate_usd"])
            elif not billable:
                cost = 0.0
            elif reported is not None and reported.cost_usd is not None:
                cost = round(reported.cost_usd, 6)
                dims["cost_source"] = "provider"
            else:
                cost = price.charge(use)
                dims["cost_source"] = "price"
            if reported is not None and reported.tokens is not None:
                dims["tokens"] = reported.tokens
            res = await conn.execute(
                update(usage_table)
                .where(usage_table.c.video_id == video_id, usage_table.c.status == "reserved")
                .values(
                    status=status,
                    cost_usd=cost,
                    seconds=secs,
                    settled_at=time.time(),
                    dimensions=dims,
                )
            )
            if res.rowcount != 1:
                return None
        metrics.spent(row["provider"], row["model"], cost)
        for data in row["claims"] or []:
            claim = Claim.from_json(data)
            actual = {"budget": cost, "vsec": secs if billable else 0.0}.get(claim.kind, 0.0)
            await self.limits.settle(claim, actual)
        return cost
