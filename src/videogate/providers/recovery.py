"""Steps that recover a job-shaped API from an uncertain state: finding the job a timed-out
create may have started (so no duplicate is made), and a delete the provider refuses while
the job is still running (the outbox retries it once the job has ended).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..config import UpstreamKey
from ..errors import UpstreamError
from .base import (
    TERMINAL,
    CallContext,
    CreateParams,
    DeleteResult,
    Provider,
    UpstreamVideo,
)

CREATE_CLOCK_SKEW = 5  # seconds a provider's clock may run behind ours


def created_by(
    videos: Iterable[UpstreamVideo], params: CreateParams, since: float
) -> Iterator[UpstreamVideo]:
    """The jobs among `videos` that a create timed out at `since` may have started: the same
    prompt and model (or no model reported), created no earlier than `since`. Adapters add
    what else their provider reports (size, version) when choosing one."""
    for video in videos:
        if (
            video.prompt == params.prompt
            and video.model in (None, params.model)
            and video.created_at >= int(since) - CREATE_CLOCK_SKEW
        ):
            yield video


# -- deletes ---------------------------------------------------------------------------------
async def pending_while_running(
    provider: Provider, video_id: str, key: UpstreamKey, ctx: CallContext, refusal: UpstreamError
) -> DeleteResult | None:
    """After the provider refused to delete or cancel a job: a pending result (the outbox
    retries) while the job still runs, None once it has ended (the refusal then stands)."""
    current = await provider.retrieve(video_id, key, ctx)
    if current.status not in TERMINAL:
        return DeleteResult(deleted=False, pending=True, detail=refusal.message)
    return None
