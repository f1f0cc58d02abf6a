"""Virtual-key rows. Only SHA-256 digests of secrets are stored; a secret is shown once.

A key may have several valid secrets for a while: after a rotation the old secret keeps
working until its grace period ends (`key_hashes.valid_until`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import key_hashes, virtual_keys
from .pages import after_id

KEY_PREFIX = "sk-bf-"
Row = dict[str, Any]
# Columns an admin may change on a key (secrets and ids are not among them).
EDITABLE = frozenset(
    {
        "name",
        "description",
        "team_id",
        "budget_usd",
        "budget_period",
        "rpm",
        "max_active_jobs",
        "video_seconds_per_day",
        "allowed_models",
        "allowed_providers",
        "provider_keys",
        "expires_at",
        "blocked",
    }
)


def hash_key(secret: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def public_key(row: Row) -> Row:
    """A key row without its digest, for listings and audit records."""
    return {k: v for k, v in row.items() if k != "key_hash"}


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(
        self, name: str, description: str | None = None, **settings: Any
    ) -> tuple[Row, str]:
        """A new key; returns (row, secret). The secret is not kept anywhere."""
        unknown = set(settings) - EDITABLE
        if unknown:
            raise ValueError(f"unknown key settings: {sorted(unknown)}")
        secret = new_secret()
        now = time.time()
        row = {
            "id": "vk_" + secrets.token_hex(12),
            "name": name,
            "key_hash": hash_key(secret),
            "key_prefix": secret[:12],
            "created_at": int(now),
            "revoked_at": None,
            "blocked": False,
            "description": description,
            **{k: settings.get(k) for k in EDITABLE - {"name", "description", "blocked"}},
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert(virtual_keys).values(**row))
            await conn.execute(
                insert(key_hashes).values(
                    key_hash=row["key_hash"], key_id=row["id"], valid_until=None, created_at=now
                )
            )
        return row, secret

    async def by_secret(self, secret: str) -> Row | None:
        now = time.time()
        async with self.engine.connect() as conn:
            res = await conn.execute(
                select(virtual_keys)
                .join(key_hashes, key_hashes.c.key_id == virtual_keys.c.id)
                .where(
                    key_hashes.c.key_hash == hash_key(secret),
                    or_(key_hashes.c.valid_until.is_(None), key_hashes.c.valid_until > now),
                )
            )
            found = res.mappings().first()
        return dict(found) if found else None

    async def by_id(self, key_id: str) -> Row | None:
        return await self._one(virtual_keys.c.id == key_id)

    async def find(self, id_or_name: str) -> Row | None:
        """By id, or by name when exactly one key has it."""
        rows = [r for r in await self.all() if id_or_name in (r["id"], r["name"])]
        return rows[0] if len(rows) == 1 else None

    async def _one(self, where: Any) -> Row | None:
        async with self.engine.connect() as conn:
            res = await conn.execute(select(virtual_keys).where(where))
            found = res.mappings().first()
        return dict(found) if found else None

    async def all(self) -> list[Row]:
        async with self.engine.connect() as conn:
            res = await conn.execute(select(virtual_keys).order_by(virtual_keys.c.created_at))
            return [dict(r) for r in res.mappings()]

    async def page(self, limit: int, after: str | None = None) -> list[Row]:
        """Oldest first, `limit` keys after the key id `after`."""
        async with self.engine.connect() as conn:
            res = await conn.execute(after_id(select(virtual_keys), virtual_keys, after, limit))
            return [dict(r) for r in res.mappings()]

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(virtual_keys))).scalar_one()
            )

    async def update(self, key_id: str, values: Row) -> Row | None:
        unknown = set(values) - EDITABLE
        if unknown:
            raise ValueError(f"unknown key settings: {sorted(unknown)}")
        if values:
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(virtual_keys).where(virtual_keys.c.id == key_id).values(**values)
                )
        return await self.by_id(key_id)

    async def revoke(self, key_id_or_name: str) -> Row | None:
        """Revoke by id or (unique) name; None if nothing matched."""
        row = await self.find(key_id_or_name)
        if row is None:
            return None
        async with self.engine.begin() as conn:
            await conn.execute(
                update(virtual_keys)
                .where(virtual_keys.c.id == row["id"])
                .values(revoked_at=int(time.time()))
            )
        return row

    async def rotate(self, key_id: str, grace_seconds: float) -> tuple[Row, str] | None:
        """A new secret for the key; its other secrets stop working after the grace period."""
        row = await self.by_id(key_id)
        if row is None or row["revoked_at"] is not None:
            return None
        secret = new_secret()
        now = time.time()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(key_hashes)
                .where(
                    and_(
                        key_hashes.c.key_id == key_id,
                        or_(
                            key_hashes.c.valid_until.is_(None),
                            key_hashes.c.valid_until > now + grace_seconds,
                        ),
                    )
                )
                .values(valid_until=now + grace_seconds)
            )
            await conn.execute(
                insert(key_hashes).values(
                    key_hash=hash_key(secret), key_id=key_id, valid_until=None, created_at=now
                )
            )
            await conn.execute(
                update(virtual_keys)
                .where(virtual_keys.c.id == key_id)
                .values(key_hash=hash_key(secret), key_prefix=secret[:12])
            )
        updated = await self.by_id(key_id)
        assert updated is not None
        return updated, secret
