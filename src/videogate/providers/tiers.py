"""Resolution tiers and aspect ratios against pixel sizes, for providers that take one form
while the gateway's request may carry the other.

OpenAI's create takes `size` (`WxH`); xAI and OpenRouter take `aspect_ratio` + `resolution`
("720p"), LTX takes `WxH` strings but callers may give a tier. A size matches a ratio when
its sides are within 1% of it (854x480 is 16:9), and a tier by its short side.
"""

from __future__ import annotations

from collections.abc import Iterable

from .convert import parse_size

# Tier name -> the short side of its frame.
TIER_SHORT_SIDE: dict[str, int] = {
    "480p": 480,
    "720p": 720,
    "768p": 768,
    "1080p": 1080,
    "1440p": 1440,
    "4k": 2160,
}
RATIO_TOLERANCE = 0.01


def ratio_value(ratio: str) -> float | None:
    """`"16:9"` -> 1.777...; None when it is not `A:B` with positive numbers."""
    left, sep, right = ratio.partition(":")
    try:
        a, b = float(left), float(right)
    except ValueError:
        return None
    return a / b if sep and a > 0 and b > 0 else None


def size_for(resolution: str, ratio: str) -> str | None:
    """The frame of `resolution` at `ratio` (`720p`, `16:9` -> `1280x720`), sides even;
    None for a tier or ratio not known here."""
    short = TIER_SHORT_SIDE.get(resolution.lower())
    value = ratio_value(ratio)
    if short is None or value is None:
        return None
    long = round(short * max(value, 1 / value) / 2) * 2
    return f"{long}x{short}" if value >= 1 else f"{short}x{long}"


def split_size(size: str, ratios: Iterable[str]) -> tuple[str, str] | None:
    """(`ratio`, `tier`) of a `WxH` size whose proportions are one of `ratios` and whose
    short side is a known tier; None otherwise."""
    dims = parse_size(size)
    if dims is None or 0 in dims:
        return None
    width, height = dims
    tier = next((t for t, side in TIER_SHORT_SIDE.items() if side == min(width, height)), None)
    if tier is None:
        return None
    for ratio in ratios:
        value = ratio_value(ratio)
        if value is not None and abs(width / height - value) <= value * RATIO_TOLERANCE:
            return ratio, tier
    return None
