"""Small helpers several adapters share: provider timestamps and OpenAI `WxH` sizes.

Keep this module generic (no provider names): each helper exists because more than one
adapter needs the same conversion, and one copy keeps their edge cases identical.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import bad_request

SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def iso_to_unix(value: Any) -> int | None:
    """ISO-8601 (`2025-11-11T21:48:50.448Z`, offsets, or naive = UTC) -> unix seconds.

    None for a missing or unparseable value, so a provider's odd timestamp never fails a
    poll; callers pick their own fallback.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_size(size: str) -> tuple[int, int] | None:
    """OpenAI's `WIDTHxHEIGHT` -> (width, height); None if it is not of that form."""
    match = SIZE_RE.match(size)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


# Declared kinds of provider-specific create parameters (see `coerce_extras`).
ExtraKind = (
    type[int] | type[float] | type[bool] | type[str] | type[dict[str, Any]] | type[list[Any]]
)
_BRACKETS = re.compile(r"\[([^\]]+)\]")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def coerce_extras(extra: dict[str, Any], kinds: dict[str, ExtraKind]) -> dict[str, Any]:
    """Give known provider parameters their JSON types; pass unknown ones through unchanged.

    The openai SDK sends create as multipart, so `extra_body={"seed": 42, "opts": {"a": 1}}`
    arrives as the strings `seed=42` and `opts[a]=1`; a JSON provider needs `42` and
    `{"a": 1}` back. Objects may also be given as one JSON string. A value that cannot be
    read as its kind is a 400 naming the parameter.
    """
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in extra.items():
        head, bracket, rest = key.partition("[")
        path = _BRACKETS.findall(bracket + rest) if bracket else []
        if head in kinds and path and "".join(f"[{p}]" for p in path) == bracket + rest:
            node = nested.setdefault(head, {})
            for part in path[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise bad_request(
                        "invalid_parameter", f"{key!r} conflicts with another value.", head
                    )
                node = child
            node[path[-1]] = value
        else:
            out[key] = value
    for head, value in nested.items():
        if head in out:
            raise bad_request("invalid_parameter", f"{head!r} is given twice.", head)
        out[head] = value
    for name, kind in kinds.items():
        if name in out:
            out[name] = _coerce(name, out[name], kind)
    return out


def _coerce(name: str, value: Any, kind: ExtraKind) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if kind is bool and text.lower() in _BOOLS:
                return _BOOLS[text.lower()]
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if kind in (dict, list):
                parsed = orjson.loads(text)
                if isinstance(parsed, kind):
                    return parsed
        except (ValueError, orjson.JSONDecodeError):
            pass
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise bad_request(
        "invalid_parameter", f"{name} must be {_KIND_NAMES[kind]}, not {value!r}.", name
    )


_KIND_NAMES: dict[ExtraKind, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    dict: "an object",
    list: "an array",
}
