"""Loopback mock of Vidu's enterprise API (`/ent/v2`), errors and all.

Speaks the documented wire format: `Authorization: Token <key>`, JSON creates on
`text2video`, `img2video`, `start-end2video` and `reference2video` checked per model as the
docs list them (which endpoints a model serves, durations, resolutions, aspect ratios, one
image for img2video, two for start-end, 1-7 references or `subjects`), answers
`{"task_id", "state": "created", ...}`, and `GET /ent/v2/tasks/{id}/creations` walking
created -> queueing -> processing -> success|failed by the clock. Errors are
`{"code", "reason", "message", "metadata"}` (the reason names the problem, e.g.
CreditInsufficient). Finished tasks list one creation whose `url` and `cover_url` live on
this server's "CDN" (`/cdn/`, no key, like Vidu's signed links, which refuse one).

A prompt with `blocked_word` is refused at create (400 TaskPromptPolicyViolation); one with
`moderation_word` fails at the end with err_code CreationPolicyViolation.
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
from .common import fetchable_image, render_clip_and_still, stage_at, word_pattern

DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.DOTALL)
Q2_RATIOS = frozenset({"16:9", "9:16", "4:3", "3:4", "1:1"})
Q1_RATIOS = frozenset({"16:9", "9:16", "1:1"})
ALL = frozenset({"text2video", "img2video", "start-end2video", "reference2video"})
FRAMES = frozenset({"img2video", "start-end2video"})


@dataclass(frozen=True)
class Model:
    endpoints: frozenset[str]
    durations: tuple[int, ...]
    resolutions: frozenset[str]
    ratios: frozenset[str]
    max_refs: int = 7


Q2_RES = frozenset({"540p", "720p", "1080p"})
Q2_SECONDS = tuple(range(1, 11))
NO_REFS = ALL - {"reference2video"}
MODELS: dict[str, Model] = {
    "viduq3-pro": Model(NO_REFS, tuple(range(1, 17)), Q2_RES, Q2_RATIOS),
    "viduq3-turbo": Model(NO_REFS, tuple(range(1, 17)), Q2_RES, Q2_RATIOS),
    "viduq2": Model(frozenset({"text2video", "reference2video"}), Q2_SECONDS, Q2_RES, Q2_RATIOS),
    "viduq2-pro": Model(FRAMES, Q2_SECONDS, Q2_RES, Q2_RATIOS),
    "viduq2-turbo": Model(FRAMES, Q2_SECONDS, Q2_RES, Q2_RATIOS),
    "viduq2-pro-fast": Model(FRAMES, Q2_SECONDS, frozenset({"720p", "1080p"}), Q2_RATIOS),
    "viduq1": Model(ALL, (5,), frozenset({"1080p"}), Q1_RATIOS),
    "viduq1-classic": Model(FRAMES, (5,), frozenset({"1080p"}), Q1_RATIOS),
    "vidu2.0": Model(
        ALL - {"text2video"}, (4, 8), frozenset({"360p", "720p", "1080p"}), Q1_RATIOS, 3
    ),
}
# HTTP status of an injected failure -> Vidu's reason.
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "CreditInsufficient",
    404: "TaskNotFound",
    429: "TooManyRequests",
    500: "InternalServiceFailure",
    503: "SystemThrottling",
}


@dataclass
class Task:
    id: str
    endpoint: str
    model: str
    prompt: str
    created: float
    err_code: str


class ViduMock(MockServer):
    """The four create endpoints, `tasks/{id}/creations` and the result CDN."""

    public_paths = ("/cdn/",)

    def __init__(
        self,
        api_key: str = "vidu-test-key",
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        *,
        moderation_word: str = "moderation",
        blocked_word: str = "forbidden",
        media_size: tuple[int, int] = (64, 36),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.moderation = word_pattern(moderation_word)
        self.blocked = word_pattern(blocked_word)
        self.media_size = media_size
        self.tasks: dict[str, Task] = {}

    def media(self) -> tuple[bytes, bytes]:
        """(the MP4 every task outputs, its JPEG cover)."""
        return self.rendered(
            "media", lambda: render_clip_and_still(self.media_size, "vidu mock", "JPEG")
        )

    # -- Vidu's envelope ------------------------------------------------------------------
    def is_authorized(self, request: web.Request) -> bool:
        return request.headers.get("authorization") == f"Token {self.api_key}"

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {
            "code": status,
            "reason": code or REASONS.get(status, "InternalServiceFailure"),
            "message": message,
            "metadata": {"trace_id": "".join(random.choices("0123456789abcdef", k=32))},
        }

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error_response(401, "invalid token", code="Unauthorized")

    # -- routes ---------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        for endpoint in ALL:
            app.router.add_post(f"/ent/v2/{endpoint}", self._creator(endpoint))
        app.router.add_get("/ent/v2/tasks/{task_id}/creations", self.creations)
        app.router.add_get("/cdn/{task_id}/{name}", self.download)

    def _creator(self, endpoint: str) -> Callable[[web.Request], Any]:
        async def create(request: web.Request) -> web.Response:
            body = await self.read_json(request)
            if not isinstance(body, dict):
                raise ApiError(400, "body must be a JSON object", code="BadRequest")
            model = self._check(endpoint, body)
            prompt = str(body.get("prompt") or "")
            if self.blocked.search(prompt):
                raise ApiError(400, "prompt violates the policy", code="TaskPromptPolicyViolation")
            err = "CreationPolicyViolation" if self.moderation.search(prompt) else ""
            task = Task(
                str(random.randrange(10**17, 10**18)), endpoint, model, prompt, self.clock(), err
            )
            with self.lock:
                self.tasks[task.id] = task
            echo = {k: v for k, v in body.items() if k not in ("images", "subjects")}
            return self.json_response(
                {
                    **echo,
                    "task_id": task.id,
                    "state": "created",
                    "credits": 4,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                }
            )

        return create

    @staticmethod
    def _check(endpoint: str, body: dict[str, Any]) -> str:
        """What Vidu refuses with 400 (reason FieldInvalid etc.); returns the model."""
        name = body.get("model")
        model = MODELS.get(name) if isinstance(name, str) else None
        if model is None or endpoint not in model.endpoints:
            raise ApiError(
                400, f"model {name!r} is not available for {endpoint}", code="ModelUnavailable"
            )
        prompt = body.get("prompt")
        if endpoint in ("text2video", "reference2video") and not prompt:
            raise ApiError(400, "prompt is required", code="FieldLacking")
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 2000):
            raise ApiError(400, "prompt is at most 2000 characters", code="FieldInvalid")
        duration = body.get("duration", model.durations[0])
        if type(duration) is not int or duration not in model.durations:
            raise ApiError(400, f"duration {duration!r} is not supported", code="FieldInvalid")
        if endpoint == "start-end2video" and name.startswith("viduq2") and duration > 8:
            raise ApiError(400, "start-end2video renders at most 8 s", code="FieldInvalid")
        if body.get("resolution", next(iter(model.resolutions))) not in model.resolutions:
            raise ApiError(
                400, f"resolution {body.get('resolution')!r} not supported", code="FieldInvalid"
            )
        if "aspect_ratio" in body and (
            endpoint in FRAMES or body["aspect_ratio"] not in model.ratios
        ):
            raise ApiError(400, "aspect_ratio is not accepted here", code="FieldUnwanted")
        if body.get("audio") and endpoint not in ("img2video", "reference2video"):
            raise ApiError(400, "audio is not a field of text2video", code="FieldUnwanted")
        images = body.get("images")
        subjects = body.get("subjects")
        wanted = {"img2video": 1, "start-end2video": 2}.get(endpoint)
        if wanted is not None:
            if not isinstance(images, list) or len(images) != wanted or subjects is not None:
                raise ApiError(
                    400, f"{endpoint} takes {wanted} image(s)", code="FieldItemCountOutOfRange"
                )
        elif endpoint == "reference2video":
            if subjects is not None:
                if not isinstance(subjects, list) or images is not None:
                    raise ApiError(
                        400, "subjects must be a list, without images", code="FieldInvalid"
                    )
                images = [i for s in subjects for i in s.get("images", [])]
                if any(not isinstance(s.get("id"), str) or not s["id"] for s in subjects):
                    raise ApiError(400, "each subject needs an id", code="FieldLacking")
            if not isinstance(images, list) or not 1 <= len(images) <= model.max_refs:
                raise ApiError(
                    400, f"1 to {model.max_refs} reference images", code="FieldItemCountOutOfRange"
                )
        elif images is not None or subjects is not None:
            raise ApiError(400, "text2video takes no images", code="FieldUnwanted")
        if images and not all(fetchable_image(i, DATA_URL) for i in images):
            raise ApiError(
                400, "images must be URLs or data:image/...;base64", code="ImageFormatInvalid"
            )
        seed = body.get("seed")
        if seed is not None and type(seed) is not int:
            raise ApiError(400, "seed must be an integer", code="FieldInvalid")
        return str(name)

    def state_of(self, task: Task, now: float) -> str:
        half = self.queued_seconds / 2
        ended = "failed" if task.err_code else "success"
        stages = ("created", "queueing", "processing", ended)
        return stages[stage_at(now - task.created, half, half, self.run_seconds)]

    async def creations(self, request: web.Request) -> web.Response:
        with self.lock:
            task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            raise ApiError(404, "task not found", code="TaskNotFound")
        state = self.state_of(task, self.clock())
        cdn = f"{self.origin}/cdn/{task.id}"
        creations = []
        if state == "success":
            creations = [
                {
                    "id": f"c{task.id}",
                    "url": f"{cdn}/video.mp4?sign=x",
                    "cover_url": f"{cdn}/cover.jpeg?sign=x",
                    "watermarked_url": f"{cdn}/video.mp4?sign=x&wm=1",
                }
            ]
        return self.json_response(
            {
                "id": task.id,
                "state": state,
                "err_code": task.err_code if state == "failed" else "",
                "credits": 4,
                "payload": "",
                "bgm": False,
                "off_peak": False,
                "creations": creations,
            }
        )

    async def download(self, request: web.Request) -> web.Response:
        if "authorization" in request.headers:
            return web.Response(status=403, text="AccessDenied", content_type="application/xml")
        with self.lock:
            task = self.tasks.get(request.match_info["task_id"])
        name = request.match_info["name"]
        if task is None or self.state_of(task, self.clock()) != "success":
            return web.Response(status=404, text="NoSuchKey", content_type="application/xml")
        video, cover = self.media()
        if name == "video.mp4":
            return web.Response(body=video, content_type="video/mp4")
        if name == "cover.jpeg":
            return web.Response(body=cover, content_type="image/jpeg")
        return web.Response(status=404, text="NoSuchKey", content_type="application/xml")
