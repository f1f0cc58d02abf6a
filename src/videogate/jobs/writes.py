"""Poll answers that leave their jobs active, written in batches (group commit).

Most polls of a running job change nothing but its progress, `updated_at` and next due time,
yet each was its own transaction: on SQLite a BEGIN IMMEDIATE/COMMIT on the event loop (12% of
the worker's samples at 10^4 active jobs, py-spy), on PostgreSQL a round trip. Here the
answers gathered for `FLUSH_SECONDS` are written in one transaction (`VideoStore.record_polls`,
each row still guarded by its lease and an active status); whoever deferred an answer awaits
its future. The job's lease is held until then, so no other worker polls it meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib

from ..store.videos import VideoStore
from ..video import Video

# How long answers gather before one write. At 2,000 polls/s that is batches of about ten; a
# retrieve sees the answer at most this much later (stale_after_seconds is 10 s).
FLUSH_SECONDS = 0.005


class PollWrites:
    def __init__(self, videos: VideoStore) -> None:
        self.videos = videos
        self._queue: list[tuple[Video, str, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def defer(self, video: Video, token: str) -> asyncio.Future[None]:
        """Queue `video`'s answer (held under lease `token`); done once it is written."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.append((video, token, done))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush(), name="videogate-poll-writes")
        return done

    async def _flush(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(FLUSH_SECONDS)
                batch, self._queue = self._queue, []
                try:
                    await self.videos.record_polls([(v, token) for v, token, _ in batch])
                except Exception as exc:
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for *_, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._flusher = None

    async def drain(self) -> None:
        """Until every queued answer is written (a stopping worker)."""
        while self._flusher is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flusher)
