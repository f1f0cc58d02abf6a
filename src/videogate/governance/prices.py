"""Dollars per output second, per provider/model and optionally per resolution tier.

Lookup order: prices set through the admin API (stored), then the config's `prices`, then
the built-in table below; the most specific matching pattern wins. The built-in figures are
providers' published list prices where known, as a starting point; set your own in config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class Price:
    per_second: float
    tiers: dict[str, float] = field(default_factory=dict)
    bill_failures: bool = False

    def for_tier(self, tier: str | None) -> float:
        if tier is not None and tier in self.tiers:
            return self.tiers[tier]
        return self.per_second


BUILT_IN: dict[str, Price] = {
    "simulated/*": Price(0.10),
    "openai/sora-2*": Price(0.10),
    "openai/sora-2-pro*": Price(0.30, {"1080p": 0.50}),
    "azure/sora-2*": Price(0.10),
    "azure/sora*": Price(0.10),
    "gemini/veo-3.1-generate*": Price(0.40),
    "gemini/veo-3.1-fast*": Price(0.15),
    "gemini/veo-3.0-generate*": Price(0.40),
    "gemini/veo-3.0-fast*": Price(0.15),
    "gemini/veo-2*": Price(0.35),
    "vertex/veo-3*": Price(0.40),
    "vertex/veo-2*": Price(0.50),
    "runway/gen4_turbo": Price(0.05),
    "runway/gen4.5": Price(0.12),
    "runway/veo3*": Price(0.40),
    "luma/ray-2": Price(0.14),
    "luma/ray-flash-2": Price(0.05),
    "*": Price(0.50),  # unknown models are priced high rather than free
}


def tier_of(size: str | None) -> str | None:
    """480p/720p/1080p/4k by the short edge of `WxH`."""
    if not size or "x" not in size:
        return None
    try:
        short = min(int(p) for p in size.split("x", 1))
    except ValueError:
        return None
    if short <= 480:
        return "480p"
    if short <= 720:
        return "720p"
    if short <= 1080:
        return "1080p"
    return "4k"


def _specificity(pattern: str) -> tuple[int, int]:
    return (-pattern.count("*") - pattern.count("?"), len(pattern))


class PriceTable:
    def __init__(self, configured: dict[str, Any], stored: dict[str, Price] | None = None) -> None:
        self.configured = {k: parse_price(v) for k, v in configured.items()}
        self.stored = stored or {}

    def lookup(self, provider_model: str) -> tuple[str, Price]:
        for table in (self.stored, self.configured, BUILT_IN):
            hits = [p for p in table if fnmatchcase(provider_model, p)]
            if hits:
                best = max(hits, key=_specificity)
                return best, table[best]
        return "*", BUILT_IN["*"]

    def cost(self, provider_model: str, seconds: float, size: str | None) -> float:
        _, price = self.lookup(provider_model)
        return round(price.for_tier(tier_of(size)) * seconds, 6)

    def effective(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for source, table in (
            ("built-in", BUILT_IN),
            ("config", self.configured),
            ("admin", self.stored),
        ):
            for pattern, p in table.items():
                merged[pattern] = {
                    "per_second": p.per_second,
                    "tiers": p.tiers,
                    "bill_failures": p.bill_failures,
                    "source": source,
                }
        return merged


def parse_price(value: Any) -> Price:
    """A price from config or a stored row: a number, or a mapping with `per_second`,
    `tiers` (resolution → dollars per second) and `bill_failures`; ValueError otherwise."""
    if isinstance(value, int | float):
        return Price(float(value))
    if isinstance(value, dict):
        tiers = value.get("tiers") or {}
        if not isinstance(tiers, dict):
            raise ValueError(f"a price's tiers must be a mapping, not {tiers!r}")
        try:
            return Price(
                float(value.get("per_second", 0.0)),
                {str(k): float(v) for k, v in tiers.items()},
                bool(value.get("bill_failures", False)),
            )
        except (TypeError, ValueError):
            raise ValueError(f"a price's amounts must be numbers, not {value!r}") from None
    raise ValueError(f"a price must be a number or a mapping, not {value!r}")
