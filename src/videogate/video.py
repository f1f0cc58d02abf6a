"""The one Video type: a job as the gateway keeps it, and a provider's answer about it.

Everything above the store works with `Video`; the store converts its rows at its edge
(`Video.from_row` / `Video.to_row`), so the set of columns, the status vocabulary and the
rule for applying a provider's answer are written once, here. Providers answer with
`UpstreamVideo` (their ids, OpenAI's vocabulary); `Video.apply` folds one into a job.

This module sits in the bottom layer (beside `config`, `errors` and `ids`): providers, the
store and every service import it, and it imports nothing of theirs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal

from .ids import public_id


class VideoStatus(StrEnum):
    """OpenAI's four statuses, the only ones a client ever sees."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


Status = Literal["queued", "in_progress", "completed", "failed"]
STATUSES: frozenset[str] = frozenset(VideoStatus)
ACTIVE: frozenset[str] = frozenset({VideoStatus.QUEUED, VideoStatus.IN_PROGRESS})
TERMINAL: frozenset[str] = frozenset({VideoStatus.COMPLETED, VideoStatus.FAILED})
# In SQL: the statement text of `ACTIVE`, for `status IN (...)`.
ACTIVE_SQL = "('queued', 'in_progress')"


class Failure(StrEnum):
    """Canonical `error.code`s of failed jobs, so a client can tell a refused prompt from an
    outage whatever the provider; adapters map their own reasons onto these in a table."""

    MODERATION = "moderation_blocked"  # input or output refused by safety filters
    INTERNAL = "internal_error"  # the provider failed while generating
    CANCELLED = "cancelled"  # cancelled upstream (by us or by someone else)
    EXPIRED = "expired"  # the provider dropped the job before it finished
    INVALID = "invalid_request"  # the provider rejected the parameters after accepting
    UNKNOWN = "generation_failed"


@dataclass
class UpstreamVideo:
    """A provider's job, already mapped to OpenAI's vocabulary (ids are the provider's)."""

    id: str
    status: Status
    progress: int = 0
    created_at: int = field(default_factory=lambda: int(time.time()))
    completed_at: int | None = None
    expires_at: int | None = None
    model: str | None = None
    prompt: str | None = None
    size: str | None = None
    seconds: str | None = None
    remixed_from: str | None = None  # the provider's id of the source video
    error: dict[str, str] | None = None
    raw: Any = None
    # What the provider reports the job cost (dollars) or used (tokens), once it says;
    # settlement uses them instead of the price table's estimate.
    cost_usd: float | None = None
    tokens: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"not an OpenAI video status: {self.status!r}")
        self.progress = max(0, min(100, int(self.progress)))


@dataclass(slots=True)
class Video:
    """One job (one row of `videos`). `seq` is the store's order; 0 until stored."""

    id: str
    provider: str
    upstream_id: str
    owner: str
    status: str
    created_at: int
    updated_at: float
    model_requested: str | None = None
    model_deployment: str | None = None
    provider_key: str | None = None
    progress: int = 0
    prompt: str | None = None
    size: str | None = None
    seconds: str | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    remixed_from: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    assets: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    next_poll_at: float | None = None
    poll_failures: int = 0
    lease_owner: str | None = None
    lease_until: float | None = None
    mirror_state: str | None = None  # pending | done | failed | expired
    idempotency_key: str | None = None
    seq: int = 0

    # -- the store's edge -----------------------------------------------------------------
    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Video:
        return cls(**{name: row[name] for name in COLUMNS if name in row})

    def to_row(self) -> dict[str, Any]:
        """Every column but `seq` (the store assigns it)."""
        return {name: getattr(self, name) for name in INSERT_COLUMNS}

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def started(
        cls,
        up: UpstreamVideo,
        *,
        provider: str,
        public_token: str,
        owner: str,
        model_requested: str,
        deployment: str | None,
        key_name: str,
        prompt: str,
        size: str | None,
        seconds: str | None,
        remixed_from: str | None = None,
        idempotency_key: str | None = None,
    ) -> Video:
        """A job a provider has just accepted (its first answer folded in)."""
        video = cls(
            id=public_id(public_token, provider),
            provider=provider,
            upstream_id=up.id,
            owner=owner,
            status=up.status,
            created_at=up.created_at or int(time.time()),
            updated_at=time.time(),
            model_requested=model_requested,
            model_deployment=up.model or deployment,
            provider_key=key_name,
            prompt=up.prompt if up.prompt is not None else prompt,
            size=up.size or size,
            seconds=up.seconds or seconds,
            remixed_from=remixed_from,
            idempotency_key=idempotency_key,
        )
        video.fold(up)
        return video

    # -- state ----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    def fold(self, up: UpstreamVideo) -> None:
        """Take the provider's answer into this job: the columns an answer refreshes."""
        self.status = up.status
        self.progress = up.progress
        self.completed_at = up.completed_at
        self.expires_at = up.expires_at
        self.error_code = up.error["code"] if up.error else None
        self.error_message = up.error["message"] if up.error else None
        self.updated_at = time.time()

    def apply(self, up: UpstreamVideo) -> Video:
        """A copy of this job with the provider's answer folded in."""
        updated = replace(self)
        updated.fold(up)
        return updated

    # -- presentation ---------------------------------------------------------------------
    def openai(self) -> dict[str, Any]:
        """OpenAI's Video object: every key present, null where unknown."""
        error: dict[str, Any] | None = None
        if self.status == VideoStatus.FAILED or self.error_code:
            error = {
                "code": self.error_code or Failure.UNKNOWN.value,
                "message": self.error_message or "",
            }
        return {
            "id": self.id,
            "object": "video",
            "model": self.model_deployment or self.model_requested,
            "status": str(self.status),
            "progress": self.progress,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "expires_at": self.expires_at,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": self.seconds,
            "remixed_from_video_id": self.remixed_from,
            "error": error,
        }


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Video))
INSERT_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c != "seq")
# What a provider's answer changes (`Video.fold`), plus the poll bookkeeping set beside it.
ANSWER_COLUMNS: tuple[str, ...] = (
    "status",
    "progress",
    "completed_at",
    "expires_at",
    "error_code",
    "error_message",
    "updated_at",
)
