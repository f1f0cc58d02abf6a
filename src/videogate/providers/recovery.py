"""A step that recovers a job-shaped API from an uncertain state: a delete the provider
refuses while the job is still running (the outbox retries it once the job has ended).

There is deliberately no prompt-matching "find the job a timed-out create started" helper:
that adopts another client's job on a shared account (issue 18). An adapter whose API takes
a client reference (Kling's `external_task_id`) implements `find_created` by it; for the
rest the gateway refuses to guess (`idempotency_outcome_unknown`).
"""

from __future__ import annotations

from ..config import UpstreamKey
from ..errors import UpstreamError
from .base import (
    TERMINAL,
    CallContext,
    DeleteResult,
    Provider,
)


async def pending_while_running(
    provider: Provider, video_id: str, key: UpstreamKey, ctx: CallContext, refusal: UpstreamError
) -> DeleteResult | None:
    """After the provider refused to delete or cancel a job: a pending result (the outbox
    retries) while the job still runs, None once it has ended (the refusal then stands)."""
    current = await provider.retrieve(video_id, key, ctx)
    if current.status not in TERMINAL:
        return DeleteResult(deleted=False, pending=True, detail=refusal.message)
    return None
