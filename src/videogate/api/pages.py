"""`limit` and `after` for every admin list: parsed once, answered with `has_more` and the
cursor of the next page (`next_after`), as OpenAI's lists page with `after`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from ..errors import bad_request, whole_number
from ..store.pages import MAX_LIMIT

DEFAULT_LIMIT = 100


def limit_of(request: Request, default: int = DEFAULT_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    n = whole_number(raw, 4)
    if n is None or not 1 <= n <= MAX_LIMIT:
        raise bad_request(
            "invalid_limit", f"limit is a whole number from 1 to {MAX_LIMIT}.", "limit"
        )
    return n


def seq_after(request: Request) -> int | None:
    """A cursor that is a sequence number (lists newest first)."""
    raw = request.query_params.get("after")
    if raw is None:
        return None
    n = whole_number(raw, 18)
    if n is None:
        raise bad_request("invalid_after", "after is the next_after of the previous page.", "after")
    return n


def id_after(request: Request) -> str | None:
    """A cursor that is an id (lists in creation order)."""
    raw = request.query_params.get("after")
    if raw is not None and not 0 < len(raw) <= 200:
        raise bad_request("invalid_after", "after is the next_after of the previous page.", "after")
    return raw


Row = dict[str, Any]


def page(
    rows: list[Row],
    limit: int,
    cursor: Callable[[Row], Any],
    present: Callable[[Row], Row] = dict,
) -> Row:
    """A list answer from up to `limit + 1` rows (the extra one only says there is more);
    the cursor is read from the stored row, before `present` shapes it."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "object": "list",
        "data": [present(r) for r in rows],
        "has_more": more,
        "next_after": cursor(rows[-1]) if more and rows else None,
    }
