"""`videogate videos create --wait` and `videogate videos watch`: progress for people.

Talks to a running gateway over HTTP like any client would, shows the job's progress until it
ends, then downloads the video and says where it went. On a terminal the progress is a bar
redrawn in place; into a pipe or a file it is one plain line per change, since `\r` frames
would pile up there as noise.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import aiohttp

BAR_WIDTH = 30
TERMINAL = ("completed", "failed")


def bar(video: dict[str, Any], started: float) -> str:
    """One frame of the terminal's bar, drawn over the previous one (hence the `\r`)."""
    progress = int(video.get("progress") or 0)
    filled = BAR_WIDTH * progress // 100
    elapsed = int(time.monotonic() - started)
    return (
        f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress:3d}% "
        f"{video.get('status', '?'):<11} {elapsed}s "
    )


class Progress:
    """A job's progress on `out`: the bar on a terminal, else a line whenever it changes."""

    def __init__(self, out: TextIO, started: float | None = None) -> None:
        self.out = out
        self.started = time.monotonic() if started is None else started
        isatty = getattr(out, "isatty", None)
        self.tty = bool(isatty and isatty())
        self._last: tuple[str, int] | None = None

    def update(self, video: dict[str, Any]) -> None:
        if self.tty:
            self.out.write(bar(video, self.started))
            self.out.flush()
            return
        state = (str(video.get("status", "?")), int(video.get("progress") or 0))
        if state != self._last:  # a poll that changed nothing adds no line to a log
            self._last = state
            elapsed = int(time.monotonic() - self.started)
            print(f"{video.get('id', '?')}: {state[0]} {state[1]}% ({elapsed}s)", file=self.out)
            self.out.flush()

    def end(self) -> None:
        """Leave the bar's line, so what follows starts on a fresh one."""
        if self.tty:
            self.out.write("\n")
            self.out.flush()


class GatewayClient:
    def __init__(self, base_url: str, key: str) -> None:
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}

    async def call(
        self, session: aiohttp.ClientSession, method: str, path: str, **kw: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        async with session.request(method, self.base + path, headers=self.headers, **kw) as r:
            body = await r.json(content_type=None)
            if r.status >= 400:
                err = body.get("error", {}) if isinstance(body, dict) else {}
                raise SystemExit(f"videogate: {r.status} {err.get('code')}: {err.get('message')}")
            return body, dict(r.headers)

    async def watch(self, video_id: str, output: Path | None, out: TextIO = sys.stderr) -> int:
        progress = Progress(out)
        async with aiohttp.ClientSession() as session:
            while True:
                video, headers = await self.call(session, "GET", f"/v1/videos/{video_id}")
                progress.update(video)
                if video["status"] in TERMINAL:
                    break
                await asyncio.sleep(int(headers.get("openai-poll-after-ms", "1000")) / 1000)
            progress.end()
            if video["status"] == "failed":
                err = video.get("error") or {}
                print(f"failed: {err.get('code')}: {err.get('message')}", file=out)
                return 1
            target = output or Path(video_id.split(":")[0] + ".mp4")
            async with session.get(
                f"{self.base}/v1/videos/{video_id}/content", headers=self.headers
            ) as r:
                if r.status >= 400:
                    raise SystemExit(f"videogate: download failed with HTTP {r.status}")
                with target.open("wb") as fh:
                    async for chunk in r.content.iter_chunked(1 << 20):
                        fh.write(chunk)
            print(
                f"completed: {video_id} -> {target.resolve()} ({target.stat().st_size} bytes)",
                file=out,
            )
            return 0

    async def create(self, fields: dict[str, str]) -> str:
        async with aiohttp.ClientSession() as session:
            video, _ = await self.call(session, "POST", "/v1/videos", json=fields)
        return str(video["id"])
