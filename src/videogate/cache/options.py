"""A create's cache options (read from Bifrost's `x-bf-cache-*` headers by the API layer,
`api/cache_headers.py`) and the duration syntax they use."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIRECT = "direct"
SEMANTIC = "semantic"
# Go's time.ParseDuration units, which Bifrost's TTL header accepts.
UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class CacheOptions:
    namespace: str
    ttl_seconds: float
    threshold: float
    types: tuple[str, ...]  # in lookup order: direct first
    no_store: bool


def parse_duration(value: str) -> float | None:
    """Seconds from "300" or a Go duration such as "5m", "1h30m", "1.5h"; None if neither."""
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    total, pos = 0.0, 0
    for part in _PART.finditer(text):
        if part.start() != pos:
            return None
        total += float(part[1]) * UNITS[part[2]]
        pos = part.end()
    return total if pos and pos == len(text) else None
