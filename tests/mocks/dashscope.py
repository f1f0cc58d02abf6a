"""Loopback mock of DashScope's (Alibaba Cloud Model Studio) Wan video synthesis API.

Speaks the documented wire format: Bearer key, `X-DashScope-Async: enable` required on the
create (without it: 403 AccessDenied "current user api does not support synchronous calls"),
`{"model", "input", "parameters"}` checked per Wan family as the real service does (2.6
`size` as `W*H` / `img_url` / `reference_urls`; 2.7 and 3.0 `input.media[]` with typed
entries and `resolution` + `ratio`), `{"request_id", "output": {"task_id", "task_status"}}`,
and `GET /api/v1/tasks/{id}` walking PENDING -> RUNNING -> SUCCEEDED|FAILED by the clock.
Tasks older than `ttl_seconds`, ones `forget`-ed, and ids never issued read UNKNOWN, as
DashScope answers for a task id past its 24 h. Errors are `{"request_id", "code",
"message"}` with the documented HTTP statuses.

The finished video is an "OSS" link on this server (`/oss/...`), public like DashScope's
signed result URLs; it refuses requests that carry an Authorization header. A prompt with
`blocked_word` is refused at create (400 DataInspectionFailed); one with `moderation_word`
fails at the end with DataInspectionFailed in `output.code`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import fetchable_image, render_clip, stage_at, word_pattern

DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.DOTALL)
PIXEL_SIZES = frozenset(
    {"1280*720", "720*1280", "960*960", "1088*832", "832*1088"}
    | {"1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"}
)
RATIOS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4"})
HD = frozenset({"720P", "1080P"})
I2V = frozenset({"first_frame", "last_frame", "first_clip", "driving_audio"})
R2V = frozenset({"first_frame", "reference_image", "reference_video"})
EDIT = frozenset({"video", "reference_image"})
OMNI = frozenset({"first_frame", "last_frame", "reference_image"})
# model family -> (durations (min, max), resolutions, media types it takes)
FAMILIES: dict[str, tuple[tuple[int, int], frozenset[str], frozenset[str]]] = {
    "wan2.6-t2v": ((2, 15), frozenset(), frozenset()),
    "wan2.6-i2v": ((2, 15), HD, frozenset()),
    "wan2.6-r2v": ((2, 10), frozenset(), frozenset()),
    "wan2.7-t2v": ((2, 15), HD, frozenset()),
    "wan2.7-i2v": ((2, 15), HD, I2V),
    "wan2.7-r2v": ((2, 15), HD, R2V),
    "wan2.7-videoedit": ((2, 10), HD, EDIT),
    "wan3.0-video": ((2, 30), HD | {"480P"}, OMNI),
}
# The material combinations wan2.7-i2v accepts (any other is refused).
I2V_COMBINATIONS = (
    {"first_frame"},
    {"first_frame", "driving_audio"},
    {"first_frame", "last_frame"},
    {"first_frame", "last_frame", "driving_audio"},
    {"first_clip"},
    {"first_clip", "last_frame"},
)
# HTTP status of an injected failure -> DashScope's error code.
ERROR_CODES = {
    400: "InvalidParameter",
    401: "InvalidApiKey",
    403: "AccessDenied",
    429: "Throttling.RateQuota",
    500: "InternalError",
    503: "InternalError",
}


@dataclass
class Task:
    id: str
    model: str
    prompt: str
    duration: int
    created: float
    failure: dict[str, str] | None
    forgotten: bool = False


class DashScopeMock(MockServer):
    """`POST .../video-synthesis`, `GET /api/v1/tasks/{id}` and the result "OSS" bucket."""

    public_paths = ("/oss/",)

    def __init__(
        self,
        api_key: str = "sk-dashscope-test",
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        *,
        ttl_seconds: float = 24 * 3600,
        moderation_word: str = "moderation",
        blocked_word: str = "forbidden",
        media_size: tuple[int, int] = (64, 36),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.ttl_seconds = ttl_seconds
        self.moderation = word_pattern(moderation_word)
        self.blocked = word_pattern(blocked_word)
        self.media_size = media_size
        self.tasks: dict[str, Task] = {}

    def video_bytes(self) -> bytes:
        return self.rendered("video", lambda: render_clip(self.media_size, "dashscope mock"))

    def forget(self, task_id: str) -> None:
        """Make DashScope lose the task, as it does 24 h after the create."""
        with self.lock:
            self.tasks[task_id].forgotten = True

    # -- DashScope's envelope -------------------------------------------------------------
    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {
            "request_id": str(uuid.uuid4()),
            "code": code or ERROR_CODES.get(status, "InternalError"),
            "message": message,
        }

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error_response(401, "Invalid API-key provided.", code="InvalidApiKey")

    # -- routes ---------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/services/aigc/video-generation/video-synthesis", self.create)
        app.router.add_get("/api/v1/tasks/{task_id}", self.query)
        app.router.add_get("/oss/{task_id}.mp4", self.download)

    async def create(self, request: web.Request) -> web.Response:
        if request.headers.get("X-DashScope-Async") != "enable":
            raise ApiError(
                403, "current user api does not support synchronous calls", code="AccessDenied"
            )
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object.", code="InvalidParameter")
        model, duration = self._check(body)
        prompt = str(body["input"].get("prompt") or "")
        if self.blocked.search(prompt):
            raise ApiError(
                400,
                "Input data may contain inappropriate content.",
                code="DataInspectionFailed",
            )
        failure = None
        if self.moderation.search(prompt):
            failure = {
                "code": "DataInspectionFailed",
                "message": "Output data may contain inappropriate content.",
            }
        task = Task(str(uuid.uuid4()), model, prompt, duration, self.clock(), failure)
        with self.lock:
            self.tasks[task.id] = task
        return self.json_response(
            {
                "request_id": str(uuid.uuid4()),
                "output": {"task_id": task.id, "task_status": "PENDING"},
            }
        )

    def _check(self, body: dict[str, Any]) -> tuple[str, int]:
        """What DashScope refuses with 400 InvalidParameter; returns (model, duration)."""
        model = body.get("model")
        family = next((f for f in FAMILIES if isinstance(model, str) and model.startswith(f)), None)
        if family is None:
            raise ApiError(400, f"Model not exist: {model!r}", code="InvalidParameter")
        inputs, params = body.get("input"), body.get("parameters", {})
        if not isinstance(inputs, dict) or not isinstance(params, dict):
            raise ApiError(400, "input and parameters must be objects.", code="InvalidParameter")
        (low, high), resolutions, media_types = FAMILIES[family]
        edit = family == "wan2.7-videoedit"  # 0: keep the source's length
        duration = params.get("duration", 0 if edit else 5)
        if type(duration) is not int or not (low <= duration <= high or (edit and duration == 0)):
            raise ApiError(
                400, f"duration must be in [{low}, {high}]: {duration!r}", code="InvalidParameter"
            )
        if family.startswith("wan2.6"):
            self._check_v26(family, inputs, params)
        else:
            self._check_media(family, inputs, params, resolutions, media_types)
        seed = params.get("seed")
        if seed is not None and (type(seed) is not int or not 0 <= seed <= 2147483647):
            raise ApiError(400, "seed must be in [0, 2147483647]", code="InvalidParameter")
        return str(model), duration

    @staticmethod
    def _check_v26(family: str, inputs: dict[str, Any], params: dict[str, Any]) -> None:
        if "media" in inputs or "ratio" in params:
            raise ApiError(400, "media/ratio are not parameters of wan2.6", code="InvalidParameter")
        if family == "wan2.6-i2v":
            if not fetchable_image(inputs.get("img_url"), DATA_URL):
                raise ApiError(
                    400, "input.img_url must be a URL or data URI", code="InvalidParameter"
                )
            if params.get("resolution", "1080P") not in ("720P", "1080P"):
                raise ApiError(400, "resolution must be 720P or 1080P", code="InvalidParameter")
            if "size" in params:
                raise ApiError(400, "size is not a parameter of i2v", code="InvalidParameter")
            return
        if params.get("size", "1920*1080") not in PIXEL_SIZES:
            raise ApiError(
                400, f"size {params.get('size')!r} is not supported", code="InvalidParameter"
            )
        if "resolution" in params or "img_url" in inputs:
            raise ApiError(
                400, "resolution/img_url are not parameters here", code="InvalidParameter"
            )
        refs = inputs.get("reference_urls")
        if family == "wan2.6-r2v":
            if not isinstance(refs, list) or not 1 <= len(refs) <= 5:
                raise ApiError(400, "reference_urls takes 1 to 5 URLs", code="InvalidParameter")
            if not all(fetchable_image(r, DATA_URL) for r in refs):
                raise ApiError(400, "reference_urls must be URLs", code="InvalidParameter")
        elif refs is not None:
            raise ApiError(400, "reference_urls is not an input of t2v", code="InvalidParameter")

    @staticmethod
    def _check_media(
        family: str,
        inputs: dict[str, Any],
        params: dict[str, Any],
        resolutions: frozenset[str],
        media_types: frozenset[str],
    ) -> None:
        if "size" in params or "img_url" in inputs or "reference_urls" in inputs:
            raise ApiError(
                400, "size/img_url/reference_urls belong to wan2.6", code="InvalidParameter"
            )
        if params.get("resolution", "1080P") not in resolutions:
            raise ApiError(
                400,
                f"Input should be {' or '.join(sorted(resolutions))}: parameters.resolution",
                code="InvalidParameter",
            )
        if "ratio" in params and (params["ratio"] not in RATIOS or family == "wan2.7-i2v"):
            raise ApiError(
                400, f"ratio {params['ratio']!r} is not accepted", code="InvalidParameter"
            )
        media = inputs.get("media", [])
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise ApiError(400, "input.media must be an array of objects", code="InvalidParameter")
        kinds = [m.get("type") for m in media]
        if any(k not in media_types for k in kinds):
            raise ApiError(
                400, f"media types {kinds} not accepted by {family}", code="InvalidParameter"
            )
        for entry in media:
            url = entry.get("url")
            ok = isinstance(url, str) and url.startswith(("http://", "https://"))
            if entry["type"] in ("first_frame", "last_frame", "reference_image"):
                ok = fetchable_image(url, DATA_URL)
            if not ok:
                raise ApiError(400, f"media url of {entry['type']} is invalid", code="InvalidURL")
        if family == "wan2.7-i2v" and set(kinds) not in I2V_COMBINATIONS:
            raise ApiError(400, f"unsupported media combination {kinds}", code="InvalidParameter")
        if family == "wan2.7-r2v":
            refs = [k for k in kinds if k != "first_frame"]
            if not 1 <= len(refs) <= 5 or kinds.count("first_frame") > 1:
                raise ApiError(
                    400, "1 to 5 references, at most one first frame", code="InvalidParameter"
                )
        if family == "wan2.7-videoedit" and (kinds.count("video") != 1 or len(kinds) > 5):
            raise ApiError(400, "one video and up to 4 reference images", code="InvalidParameter")
        if family == "wan3.0-video" and "last_frame" in kinds and "first_frame" not in kinds:
            raise ApiError(400, "last_frame requires first_frame", code="InvalidParameter")

    def status_of(self, task: Task, now: float) -> str:
        if task.forgotten or now - task.created > self.ttl_seconds:
            return "UNKNOWN"
        ended = "FAILED" if task.failure else "SUCCEEDED"
        stage = stage_at(now - task.created, self.queued_seconds, self.run_seconds)
        return ("PENDING", "RUNNING", ended)[stage]

    async def query(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        with self.lock:
            task = self.tasks.get(task_id)
        status = "UNKNOWN" if task is None else self.status_of(task, self.clock())
        output: dict[str, Any] = {"task_id": task_id, "task_status": status}
        body: dict[str, Any] = {"request_id": str(uuid.uuid4()), "output": output}
        if task is not None and status != "UNKNOWN":
            output["submit_time"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(task.created))
            output["task_metrics"] = {
                "TOTAL": 1,
                "SUCCEEDED": int(status == "SUCCEEDED"),
                "FAILED": int(status == "FAILED"),
            }
        if status == "SUCCEEDED":
            assert task is not None
            output["video_url"] = f"{self.origin}/oss/{task_id}.mp4?Expires=86400&Signature=x"
            output["orig_prompt"] = task.prompt
            body["usage"] = {"video_count": 1, "video_duration": task.duration}
        elif status == "FAILED":
            assert task is not None and task.failure is not None
            output.update(task.failure)
        return self.json_response(body)

    async def download(self, request: web.Request) -> web.Response:
        if "authorization" in request.headers:  # a signed URL refuses a second credential
            return web.Response(status=400, text="InvalidArgument", content_type="application/xml")
        with self.lock:
            task = self.tasks.get(request.match_info["task_id"])
        if task is None or self.status_of(task, self.clock()) != "SUCCEEDED":
            return web.Response(status=404, text="NoSuchKey", content_type="application/xml")
        return web.Response(body=self.video_bytes(), content_type="video/mp4")
