"""The reservation ledger's statements (see `models.reservations`).

The row is written by the limit claim's own transaction (`Backend.claim`; an unlimited
key's create writes it alone, for its intent), and the usage row that later takes the
claims over names it, so the hot path never deletes here. The sweep reads old rows with
whether a usage row took them over, and drops them.

A create's row also holds its *intent* (issue 18, Low 13): what it is about to ask which
providers, with the reference it sends, written before the first upstream call. The
`claims` column then holds `{"claims": [...], "intent": {...}}` instead of the bare list
(no migration: the column is JSON either way). A row still untaken after the grace
belongs to a create that died between the upstream call and recording its job; the
sweep (`lifecycle/orphans.py`) looks the job up, and its outcome is written to the audit
log (actor `worker`, target type `upstream_job`), where admins read it.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import audit_log, reservations, usage


def ledger_claims(claims: list[Any], intent: dict[str, Any] | None) -> Any:
    """The `claims` column's value: the bare list, or the list with the create's intent."""
    return claims if intent is None else {"claims": claims, "intent": intent}


def split_ledger(value: Any) -> tuple[list[Any], dict[str, Any] | None]:
    """(claims, intent or None) of a `claims` column written by `ledger_claims`."""
    if isinstance(value, dict):
        return list(value.get("claims") or []), value.get("intent")
    return list(value or []), None


class ReservationLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def stale(self, before: float, limit: int = 500) -> list[tuple[str, Any, bool]]:
        """(id, claims column, taken over by a usage row) of reservations made before
        `before`."""
        taken = exists().where(usage.c.reservation_id == reservations.c.id)
        q = (
            select(reservations.c.id, reservations.c.claims, taken.label("taken"))
            .where(reservations.c.created_at < before)
            .order_by(reservations.c.created_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [(r[0], r[1], bool(r[2])) for r in (await conn.execute(q)).all()]

    async def taken(self, reservation_id: str) -> bool:
        """Whether a usage row names this reservation (its job was recorded)."""
        q = select(exists().where(usage.c.reservation_id == reservation_id))
        async with self.engine.connect() as conn:
            return bool((await conn.execute(q)).scalar())

    async def renew(self, reservation_id: str, before: float) -> bool:
        """Take a stale row for one sweeper: its age starts again, so no other sweeper picks
        it up within the grace (nor this one, if it dies resolving it). False: another
        sweeper took it, or it is gone."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(reservations)
                .where(reservations.c.id == reservation_id, reservations.c.created_at < before)
                .values(created_at=time.time())
            )
        return bool(res.rowcount)

    async def keep(self, reservation_id: str, claims: Any) -> bool:
        """Replace a row's claims (given back by the caller) and keep it; False if it is
        gone (the sweep got there first)."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                update(reservations)
                .where(reservations.c.id == reservation_id)
                .values(claims=claims)
            )
        return bool(res.rowcount)

    async def drop(self, reservation_id: str) -> bool:
        """Remove one; False if another sweeper (or the create's undo) got there first."""
        async with self.engine.begin() as conn:
            res = await conn.execute(
                delete(reservations).where(reservations.c.id == reservation_id)
            )
        return bool(res.rowcount)

    async def note(self, action: str, reference: str, details: dict[str, Any]) -> None:
        """An audit-log entry for what the sweep did with a dead create's job (not a
        governance change: the governance stamp is not bumped)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(audit_log).values(
                    at=time.time(),
                    actor="worker",
                    action=action,
                    target_type="upstream_job",
                    target_id=reference[:120],
                    before=None,
                    after=details,
                )
            )
