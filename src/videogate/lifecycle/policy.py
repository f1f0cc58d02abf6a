"""Every delay of a job's life in one place: when to poll it again, how to back off after an
error, how long a stored answer stays fresh, when mirroring gives up, when the deletion
outbox retries, and how long a create may stay "started".

All of it follows from `worker` settings and each provider's own poll interval, so changing
the policy means changing this module only. Randomised delays use ±20% jitter, so retries
from many jobs do not arrive together.
"""

from __future__ import annotations

import random
import time

from ..config import WorkerConfig

# A row whose provider is no longer configured is looked at again after this long.
ORPHAN_DELAY_SECONDS = 300.0
# A worker step that crashed (a bug, not a provider error) is retried after this long.
CRASH_DELAY_SECONDS = 30.0
# Mirroring gives up (mirror_state failed) after this many failed copies in a row.
MAX_MIRROR_FAILURES = 8
# Exponents of the backoffs: polls double up to 2**8 x the interval, deletions 2**12 x base.
POLL_MAX_EXPONENT = 8
DELETION_MAX_EXPONENT = 12
# A fresh outbox row belongs to the request that is deleting for this long; after it the
# worker may retry (the request's process may have died).
INLINE_DELETE_GRACE_SECONDS = 30.0
# How long a delete waits for its inline upstream attempt before answering "pending".
INLINE_DELETE_ATTEMPT_SECONDS = 10.0
# Deletion retry bases: an upstream error, a provider missing from config.
DELETION_RETRY_BASE_SECONDS = 2.0
DELETION_ORPHAN_BASE_SECONDS = 60.0
# A job still running upstream (the provider cannot delete it yet) is retried at most at
# this exponent of its poll interval.
DELETION_PENDING_MAX_EXPONENT = 4
# A create still marked "started" after this long was lost with its process: a retry with
# its Idempotency-Key is refused as of unknown outcome instead of waiting.
STARTED_GIVE_UP_SECONDS = 300.0
# A create's limit reservation not taken over by a usage row after this long belongs to a
# create that died (kill -9 between reserve and record): the worker gives it back. Longer
# than any create can run (every key and fallback at the provider timeout).
RESERVATION_GRACE_SECONDS = 900.0
RESERVATION_SWEEP_SECONDS = 60.0  # how often the worker looks
# A local asset store's partial upload untouched this long belongs to a killed copy.
STAGING_GRACE_SECONDS = 600.0


def jittered(delay: float) -> float:
    return float(delay * random.uniform(0.8, 1.2))


def backoff(base: float, attempts: int, cap: float, max_exponent: int) -> float:
    """`base * 2**attempts` seconds (exponent bounded by `max_exponent`), at most `cap`,
    jittered."""
    return jittered(min(cap, base * (2 ** min(attempts, max_exponent))))


class PollPolicy:
    """The worker's timing rules for one gateway process."""

    def __init__(self, worker: WorkerConfig) -> None:
        self.worker = worker

    # -- polling --------------------------------------------------------------------------
    def next_poll(
        self, interval_ms: int, failures: int = 0, retry_after: float | None = None
    ) -> float:
        """When to look again: the provider's interval with jitter, backing off on errors
        (up to `poll_backoff_max_seconds`), never sooner than a Retry-After it asked for."""
        delay = backoff(
            interval_ms / 1000, failures, self.worker.poll_backoff_max_seconds, POLL_MAX_EXPONENT
        )
        if retry_after is not None:
            delay = max(delay, retry_after)
        return time.time() + delay

    def first_poll(self, interval_ms: int) -> float:
        """A job just started (or just shared through the cache)."""
        return self.next_poll(interval_ms)

    @staticmethod
    def attached_poll(interval_ms: int, now: float) -> float:
        """A cache hit attached to a running job: polled one interval from now, no jitter
        (its sibling is polled on its own schedule already)."""
        return now + interval_ms / 1000

    @staticmethod
    def orphaned() -> float:
        return time.time() + ORPHAN_DELAY_SECONDS

    @staticmethod
    def after_crash() -> float:
        return time.time() + CRASH_DELAY_SECONDS

    def fresh_for(self, interval_ms: int) -> float | None:
        """How long a stored answer of a running job may be served without asking the
        provider: only while a worker keeps rows fresh (here or external); None: never."""
        if not (self.worker.enabled or self.worker.external):
            return None
        return max(self.worker.stale_after_seconds, 2 * interval_ms / 1000)

    # -- mirroring ------------------------------------------------------------------------
    @staticmethod
    def mirror_gives_up(failures: int) -> bool:
        return failures >= MAX_MIRROR_FAILURES

    def mirror_retry(self, interval_ms: int, failures: int) -> float:
        return self.next_poll(interval_ms, failures)

    # -- the deletion outbox --------------------------------------------------------------
    def deletion_retry(self, attempts: int, base: float = DELETION_RETRY_BASE_SECONDS) -> float:
        """Seconds until an owed upstream deletion is tried again."""
        return backoff(
            base, attempts, self.worker.deletion_backoff_max_seconds, DELETION_MAX_EXPONENT
        )

    def deletion_orphan_retry(self, attempts: int) -> float:
        return self.deletion_retry(attempts, DELETION_ORPHAN_BASE_SECONDS)

    def deletion_pending_retry(self, attempts: int, interval_ms: int) -> float:
        """The provider cannot delete a job still running: retry about when it may end."""
        base = max(1.0, interval_ms / 1000)
        return self.deletion_retry(min(attempts, DELETION_PENDING_MAX_EXPONENT), base)
