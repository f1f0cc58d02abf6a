"""Values in providers' own formats turned into the gateway's: ISO-8601 times to unix
seconds, OpenAI `WxH` sizes to numbers and aspect ratios, loosely typed numbers to ints.

Shared because several adapters meet the same formats; one copy keeps their edge cases
identical.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import whole_number

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


def aspect_ratio(width: int, height: int) -> str:
    """`1280, 720` -> `"16:9"`: the form most video APIs take instead of pixel sizes."""
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def int_or_none(value: Any) -> int | None:
    """An int from a JSON number or numeric string; None otherwise (never raises)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        whole = whole_number(text.removeprefix("-"), 18)
        if whole is not None:
            return -whole if text.startswith("-") else whole
    return None


def reported_number(body: Any, *path: str, scale: float = 1.0) -> float | None:
    """A non-negative number at `path` inside nested objects (e.g. a job's
    `usage.cost`), times `scale`; None when it is missing or not a number."""
    node = body
    for part in path:
        node = node.get(part) if isinstance(node, Mapping) else None
    if isinstance(node, bool) or not isinstance(node, int | float) or node < 0:
        return None
    return float(node) * scale
