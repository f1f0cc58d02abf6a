"""Loopback mock of MiniMax's v1 video generation API (Hailuo), errors and all.

Speaks the real wire format: Bearer auth, JSON bodies, and every API-level error as HTTP 200
with `base_resp.status_code != 0` (1004 bad key, 2013 bad parameters, 1026 sensitive
prompt). Tasks walk Preparing -> Queueing -> Processing -> Success|Fail by the clock; a
finished task has a `file_id`, `/v1/files/retrieve` hands out a download URL on this
server's "CDN" (no auth, like MiniMax's signed links) which serves a real MP4. A prompt
containing `moderation_word` fails at the end with 1027 (output judged sensitive); one
containing `blocked_word` is refused at create with 1026.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import fetchable_image, render_clip, stage_at, word_pattern

OK = {"status_code": 0, "status_msg": "success"}
# HTTP status of an injected failure -> the base_resp code MiniMax would put in its body.
STATUS_CODES = {400: 2013, 401: 1004, 402: 1008, 429: 1002, 500: 1000, 503: 1000, 504: 1001}
# model -> (resolution -> durations, needs a first frame, takes one, image-only resolutions)
MODELS: dict[str, tuple[dict[str, tuple[int, ...]], bool, bool, frozenset[str]]] = {
    "MiniMax-Hailuo-2.3": ({"768P": (6, 10), "1080P": (6,)}, False, True, frozenset()),
    "MiniMax-Hailuo-2.3-Fast": ({"768P": (6, 10), "1080P": (6,)}, True, True, frozenset()),
    "MiniMax-Hailuo-02": (
        {"512P": (6, 10), "768P": (6, 10), "1080P": (6,)},
        False,
        True,
        frozenset({"512P"}),
    ),
    "T2V-01": ({"720P": (6,)}, False, False, frozenset()),
    "T2V-01-Director": ({"720P": (6,)}, False, False, frozenset()),
    "I2V-01": ({"720P": (6,)}, True, True, frozenset()),
    "I2V-01-Director": ({"720P": (6,)}, True, True, frozenset()),
    "I2V-01-live": ({"720P": (6,)}, True, True, frozenset()),
}
DIMENSIONS = {"512P": (912, 512), "720P": (1280, 720), "768P": (1366, 768), "1080P": (1920, 1080)}
DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.DOTALL)


@dataclass
class Task:
    id: str
    model: str
    prompt: str
    duration: int
    resolution: str
    first_frame_image: str | None
    created: float
    file_id: str
    failure: dict[str, Any] | None


class MiniMaxMock(MockServer):
    """`/v1/video_generation`, `/v1/query/video_generation`, `/v1/files/retrieve`, CDN."""

    public_paths = ("/cdn/",)  # signed CDN links carry no API key

    def __init__(
        self,
        api_key: str = "mm-test-key",
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        *,
        moderation_word: str = "moderation",
        blocked_word: str = "forbidden",
        media_size: tuple[int, int] = (64, 64),
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.moderation = word_pattern(moderation_word)
        self.blocked = word_pattern(blocked_word)
        self.media_size = media_size
        self.tasks: dict[str, Task] = {}
        self.files: dict[str, Task] = {}

    def video_bytes(self) -> bytes:
        """The MP4 every finished task downloads as (rendered once)."""
        return self.rendered(
            "video", lambda: render_clip(self.media_size, "videogate minimax mock")
        )

    # -- MiniMax's envelope ---------------------------------------------------------------
    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"base_resp": {"status_code": STATUS_CODES.get(status, 1000), "status_msg": message}}

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.fail(
            1004, "login fail: Please carry the API secret key in the 'Authorization' field"
        )

    def fail(self, code: int, message: str, **fields: Any) -> web.Response:
        """An API error as MiniMax sends it: HTTP 200, the reason in `base_resp`."""
        return self.json_response(
            {**fields, "base_resp": {"status_code": code, "status_msg": message}}
        )

    # -- routes ---------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/video_generation", self.create)
        app.router.add_get("/v1/query/video_generation", self.query)
        app.router.add_get("/v1/files/retrieve", self.retrieve_file)
        app.router.add_get("/cdn/{file_id}.mp4", self.download)

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await self.read_json(request)
        except ApiError:
            return self.fail(2013, "invalid params, body is not JSON", task_id="")
        if not isinstance(body, dict):
            return self.fail(2013, "invalid params, body must be an object", task_id="")
        problem = self._check(body)
        if problem is not None:
            return self.fail(problem[0], problem[1], task_id="")
        prompt = str(body.get("prompt") or "")
        if self.blocked.search(prompt):
            return self.fail(1026, "input new_sensitive", task_id="")
        resolution = _resolution(body)
        failure = None
        if self.moderation.search(prompt):
            failure = {"status_code": 1027, "status_msg": "output video sensitive"}
        with self.lock:
            task = Task(
                id=str(random.randrange(10**14, 10**15)),
                model=body["model"],
                prompt=prompt,
                duration=int(body.get("duration") or 6),
                resolution=resolution,
                first_frame_image=body.get("first_frame_image"),
                created=self.clock(),
                file_id=str(random.randrange(10**14, 10**15)),
                failure=failure,
            )
            self.tasks[task.id] = task
            self.files[task.file_id] = task
        return self.json_response({"task_id": task.id, "base_resp": OK})

    def _check(self, body: dict[str, Any]) -> tuple[int, str] | None:
        """The 2013 MiniMax answers for a body it cannot run, or None."""
        model = body.get("model")
        if model not in MODELS:
            return 2013, f"invalid params, model {model!r} is not supported"
        durations, needs_image, takes_image, image_only = MODELS[model]
        prompt = body.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 2000):
            return 2013, "invalid params, prompt must be a string of at most 2000 characters"
        image = body.get("first_frame_image")
        if image is not None and not takes_image:
            return 2013, f"invalid params, {model} does not support first_frame_image"
        if image is None and needs_image:
            return 2013, "invalid params, first_frame_image is required"
        if image is None and not prompt:
            return 2013, "invalid params, prompt is required"
        if image is not None and not fetchable_image(image, DATA_URL):  # MiniMax decodes it
            return 2013, "invalid params, first_frame_image must be a URL or base64 data URL"
        resolution = _resolution(body)
        duration = body.get("duration", 6)
        if resolution not in durations or (resolution in image_only and image is None):
            return 2013, f"invalid params, resolution {resolution!r} not supported by {model}"
        if type(duration) is not int or duration not in durations[resolution]:
            return 2013, f"invalid params, duration {duration!r} not supported at {resolution}"
        return None

    def status_of(self, task: Task, now: float) -> str:
        half = self.queued_seconds / 2
        ended = "Fail" if task.failure else "Success"
        stages = ("Preparing", "Queueing", "Processing", ended)
        return stages[stage_at(now - task.created, half, half, self.run_seconds)]

    async def query(self, request: web.Request) -> web.Response:
        with self.lock:
            task = self.tasks.get(request.query.get("task_id", ""))
        if task is None:
            return self.fail(2013, "invalid params, task_id not found")  # (inferred)
        status = self.status_of(task, self.clock())
        width, height = DIMENSIONS[task.resolution] if status == "Success" else (0, 0)
        return self.json_response(
            {
                "task_id": task.id,
                "status": status,
                "file_id": task.file_id if status == "Success" else "",
                "video_width": width,
                "video_height": height,
                "base_resp": task.failure if status == "Fail" else OK,
            }
        )

    async def retrieve_file(self, request: web.Request) -> web.Response:
        file_id = request.query.get("file_id", "")
        with self.lock:
            task = self.files.get(file_id)
        if task is None or self.status_of(task, self.clock()) != "Success":
            return self.fail(2013, "invalid params, file not found")
        return self.json_response(
            {
                "file": {
                    "file_id": int(file_id),
                    "bytes": len(self.video_bytes()),
                    "created_at": int(task.created),
                    "filename": "output.mp4",
                    "purpose": "video_generation",
                    "download_url": f"{self.origin}/cdn/{file_id}.mp4?Expires=32400",
                },
                "base_resp": OK,
            }
        )

    async def download(self, request: web.Request) -> web.Response:
        with self.lock:
            known = request.match_info["file_id"] in self.files
        if not known:
            return web.Response(status=404, text="NoSuchKey", content_type="application/xml")
        return web.Response(body=self.video_bytes(), content_type="video/mp4")


def _resolution(body: dict[str, Any]) -> Any:
    """The requested resolution, or the model's default (720P for the 01 series)."""
    durations = MODELS[body["model"]][0]
    return body.get("resolution", "720P" if "720P" in durations else "768P")
