"""A page of `GET /v1/videos`, rendered by the database: each row's Video object as JSON text.

`Video.openai()` is the one definition of the public object; `OBJECT` below restates it as
SQL expressions over the `videos` columns, so the database writes the JSON and Python only
joins the texts (tests/test_list_render.py checks the bytes equal `orjson.dumps(v.openai())`
on SQLite and PostgreSQL, with quotes, control characters and non-ASCII text). Measured on a
page of 100 rows (SQLite, 10^5 jobs, in-process): whole rows through SQLAlchemy/aiosqlite,
`Video.from_row` and `openai()` ≈ 5 ms of CPU; the same on bare sqlite3 1.0 ms; the 13 public
columns as tuples built into dicts for orjson 0.27 ms; JSON from SQLite's `json_object`
0.16 ms.

Only what the object needs is read: 14 of the 29 columns, never `assets` or `extra` (JSON
columns decoded per row before).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class Nested:
    """A nested object, present when `when` holds (else JSON null)."""

    when: str
    fields: tuple[tuple[str, str], ...]


Field = tuple[str, "str | Nested"]

# OpenAI's Video object, key by key, as `Video.openai()` builds it (`x or y` in Python is
# COALESCE(NULLIF(x, ''), y) here: an empty string is falsy there).
OBJECT: tuple[Field, ...] = (
    ("id", "id"),
    ("object", "'video'"),
    ("model", "COALESCE(NULLIF(model_deployment, ''), model_requested)"),
    ("status", "status"),
    ("progress", "progress"),
    ("created_at", "created_at"),
    ("completed_at", "completed_at"),
    ("expires_at", "expires_at"),
    ("prompt", "prompt"),
    ("size", "size"),
    ("seconds", "seconds"),
    ("remixed_from_video_id", "remixed_from"),
    (
        "error",
        Nested(
            "status = 'failed' OR COALESCE(error_code, '') <> ''",
            (
                ("code", "COALESCE(NULLIF(error_code, ''), 'generation_failed')"),
                ("message", "COALESCE(error_message, '')"),
            ),
        ),
    ),
)


def sqlite_json(fields: tuple[Field, ...] = OBJECT) -> str:
    """The object as one SQLite expression (`json_object`, compact like orjson's output)."""
    parts = []
    for key, value in fields:
        expr = (
            f"CASE WHEN {value.when} THEN {sqlite_json(value.fields)} END"
            if isinstance(value, Nested)
            else value
        )
        parts.append(f"'{key}', {expr}")
    return f"json_object({', '.join(parts)})"


def pg_json(fields: tuple[Field, ...] = OBJECT) -> str:
    """The object as one PostgreSQL text expression. `json_build_object` writes `"k" : v, `
    (spaces) and jsonb reorders keys, so the text is concatenated from `to_json` of each
    value (PostgreSQL's string escaping is orjson's: the test compares the bytes)."""
    pieces = []
    for i, (key, value) in enumerate(fields):
        head = ("{" if i == 0 else ",") + orjson.dumps(key).decode() + ":"
        if isinstance(value, Nested):
            expr = f"COALESCE(CASE WHEN {value.when} THEN {pg_json(value.fields)} END, 'null')"
        else:
            cast = "::text" if value.startswith("'") else ""  # a literal needs a type
            expr = f"COALESCE(to_json({value}{cast})::text, 'null')"
        pieces.append(f"'{head}' || {expr}")
    return "(" + " || ".join(pieces) + " || '}')"


def page_sql(
    dialect: str, *, owner: bool, provider: bool, after: bool, order: str
) -> tuple[str, list[str]]:
    """The page statement (rows: the object's JSON text, its id) and the names of its
    parameters in order (`owner`, `provider`, `after` (a seq), `limit`), for `dialect`
    "sqlite" or "pg". Rows come in `seq` order, the indexes' order: (owner, seq),
    (owner, provider, seq), (provider, seq) or the primary key."""
    names: list[str] = []
    where: list[str] = []

    def mark(name: str) -> str:
        names.append(name)
        return "?" if dialect == "sqlite" else f"${len(names)}"

    if owner:
        where.append(f"owner = {mark('owner')}")
    if provider:
        where.append(f"provider = {mark('provider')}")
    if after:
        where.append(f"seq {'>' if order == 'asc' else '<'} {mark('after')}")
    rendered = sqlite_json() if dialect == "sqlite" else pg_json()
    sql = f"SELECT {rendered}, id FROM videos"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY seq {'ASC' if order == 'asc' else 'DESC'} LIMIT {mark('limit')}"
    return sql, names


@dataclass(frozen=True)
class Page:
    """One page of the list: `data` is the JSON array of Video objects, already rendered."""

    data: bytes
    first_id: str | None
    last_id: str | None
    has_more: bool

    @classmethod
    def of(cls, rows: list[tuple[str, str]], limit: int) -> Page:
        """From up to `limit + 1` (json, id) rows (one more than a page: is there more?)."""
        shown = rows[:limit]
        return cls(
            data=("[" + ",".join([r[0] for r in shown]) + "]").encode(),
            first_id=shown[0][1] if shown else None,
            last_id=shown[-1][1] if shown else None,
            has_more=len(rows) > limit,
        )
