"""Customers, teams, prices, upstream keys and usage in the store, every change audited.

Used by the admin API and the CLI alike, so both leave the same audit trail. Audit records
never contain secrets: key digests and encrypted provider secrets are stripped. Every audited
change also bumps the governance stamp in the same transaction, which is how every other
process and instance learns that it must reload (`governance.sync`).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..config import RouteConfig
from ..store.keys import KeyStore, public_key
from ..store.models import (
    audit_log,
    customers,
    governance_version,
    model_routes,
    prices,
    provider_keys,
    teams,
    usage,
)
from ..store.pages import after_id, after_seq
from .prices import PRICE_FIELDS, Price

Row = dict[str, Any]
LIMIT_FIELDS = ("budget_usd", "budget_period", "rpm", "max_active_jobs", "video_seconds_per_day")
PERIODS = ("daily", "weekly", "monthly", "never")
SECRET_FIELDS = frozenset({"key_hash", "secret_encrypted", "secret", "value"})
ENTITY_TABLES = {"customer": customers, "team": teams}
ENTITY_FIELDS = {
    "customer": frozenset({"name", *LIMIT_FIELDS}),
    "team": frozenset({"name", "customer_id", "allowed_models", *LIMIT_FIELDS}),
}


def scrub(row: Row | None) -> Row | None:
    return None if row is None else {k: v for k, v in row.items() if k not in SECRET_FIELDS}


async def audit(
    conn: AsyncConnection,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    before: Row | None,
    after: Row | None,
) -> None:
    await conn.execute(
        insert(audit_log).values(
            at=time.time(),
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=_jsonable(scrub(before)),
            after=_jsonable(scrub(after)),
        )
    )
    await bump_stamp(conn)


STAMP_ID = 1  # the one row of `governance_version`


async def bump_stamp(conn: AsyncConnection) -> None:
    """Tell every process that governance changed (commits or rolls back with `conn`).

    On PostgreSQL the update holds the row's lock until commit, so stamps become visible in
    the order their changes commit: whoever reads stamp N before loading sees every change
    up to N."""
    now = time.time()
    bumped = await conn.execute(
        update(governance_version)
        .where(governance_version.c.id == STAMP_ID)
        .values(version=governance_version.c.version + 1, updated_at=now)
    )
    if bumped.rowcount == 0:  # the migration inserts the row; someone removed it
        await conn.execute(
            insert(governance_version).values(id=STAMP_ID, version=1, updated_at=now)
        )


def _jsonable(row: Row | None) -> Row | None:
    if row is None:
        return None
    return {
        k: (v if isinstance(v, str | int | float | bool | list | dict | type(None)) else str(v))
        for k, v in row.items()
    }


class Conflict(ValueError):
    """The change would duplicate a unique name (answered 409)."""


class Registry:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.keys = KeyStore(engine)

    # -- virtual keys ---------------------------------------------------------------------
    async def key_settings(self, values: Row) -> Row:
        """Validate key settings; a `team` given by name or id becomes `team_id`."""
        values = dict(values)
        if "team" in values:
            team_ref = values.pop("team")
            if team_ref is not None and not isinstance(team_ref, str):
                raise ValueError("team must be a team's name or id")
            team = await self.get("team", team_ref) if team_ref else None
            if team_ref and team is None:
                raise ValueError(f"no team {team_ref!r}")
            values["team_id"] = team["id"] if team else None
        check_limits(values)
        description = values.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > 2000
        ):
            raise ValueError("description must be text of at most 2000 characters")
        expires = values.get("expires_at")
        if expires is not None and (
            isinstance(expires, bool) or not isinstance(expires, int | float)
        ):
            raise ValueError("expires_at must be a unix time (a number)")
        for name in ("allowed_models", "allowed_providers", "provider_keys"):
            v = values.get(name)
            if v is not None and (
                not isinstance(v, list) or not all(isinstance(x, str) and x for x in v)
            ):
                raise ValueError(f"{name} must be a list of strings")
        return values

    async def create_key(self, name: str, values: Row, actor: str) -> tuple[Row, str]:
        check_name(name)
        settings = await self.key_settings(values)
        description = settings.pop("description", None)
        row, secret = await self.keys.create(name, description, **settings)
        await self.record(
            actor, "virtual_key.create", "virtual_key", row["id"], None, public_key(row)
        )
        return row, secret

    async def update_key(self, key_id: str, values: Row, actor: str) -> Row | None:
        before = await self.keys.by_id(key_id)
        if before is None:
            return None
        after = await self.keys.update(key_id, await self.key_settings(values))
        await self.record(
            actor,
            "virtual_key.update",
            "virtual_key",
            key_id,
            public_key(before),
            public_key(after or {}),
        )
        return after

    async def revoke_key(self, key_ref: str, actor: str) -> Row | None:
        row = await self.keys.revoke(key_ref)
        if row is not None:
            after = await self.keys.by_id(row["id"])
            await self.record(
                actor,
                "virtual_key.revoke",
                "virtual_key",
                row["id"],
                public_key(row),
                public_key(after or {}),
            )
        return row

    async def rotate_key(self, key_ref: str, grace: float, actor: str) -> tuple[Row, str] | None:
        before = await self.keys.find(key_ref)
        if before is None:
            return None
        rotated = await self.keys.rotate(before["id"], grace)
        if rotated is not None:
            await self.record(
                actor,
                "virtual_key.rotate",
                "virtual_key",
                before["id"],
                public_key(before),
                {**public_key(rotated[0]), "old_secret_valid_for_seconds": grace},
            )
        return rotated

    async def record(
        self,
        actor: str,
        action: str,
        target_type: str,
        target_id: str,
        before: Row | None,
        after: Row | None,
    ) -> None:
        async with self.engine.begin() as conn:
            await audit(conn, actor, action, target_type, target_id, before, after)

    # -- customers and teams ------------------------------------------------------------
    async def create_entity(self, kind: str, values: Row, actor: str) -> Row:
        table = ENTITY_TABLES[kind]
        self._check(kind, values)
        row = {
            "id": f"{kind[:4]}_" + secrets.token_hex(8),
            "created_at": time.time(),
            **{c.name: None for c in table.c if c.name not in ("id", "created_at")},
            **values,
        }
        if values.get("name") is not None and await self.get(kind, str(values["name"])):
            raise Conflict(f"a {kind} named {values['name']!r} exists")
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(table).values(**row))
                await audit(conn, actor, f"{kind}.create", kind, row["id"], None, row)
        except IntegrityError:  # a concurrent create of the same name won
            raise Conflict(f"a {kind} named {values.get('name')!r} exists") from None
        return row

    async def update_entity(self, kind: str, entity_id: str, values: Row, actor: str) -> Row | None:
        table = ENTITY_TABLES[kind]
        self._check(kind, values)
        before = await self.get(kind, entity_id)
        if before is None:
            return None
        async with self.engine.begin() as conn:
            if values:
                await conn.execute(update(table).where(table.c.id == entity_id).values(**values))
            after = {**before, **values}
            await audit(conn, actor, f"{kind}.update", kind, entity_id, before, after)
        return after

    async def delete_entity(self, kind: str, entity_id: str, actor: str) -> bool:
        table = ENTITY_TABLES[kind]
        before = await self.get(kind, entity_id)
        if before is None:
            return False
        async with self.engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.id == entity_id))
            await audit(conn, actor, f"{kind}.delete", kind, entity_id, before, None)
        return True

    async def get(self, kind: str, id_or_name: str) -> Row | None:
        table = ENTITY_TABLES[kind]
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(table).where((table.c.id == id_or_name) | (table.c.name == id_or_name))
            )
            found = res.mappings().first()
        return dict(found) if found else None

    async def entities(
        self, kind: str, limit: int | None = None, after: str | None = None
    ) -> list[Row]:
        """Oldest first; with `limit`, a page after the entity id `after`."""
        table = ENTITY_TABLES[kind]
        q = select(table)
        q = q.order_by(table.c.created_at) if limit is None else after_id(q, table, after, limit)
        async with self.engine.connect() as conn:
            res = await conn.execute(q)
            return [dict(r) for r in res.mappings()]

    @staticmethod
    def _check(kind: str, values: Row) -> None:
        unknown = set(values) - ENTITY_FIELDS[kind]
        if unknown:
            raise ValueError(f"unknown {kind} fields: {sorted(unknown)}")
        if "name" in values:
            check_name(values["name"])
        check_limits(values)

    # -- prices and upstream keys --------------------------------------------------------
    async def stamp(self) -> int:
        """The governance stamp: changes whenever an audited change commits (one PK read)."""
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                select(governance_version.c.version).where(governance_version.c.id == STAMP_ID)
            )
        return int(found or 0)

    async def stored_prices(self) -> list[Row]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(select(prices))).mappings()]

    async def set_price(self, pattern: str, price: Price | Row, actor: str) -> Row:
        """Store a price (a `Price`, or the row's fields as given: loading checks them)."""
        if isinstance(price, Price):
            shown = price.describe()
            row = {
                "pattern": pattern,
                "per_second": price.per_second,
                "tiers": price.tiers,
                "bill_failures": price.bill_failures,
                "dimensions": {k: shown[k] for k in PRICE_FIELDS if k != "per_second"},
            }
        else:
            row = {
                "pattern": pattern,
                "per_second": float(price.get("per_second", 0.0)),
                "tiers": price.get("tiers") or {},
                "bill_failures": bool(price.get("bill_failures", False)),
                "dimensions": {k: price[k] for k in PRICE_FIELDS[1:] if k in price},
            }
        async with self.engine.begin() as conn:
            before = (
                (await conn.execute(select(prices).where(prices.c.pattern == pattern)))
                .mappings()
                .first()
            )
            await conn.execute(delete(prices).where(prices.c.pattern == pattern))
            await conn.execute(insert(prices).values(**row))
            await audit(
                conn, actor, "price.set", "price", pattern, dict(before) if before else None, row
            )
        return row

    # -- public model routes -----------------------------------------------------------------
    async def stored_routes(self) -> list[Row]:
        async with self.engine.connect() as conn:
            q = select(model_routes).order_by(model_routes.c.name)
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def set_route(self, name: str, route: RouteConfig, actor: str) -> Row:
        row = {
            "name": name,
            "strategy": route.strategy,
            "deployments": list(route.deployments),
            "description": route.description,
            "updated_at": time.time(),
        }
        async with self.engine.begin() as conn:
            where = model_routes.c.name == name
            before = (await conn.execute(select(model_routes).where(where))).mappings().first()
            await conn.execute(delete(model_routes).where(where))
            await conn.execute(insert(model_routes).values(**row))
            await audit(
                conn, actor, "route.set", "route", name, dict(before) if before else None, row
            )
        return row

    async def delete_route(self, name: str, actor: str) -> bool:
        async with self.engine.begin() as conn:
            where = model_routes.c.name == name
            before = (await conn.execute(select(model_routes).where(where))).mappings().first()
            if before is None:
                return False
            await conn.execute(delete(model_routes).where(where))
            await audit(conn, actor, "route.delete", "route", name, dict(before), None)
        return True

    async def upstream_keys(self, provider: str | None = None) -> list[Row]:
        q = select(provider_keys).order_by(provider_keys.c.provider, provider_keys.c.name)
        if provider is not None:
            q = q.where(provider_keys.c.provider == provider)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def put_upstream_key(self, row: Row, actor: str) -> None:
        async with self.engine.begin() as conn:
            where = (provider_keys.c.provider == row["provider"]) & (
                provider_keys.c.name == row["name"]
            )
            before = (await conn.execute(select(provider_keys).where(where))).mappings().first()
            await conn.execute(delete(provider_keys).where(where))
            await conn.execute(insert(provider_keys).values(**row))
            await audit(
                conn,
                actor,
                "provider_key.put",
                "provider_key",
                f"{row['provider']}/{row['name']}",
                dict(before) if before else None,
                row,
            )

    async def delete_upstream_key(self, provider: str, name: str, actor: str) -> bool:
        async with self.engine.begin() as conn:
            where = (provider_keys.c.provider == provider) & (provider_keys.c.name == name)
            before = (await conn.execute(select(provider_keys).where(where))).mappings().first()
            if before is None:
                return False
            await conn.execute(delete(provider_keys).where(where))
            await audit(
                conn,
                actor,
                "provider_key.delete",
                "provider_key",
                f"{provider}/{name}",
                dict(before),
                None,
            )
        return True

    # -- usage and audit ------------------------------------------------------------------
    async def usage(
        self, filters: Row, limit: int = 1000, after: int | None = None
    ) -> tuple[list[Row], Row]:
        """Newest first, `limit` rows below the `seq` cursor `after`; the totals cover every
        row the filters match (not only this page)."""
        conds = []
        for col in ("key_id", "team_id", "customer_id", "provider", "model", "status"):
            if filters.get(col):
                conds.append(usage.c[col] == filters[col])
        if filters.get("since") is not None:
            conds.append(usage.c.created_at >= float(filters["since"]))
        if filters.get("until") is not None:
            conds.append(usage.c.created_at < float(filters["until"]))
        async with self.engine.connect() as conn:
            rows = [
                dict(r)
                for r in (
                    await conn.execute(
                        after_seq(select(usage).where(*conds), usage.c.seq, after, limit)
                    )
                ).mappings()
            ]
            totals = (
                await conn.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(usage.c.seconds), 0.0),
                        func.coalesce(func.sum(usage.c.cost_usd), 0.0),
                        func.coalesce(func.sum(usage.c.estimate_usd), 0.0),
                    ).where(*conds)
                )
            ).one()
        for r in rows:
            r.pop("claims", None)
        return rows, {
            "jobs": int(totals[0]),
            "seconds": float(totals[1]),
            "cost_usd": round(float(totals[2]), 6),
            "reserved_usd": round(
                sum(r["estimate_usd"] for r in rows if r["status"] == "reserved"), 6
            ),
        }

    async def audit_entries(self, limit: int = 200, after: int | None = None) -> list[Row]:
        async with self.engine.connect() as conn:
            res = await conn.execute(after_seq(select(audit_log), audit_log.c.seq, after, limit))
            return [dict(r) for r in res.mappings()]


MAX_NAME = 200  # the name columns' length


def check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValueError(f"name must be text of 1-{MAX_NAME} characters")


def check_limits(values: Row) -> None:
    """Reject nonsensical limits before they are stored."""
    period = values.get("budget_period")
    if period is not None and period not in PERIODS:
        raise ValueError(f"budget_period must be one of {', '.join(PERIODS)}")
    for name in ("budget_usd", "rpm", "max_active_jobs", "video_seconds_per_day"):
        value = values.get(name)
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or value < 0
        ):
            raise ValueError(f"{name} must be a non-negative number")
