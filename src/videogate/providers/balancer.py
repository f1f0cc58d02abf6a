"""Choosing an upstream key: weighted among healthy keys allowed for the model, with a
circuit breaker per provider. State is per process (each instance learns on its own)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..config import UpstreamKey


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive retryable failures; after `cooldown` seconds one
    trial call is let through (half-open) and its outcome closes or re-opens the circuit."""

    threshold: int = 5
    cooldown: float = 30.0
    failures: int = 0
    open_until: float = 0.0
    _trial_at: float = 0.0

    def allow(self, now: float | None = None) -> bool:
        now = now or time.monotonic()
        if self.failures < self.threshold:
            return True
        if now < self.open_until:
            return False
        if self._trial_at and now - self._trial_at < self.cooldown:
            return False  # a half-open trial is already in flight
        self._trial_at = now
        return True

    def is_open(self, now: float | None = None) -> bool:
        """Whether calls are refused now (no trial is taken, unlike `allow`)."""
        now = now or time.monotonic()
        return self.failures >= self.threshold and now < self.open_until

    def state(self) -> str:
        """closed | open | half_open, for the catalogue and provider health."""
        if self.failures < self.threshold:
            return "closed"
        return "open" if self.is_open() else "half_open"

    def success(self) -> None:
        self.failures = 0
        self.open_until = 0.0
        self._trial_at = 0.0

    def failure(self, now: float | None = None) -> None:
        now = now or time.monotonic()
        self.failures += 1
        self._trial_at = 0.0
        if self.failures >= self.threshold:
            self.open_until = now + self.cooldown


@dataclass
class KeyPool:
    """Keys of one provider and which of them are currently believed unusable."""

    keys: list[UpstreamKey]
    unhealthy_seconds: float = 300.0
    _bad_until: dict[str, float] = field(default_factory=dict)

    def candidates(self, model: str) -> list[UpstreamKey]:
        """Healthy keys allowed for `model`, in weighted random order (best first).

        Efraimidis-Spirakis: sorting by u**(1/w) gives a weighted sample without
        replacement, so retries on "another key" follow the weights too.
        """
        now = time.monotonic()
        allowed = [k for k in self.keys if not k.models or _matches(model, k.models)]
        healthy = [k for k in allowed if self._bad_until.get(k.name, 0.0) <= now]
        pool = healthy or allowed  # all marked bad: still try rather than refuse outright
        return sorted(
            pool, key=lambda k: random.random() ** (1.0 / max(k.weight, 1e-9)), reverse=True
        )

    def mark_unhealthy(self, key: UpstreamKey) -> None:
        self._bad_until[key.name] = time.monotonic() + self.unhealthy_seconds

    def is_healthy(self, key: UpstreamKey) -> bool:
        return self._bad_until.get(key.name, 0.0) <= time.monotonic()


def _matches(model: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(model, p) for p in patterns)
