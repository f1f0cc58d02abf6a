"""What a video costs, in every dimension providers bill, per provider/model.

A price is dollars per output second (optionally per resolution tier), plus an audio
surcharge per second, a per-token rate (Seedance 2.x bills tokens = width x height x fps x
seconds / 1024), input-video seconds (edits and extensions bill the source they read) and a
minimum charge per job. `Usage` carries the dimensions of one job; `Price.charge` turns it
into dollars. The estimate reserved at create and the settled cost use the same function;
where the provider reports its own cost or token count, settlement uses that instead.

Lookup order: prices set through the admin API (stored), then the config's `prices`, then
the built-in table below; the most specific matching pattern wins. The built-in figures are
providers' published list prices where known, as a starting point; set your own in config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

# The frame rate token-billed models are assumed to render at when a request does not say.
DEFAULT_FPS = 24
# Sides of each tier at 16:9, for token estimates when a request names a tier, not a size.
TIER_PIXELS: dict[str, tuple[int, int]] = {
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "4k": (3840, 2160),
}


@dataclass(frozen=True)
class Usage:
    """The billable dimensions of one job (what was asked, or what the provider reported)."""

    seconds: float
    size: str | None = None
    resolution: str | None = None  # a tier; derived from `size` when not given
    audio: bool = False
    input_seconds: float = 0.0  # seconds of source video an edit or extension reads
    fps: int | None = None
    tokens: float | None = None  # reported by the provider; estimated when None

    def tier(self) -> str | None:
        return self.resolution or tier_of(self.size)

    def estimated_tokens(self) -> float:
        if self.tokens is not None:
            return self.tokens
        dims = _dims(self.size) or TIER_PIXELS.get(self.tier() or "720p", TIER_PIXELS["720p"])
        return dims[0] * dims[1] * (self.fps or DEFAULT_FPS) * self.seconds / 1024


@dataclass(frozen=True)
class Reported:
    """What a provider said a finished job cost or used, when it says (settlement prefers
    it to the price table's figure)."""

    cost_usd: float | None = None
    tokens: float | None = None


@dataclass(frozen=True)
class Price:
    per_second: float = 0.0
    tiers: dict[str, float] = field(default_factory=dict)
    bill_failures: bool = False
    audio_per_second: float = 0.0  # added per output second when audio is generated
    per_million_tokens: float = 0.0
    input_per_second: float = 0.0  # per second of input video (edits, extensions)
    minimum: float = 0.0  # the least a billed job costs

    def for_tier(self, tier: str | None) -> float:
        if tier is not None and tier in self.tiers:
            return self.tiers[tier]
        return self.per_second

    def charge(self, usage: Usage) -> float:
        """Dollars for `usage`: every dimension this price bills, at least `minimum`."""
        total = self.for_tier(usage.tier()) * usage.seconds
        if usage.audio:
            total += self.audio_per_second * usage.seconds
        if self.per_million_tokens:
            total += self.per_million_tokens * usage.estimated_tokens() / 1_000_000
        total += self.input_per_second * usage.input_seconds
        return round(max(total, self.minimum), 6)

    def describe(self) -> dict[str, Any]:
        """The price as the catalogue and `/api/governance/prices` show it."""
        return {
            "per_second": self.per_second,
            "tiers": self.tiers,
            "audio_per_second": self.audio_per_second,
            "per_million_tokens": self.per_million_tokens,
            "input_per_second": self.input_per_second,
            "minimum": self.minimum,
            "bill_failures": self.bill_failures,
        }


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
    # Alibaba's list prices with audio (via lumenfall.ai / docs.empiriolabs.ai); wan2.7's
    # 1080p tier is inferred from 2.6's.
    "dashscope/wan2.6-*flash*": Price(0.05, {"1080p": 0.075}),
    "dashscope/wan2.6-*": Price(0.10, {"1080p": 0.15}),
    "dashscope/wan2.7-*": Price(0.10, {"1080p": 0.15}),
    # Vidu credits at an inferred $0.05 per credit (doc-en.302.ai's table).
    "vidu/viduq2-turbo": Price(0.05, {"1080p": 0.10}),
    "vidu/viduq2-pro": Price(0.10, {"1080p": 0.20}),
    "vidu/viduq1*": Price(0.08),
    "vidu/vidu2.0": Price(0.05, {"1080p": 0.125}),
    # MiniMax H3: $0.08/s at 768P, $0.13/s at 2K (tier_of files 2K under "4k").
    "minimax_h3/MiniMax-H3*": Price(0.08, {"4k": 0.13}),
    # Bedrock list prices (not re-verified this session): Nova Reel 720p, Luma Ray 2.
    "bedrock/amazon.nova-reel*": Price(0.08),
    "bedrock/luma.ray-v2*": Price(1.50, {"540p": 0.75}),
    # xAI: $0.05/s (docs.x.ai via TanStack/ai#705), 720p from ComfyUI's nodes_grok.py badge.
    "xai/grok-imagine-video": Price(0.05, {"720p": 0.07}),
    "xai/grok-imagine-video-1.5*": Price(0.08, {"720p": 0.14}),
    # OpenRouter (Agent-Field/agentfield#464); it also reports each job's cost.
    "openrouter/google/veo-3.1*": Price(0.40, {"1080p": 0.50}),
    "openrouter/openai/sora-2-pro": Price(0.30),
    "openrouter/alibaba/wan-2.6": Price(0.04),
    # LTX (ComfyUI nodes_ltxv.py badges: 1080p / 1440p / 2160p; 1440p bills at "4k" here).
    "ltx/ltx-2-fast": Price(0.04, {"4k": 0.16}),
    "ltx/ltx-2-pro": Price(0.06, {"4k": 0.24}),
    "ltx/ltx-2-3-fast": Price(0.06),
    "ltx/ltx-2-3-pro": Price(0.08),
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


def _dims(size: str | None) -> tuple[int, int] | None:
    if not size or "x" not in size:
        return None
    w, _, h = size.partition("x")
    return (int(w), int(h)) if w.isdigit() and h.isdigit() else None


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

    def cost(self, provider_model: str, usage: Usage) -> float:
        return self.lookup(provider_model)[1].charge(usage)

    def for_deployment(self, provider_id: str, type_name: str, model: str) -> tuple[str, Price]:
        """The price of `provider_id/model`; when only the catch-all matches it, that of
        `type_name/model` (a second `simulated` provider has the simulator's list price)."""
        found = self.lookup(f"{provider_id}/{model}")
        if found[0] == "*" and type_name != provider_id:
            return self.lookup(f"{type_name}/{model}")
        return found

    def effective(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for source, table in (
            ("built-in", BUILT_IN),
            ("config", self.configured),
            ("admin", self.stored),
        ):
            for pattern, p in table.items():
                merged[pattern] = {**p.describe(), "source": source}
        return merged


PRICE_FIELDS = (
    "per_second",
    "audio_per_second",
    "per_million_tokens",
    "input_per_second",
    "minimum",
)


def parse_price(value: Any) -> Price:
    """A price from config or a stored row: a number (dollars per second), or a mapping
    with any of `PRICE_FIELDS` (non-negative numbers), `tiers` (resolution → dollars per
    second) and `bill_failures`; ValueError otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a price cannot be negative, not {value!r}")
        return Price(float(value))
    if not isinstance(value, dict):
        raise ValueError(f"a price must be a number or a mapping, not {value!r}")
    unknown = set(value) - {*PRICE_FIELDS, "tiers", "bill_failures"}
    if unknown:
        raise ValueError(f"unknown price field(s): {', '.join(sorted(unknown))}")
    tiers = value.get("tiers") or {}
    if not isinstance(tiers, dict):
        raise ValueError(f"a price's tiers must be a mapping, not {tiers!r}")
    amounts: dict[str, float] = {}
    try:
        for name in PRICE_FIELDS:
            amounts[name] = _amount(value.get(name, 0.0))
        tier_amounts = {str(k): _amount(v) for k, v in tiers.items()}
    except (TypeError, ValueError):
        raise ValueError(f"a price's amounts must be non-negative numbers, not {value!r}") from None
    return Price(
        tiers=tier_amounts, bill_failures=bool(value.get("bill_failures", False)), **amounts
    )


def _amount(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(value)
    return float(value)
