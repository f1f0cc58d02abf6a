"""Exponential backoff with ±20% jitter, shared by the poller and the deletion outbox."""

from __future__ import annotations

import random


def backoff(base: float, attempts: int, cap: float, max_exponent: int) -> float:
    """`base * 2**attempts` seconds (exponent bounded by `max_exponent`), at most `cap`,
    jittered so retries from many jobs do not arrive together."""
    delay = min(cap, base * (2 ** min(attempts, max_exponent)))
    return float(delay * random.uniform(0.8, 1.2))
