"""Keyset pagination for the admin lists: `limit` rows after the cursor `after`.

A cursor is the last row's sequence number (lists newest first) or its id (lists in
creation order); unlike an offset it stays right while rows are added or removed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Select, Table, and_, or_, select

MAX_LIMIT = 1000


def after_seq(q: Select[Any], seq: Column[Any], after: int | None, limit: int) -> Select[Any]:
    """Newest first: rows whose `seq` is below the cursor."""
    if after is not None:
        q = q.where(seq < after)
    return q.order_by(seq.desc()).limit(limit)


def after_id(q: Select[Any], table: Table, after: str | None, limit: int) -> Select[Any]:
    """Oldest first (created_at, then id): rows after the row with id `after`."""
    created, ident = table.c.created_at, table.c.id
    if after is not None:
        at = select(created).where(ident == after).scalar_subquery()
        q = q.where(or_(created > at, and_(created == at, ident > after)))
    return q.order_by(created, ident).limit(limit)
