"""Two workers on one store share the due jobs: each job is polled once per interval, by one
of them (runs on SQLite and, with VIDEOGATE_TEST_DB=postgres, on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

from aiohttp import web

from videogate.config import load_settings
from videogate.gateway import Gateway
from videogate.jobs.worker import Worker
from videogate.video import Video

JOBS = 300


async def _upstream(
    polled: Counter[str], seen: list[int], all_seen: asyncio.Event
) -> tuple[web.AppRunner, int]:
    """An OpenAI-style provider that answers every poll `in_progress` after 10 ms."""

    async def retrieve(request: web.Request) -> web.Response:
        vid = request.match_info["vid"]
        polled[vid] += 1
        seen[0] += 1
        if seen[0] >= JOBS:
            all_seen.set()
        await asyncio.sleep(0.01)
        return web.json_response(
            {"id": vid, "object": "video", "status": "in_progress", "progress": 50}
        )

    app = web.Application()
    app.router.add_get("/v1/videos/{vid}", retrieve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def _gateway(db_url: str, data_dir: Path, port: int) -> Gateway:
    return await Gateway.start(
        load_settings(
            None,
            data_dir=data_dir,
            database_url=db_url,
            assets={"mirror": False},
            # small batches and few slots: many leases, both workers busy at once
            worker={"interval_seconds": 0.1, "poll_batch": 10, "polls_per_provider": 2},
            providers={
                "openai": {
                    "type": "openai",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                    "poll_after_ms": 60_000,  # one interval outlasts the test
                    "keys": [{"name": "main", "value": "sk-test"}],
                }
            },
        )
    )


async def test_two_workers_never_poll_one_job_twice_in_one_interval(
    db_url: str, tmp_path: Path
) -> None:
    polled: list[Counter[str]] = [Counter(), Counter()]
    seen, all_seen = [0], asyncio.Event()
    servers = [await _upstream(c, seen, all_seen) for c in polled]
    gws: list[Gateway] = []
    workers: list[Worker] = []
    try:
        for i, (_, port) in enumerate(servers):
            gws.append(await _gateway(db_url, tmp_path / f"gw{i}", port))
        now = time.time()
        for n in range(JOBS):
            await gws[0].videos.insert(
                Video(
                    id=f"video_run_{n}:openai",
                    provider="openai",
                    upstream_id=f"video_run_{n}",
                    owner="vk_test",
                    status="in_progress",
                    created_at=int(now),
                    updated_at=now,
                    provider_key="main",
                    next_poll_at=now - 1,
                )
            )
        workers = [Worker(gw) for gw in gws]
        for worker in workers:
            worker.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_seen.wait(), timeout=30)
        await asyncio.sleep(1.0)  # time for a second poll of any job, were one to come
    finally:
        for worker in workers:
            await worker.stop()
        for runner, _ in servers:
            await runner.cleanup()
    try:
        both = polled[0] + polled[1]
        assert max(both.values()) == 1, [v for v, c in both.items() if c > 1][:5]
        assert set(both) == {f"video_run_{n}" for n in range(JOBS)}
        assert polled[0] and polled[1], "one worker did all the polls"
        for n in (0, JOBS // 2, JOBS - 1):
            row = await gws[0].videos.get(f"video_run_{n}:openai")
            assert row is not None and row.lease_owner is None and row.progress == 50
            assert row.next_poll_at is not None and row.next_poll_at > time.time() + 30
    finally:
        for gw in gws:
            await gw.close()
