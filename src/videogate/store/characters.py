"""Characters (`POST /v1/videos/characters`): one row each, found only by their owner.

Not on the hot path (a character is made once and read when a create names it), so these
are plain SQLAlchemy Core statements, one implementation for SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import characters as ch


@dataclass(frozen=True, slots=True)
class Character:
    """A stored character; its still frame is the asset-store object `still_key`."""

    id: str
    owner: str
    name: str
    still_key: str
    still_type: str
    created_at: int
    source_seconds: float | None = None
    source_size: str | None = None


COLUMNS = tuple(f.name for f in fields(Character))


class CharacterStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def insert(self, character: Character) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(ch).values({name: getattr(character, name) for name in COLUMNS})
            )

    async def get_owned(self, owner: str | None, ids: list[str]) -> dict[str, Character]:
        """The characters among `ids` that `owner` may use (None: any owner, for admins),
        by id; ids that are missing or someone else's are simply absent."""
        if not ids:
            return {}
        query = select(ch).where(ch.c.id.in_(ids))
        if owner is not None:
            query = query.where(ch.c.owner == owner)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {row["id"]: _character(row) for row in rows}


def _character(row: Any) -> Character:
    return Character(**{name: row[name] for name in COLUMNS})
