"""Virtual-key rows. Only a SHA-256 of each secret is stored; the secret is shown once."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import virtual_keys

KEY_PREFIX = "sk-bf-"
Row = dict[str, Any]


def hash_key(secret: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, name: str, description: str | None = None) -> tuple[Row, str]:
        """A new key; returns (row, secret). The secret is not kept anywhere."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = {
            "id": "vk_" + secrets.token_hex(12),
            "name": name,
            "key_hash": hash_key(secret),
            "key_prefix": secret[:12],
            "created_at": int(time.time()),
            "revoked_at": None,
            "blocked": False,
            "description": description,
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert(virtual_keys).values(**row))
        return row, secret

    async def by_secret(self, secret: str) -> Row | None:
        return await self._one(virtual_keys.c.key_hash == hash_key(secret))

    async def by_id(self, key_id: str) -> Row | None:
        return await self._one(virtual_keys.c.id == key_id)

    async def _one(self, where: Any) -> Row | None:
        async with self.engine.connect() as conn:
            res = await conn.execute(select(virtual_keys).where(where))
            found = res.mappings().first()
        return dict(found) if found else None

    async def all(self) -> list[Row]:
        async with self.engine.connect() as conn:
            res = await conn.execute(select(virtual_keys).order_by(virtual_keys.c.created_at))
            return [dict(r) for r in res.mappings()]

    async def count(self) -> int:
        return len(await self.all())

    async def revoke(self, key_id_or_name: str) -> Row | None:
        """Revoke by id or (unique) name; None if nothing matched."""
        rows = [r for r in await self.all() if key_id_or_name in (r["id"], r["name"])]
        if len(rows) != 1:
            return None
        async with self.engine.begin() as conn:
            await conn.execute(
                update(virtual_keys)
                .where(virtual_keys.c.id == rows[0]["id"])
                .values(revoked_at=int(time.time()))
            )
        return rows[0]
