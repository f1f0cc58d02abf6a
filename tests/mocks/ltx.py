"""Loopback mock of the LTX-2 API (api.ltx.video), which answers synchronously.

Speaks the wire format in docs/providers/ltx.md: `Authorization: Bearer`, JSON
`POST /v1/text-to-video` and `/v1/image-to-video` checked per model (duration, resolution,
fps, the "over 10 s only for fast models at 1080p and 25 fps" rule, `image_uri` https or
data:image, `last_frame_uri` only on ltx-2-3 models); it validates first and answers errors
at once, then keeps the connection open for `render_seconds` and answers the MP4 itself
(`Content-Type: video/mp4`, `x-request-id`). A prompt with the word `moderation` is refused
(400, content policy). Counters tell a test how many renders started, finished or lost their
client. Inferred (undocumented): the error envelope `{"error": {"type", "message"}}`, its
texts, the camera_motion values, and rejection of unknown body fields.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import fetchable_image, render_clip, word_pattern

LANDSCAPE = ("1920x1080", "2560x1440", "3840x2160")
PORTRAIT = ("1080x1920", "1440x2560", "2160x3840")
LONG = (12, 14, 16, 18, 20)


@dataclass(frozen=True)
class Model:
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    fps: tuple[int, ...]
    last_frame: bool


MODELS: dict[str, Model] = {
    "ltx-2-fast": Model((6, 8, 10, *LONG), LANDSCAPE, (25, 50), False),
    "ltx-2-pro": Model((6, 8, 10), LANDSCAPE, (25, 50), False),
    "ltx-2-3-fast": Model((6, 8, 10, *LONG), LANDSCAPE + PORTRAIT, (24, 25, 48, 50), True),
    "ltx-2-3-pro": Model((6, 8, 10), LANDSCAPE + PORTRAIT, (24, 25, 48, 50), True),
}
CAMERA_MOTIONS = (
    "dolly_in",
    "dolly_out",
    "dolly_left",
    "dolly_right",
    "jib_up",
    "jib_down",
    "static",
    "focus_shift",
)
FIELDS = frozenset(
    {"prompt", "model", "duration", "resolution", "fps", "generate_audio", "camera_motion"}
)
IMAGE_FIELDS = frozenset({"image_uri", "last_frame_uri"})  # image-to-video only
IMAGE_DATA_URL = re.compile(r"^data:(image/(?:png|jpeg|webp));base64,(.*)$", re.DOTALL)
MAX_DATA_URI = 7 * 1024 * 1024


@dataclass
class Render:
    id: str
    endpoint: str
    body: dict[str, Any]
    started: float
    finished: bool = False
    disconnected: bool = False


class LtxMock(MockServer):
    def __init__(
        self,
        api_key: str = "ltx-mock",
        *,
        render_seconds: float = 0.6,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, host=host, clock=clock, shutdown_timeout=0.5)
        self.render_seconds = render_seconds
        self.renders: list[Render] = []

    def video(self) -> bytes:
        return self.rendered("video", lambda: render_clip((64, 36), "videogate ltx mock"))

    def count(self, **state: bool) -> int:
        with self.lock:
            return sum(all(getattr(r, k) == v for k, v in state.items()) for r in self.renders)

    # -- protocol -------------------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"error": {"type": code or type, "message": message}}

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error_response(401, "Invalid or missing API key.", code="authentication_error")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/text-to-video", self.generate)
        app.router.add_post("/v1/image-to-video", self.generate)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        endpoint = request.path.rsplit("/", 1)[-1]
        self._validate(endpoint, body)
        if word_pattern("moderation").search(body["prompt"]):
            raise ApiError(
                400, "The prompt violates the content policy.", code="content_policy_violation"
            )
        render = Render(str(uuid.uuid4()), endpoint, body, self.clock())
        with self.lock:
            self.renders.append(render)
        response = web.StreamResponse(
            headers={"Content-Type": "video/mp4", "x-request-id": render.id}
        )
        try:
            if await self._rendering():
                raise ApiError(503, "The service is shutting down.", code="unavailable")
            data = self.video()
            response.content_length = len(data)
            await response.prepare(request)
            await response.write(data)
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            render.disconnected = True
            raise
        render.finished = True
        return response

    async def _rendering(self) -> bool:
        """Wait out a render (nothing is sent meanwhile); True if the mock stops first."""
        stopping = self._stopping
        if stopping is None:
            await asyncio.sleep(self.render_seconds)
            return False
        try:
            await asyncio.wait_for(stopping.wait(), self.render_seconds)
        except TimeoutError:
            return False
        return True

    def _validate(self, endpoint: str, body: dict[str, Any]) -> None:
        allowed = FIELDS | (IMAGE_FIELDS if endpoint == "image-to-video" else frozenset())
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ApiError(422, f"Unrecognized field: {unknown[0]}", code="validation_error")
        model = MODELS.get(body.get("model"))  # type: ignore[arg-type]
        if model is None:
            raise ApiError(422, f"model must be one of {sorted(MODELS)}", code="validation_error")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt or len(prompt) > 5000:
            raise ApiError(422, "prompt must be 1 to 5000 characters", code="validation_error")
        duration, resolution = body.get("duration"), body.get("resolution")
        if type(duration) is not int or duration not in model.durations:
            raise ApiError(
                422, f"duration must be one of {list(model.durations)}", code="validation_error"
            )
        if resolution not in model.resolutions:
            raise ApiError(
                422, f"resolution must be one of {list(model.resolutions)}", code="validation_error"
            )
        fps = body.get("fps", 25)
        if type(fps) is not int or fps not in model.fps:
            raise ApiError(422, f"fps must be one of {list(model.fps)}", code="validation_error")
        if duration in LONG and (resolution not in ("1920x1080", "1080x1920") or fps != 25):
            raise ApiError(
                422,
                "Durations over 10 seconds need 1920x1080 and 25 fps.",
                code="validation_error",
            )
        if "generate_audio" in body and type(body["generate_audio"]) is not bool:
            raise ApiError(422, "generate_audio must be a boolean", code="validation_error")
        if "camera_motion" in body and body["camera_motion"] not in CAMERA_MOTIONS:
            raise ApiError(
                422, f"camera_motion must be one of {list(CAMERA_MOTIONS)}", code="validation_error"
            )
        if endpoint == "image-to-video":
            self._check_image(body.get("image_uri"), "image_uri")
        if "last_frame_uri" in body:
            if not model.last_frame:
                raise ApiError(
                    422,
                    "last_frame_uri is only supported by ltx-2-3 models",
                    code="validation_error",
                )
            self._check_image(body["last_frame_uri"], "last_frame_uri")

    @staticmethod
    def _check_image(uri: Any, name: str) -> None:
        if isinstance(uri, str) and uri.startswith("data:") and len(uri) > MAX_DATA_URI:
            raise ApiError(413, f"{name}: data URIs are limited to 7 MB", code="payload_too_large")
        if not fetchable_image(uri, IMAGE_DATA_URL) or str(uri).startswith("http://"):
            raise ApiError(
                422, f"{name} must be an https URL or an image data URI", code="validation_error"
            )
