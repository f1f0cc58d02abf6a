"""Loopback mock of xAI's Grok Imagine video REST API (api.x.ai).

Speaks the wire format in docs/providers/xai.md: `Authorization: Bearer`, JSON
`POST /v1/videos/generations | /edits | /extensions` answering `{"request_id"}`, and
`GET /v1/videos/{request_id}` whose `status` stays `pending` (queued, then with a rising
integer `progress`) until `done` with `video{url, duration, respect_moderation}`, `model`
and `usage.cost_in_usd_ticks`, or `failed` with `error{code, message}`, or `expired`. Errors
are xAI's `{"code": "<gRPC status text>", "error": "<message>"}`; a wrong key is a 400
("Incorrect API key provided"), as xAI answers it.

Outputs are real MP4s served under `/_cdn/` without credentials (xAI's links are public CDN
URLs). A prompt with the word `moderation` finishes `done` with `respect_moderation: false`
and no usable video; `glitch` fails with an internal error. Edits and extensions check the
source video's length when it is one of this mock's outputs (edit <= 8.7 s, extend 2-15 s).
Inferred (undocumented): the exact error texts, the 401 for a missing key, rejection of
unknown body fields and of frame fields on edits, and progress as 0-100.
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

MODELS = ("grok-imagine-video", "grok-imagine-video-1.5-preview", "grok-imagine-video-1.5")
EDIT_MODELS = ("grok-imagine-video",)
RATIOS = ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16")
RESOLUTIONS = ("480p", "720p")
GRPC_TEXT = {
    400: "Client specified an invalid argument",
    401: "Unauthenticated",
    403: "The caller does not have permission to execute the specified operation",
    404: "Some requested entity was not found",
    429: "Some resource has been exhausted",
    500: "Internal error",
    503: "The service is currently unavailable",
}
FIELDS: dict[str, frozenset[str]] = {
    "generations": frozenset(
        {"model", "prompt", "duration", "aspect_ratio", "resolution", "image"}
        | {"reference_images", "seed", "user"}
    ),
    "edits": frozenset({"model", "prompt", "video", "seed", "user"}),
    "extensions": frozenset({"model", "prompt", "video", "duration"}),
}
IMAGE_DATA_URL = re.compile(r"^data:(image/(?:png|jpeg|jpg|webp));base64,(.*)$", re.DOTALL)
CDN_RE = re.compile(r"/_cdn/([0-9a-f-]{36})\.mp4$")
DEFAULT_DURATION = 6
USD_TICKS_PER_SECOND = 500_000_000  # $0.05 a second in xAI's 1e-10 dollar ticks


@dataclass
class Job:
    id: str
    endpoint: str
    body: dict[str, Any]
    created: float
    queued_seconds: float
    run_seconds: float
    duration: int
    outcome: str = "done"  # done | moderated | failed
    expired: bool = False

    def view(self, now: float) -> tuple[str, int]:
        if self.expired:
            return "expired", 0
        elapsed = now - self.created
        stage = stage_at(elapsed, self.queued_seconds, self.run_seconds)
        if stage == 0:
            return "pending", 0
        if stage == 1:
            return "pending", max(1, int((elapsed - self.queued_seconds) / self.run_seconds * 100))
        return ("failed" if self.outcome == "failed" else "done"), 100


class XaiMock(MockServer):
    public_paths = ("/_cdn/",)

    def __init__(
        self,
        api_key: str = "xai-mock",
        *,
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.jobs: dict[str, Job] = {}

    # -- test-side controls ---------------------------------------------------------------

    def video(self) -> bytes:
        return self.rendered("video", lambda: render_clip((64, 36), "videogate xai mock"))

    def expire(self, request_id: str) -> None:
        with self.lock:
            self.jobs[request_id].expired = True

    def output_url(self, request_id: str) -> str:
        return f"{self.origin}/_cdn/{request_id}.mp4"

    # -- protocol -------------------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"code": GRPC_TEXT.get(status, "Unknown error"), "error": message}

    def unauthorized(self, request: web.Request) -> web.Response:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer "):
            return self.error_response(
                401, "No API key provided. You can obtain an API key from https://console.x.ai."
            )
        token = given.removeprefix("Bearer ")
        masked = f"{token[:2]}***{token[-2:]}" if len(token) > 4 else "***"
        return self.error_response(
            400,
            f"Incorrect API key provided: {masked}. You can obtain an API key from "
            "https://console.x.ai.",
        )

    def add_routes(self, app: web.Application) -> None:
        for endpoint in FIELDS:
            app.router.add_post(f"/v1/videos/{endpoint}", self.create)
        app.router.add_get("/v1/videos/{request_id}", self.retrieve)
        app.router.add_get("/_cdn/{name}", self.download)

    async def create(self, request: web.Request) -> web.Response:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        endpoint = request.path.rsplit("/", 1)[-1]
        duration = self._validate(endpoint, body)
        prompt = body["prompt"]
        outcome = "done"
        if word_pattern("moderation").search(prompt):
            outcome = "moderated"
        elif word_pattern("glitch").search(prompt):
            outcome = "failed"
        job = Job(
            id=str(uuid.uuid4()),
            endpoint=endpoint,
            body=body,
            created=self.clock(),
            queued_seconds=self.queued_seconds,
            run_seconds=self.run_seconds,
            duration=duration,
            outcome=outcome,
        )
        with self.lock:
            self.jobs[job.id] = job
        return self.json_response({"request_id": job.id})

    def _validate(self, endpoint: str, body: dict[str, Any]) -> int:
        """Reject what xAI rejects; the output's length in seconds."""
        unknown = sorted(set(body) - FIELDS[endpoint])
        if unknown:
            raise ApiError(400, f"Unknown field {unknown[0]!r} for /v1/videos/{endpoint}.")
        models = MODELS if endpoint == "generations" else EDIT_MODELS
        if body.get("model", "grok-imagine-video") not in models:
            raise ApiError(404, f"The model {body.get('model')!r} does not exist.")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ApiError(400, "prompt: must be a non-empty string.")
        if endpoint == "generations":
            return self._validate_generation(body)
        source = self._source_seconds(body.get("video"))
        if endpoint == "edits":
            if source is not None and source > 8.7:
                raise ApiError(400, "The input video must be at most 8.7 seconds long.")
            return source or DEFAULT_DURATION
        if source is not None and not 2 <= source <= 15:
            raise ApiError(400, "The input video must be between 2 and 15 seconds long.")
        extra = self._int(body, "duration", 2, 10, DEFAULT_DURATION)
        return (source or DEFAULT_DURATION) + extra

    def _validate_generation(self, body: dict[str, Any]) -> int:
        refs = body.get("reference_images")
        if refs is not None:
            if not isinstance(refs, list) or not 1 <= len(refs) <= 7:
                raise ApiError(400, "reference_images: between 1 and 7 images are accepted.")
            if "image" in body:
                raise ApiError(400, "image and reference_images cannot be combined.")
            for ref in refs:
                self._check_image(ref, "reference_images")
        if "image" in body:
            self._check_image(body["image"], "image")
        low, high = (2, 10) if refs else (1, 15)
        duration = self._int(body, "duration", low, high, DEFAULT_DURATION)
        if body.get("aspect_ratio", "16:9") not in RATIOS:
            raise ApiError(400, f"aspect_ratio: must be one of {list(RATIOS)}.")
        if body.get("resolution", "480p") not in RESOLUTIONS:
            raise ApiError(400, f"resolution: must be one of {list(RESOLUTIONS)}.")
        return duration

    @staticmethod
    def _int(body: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
        value = body.get(name, default)
        if type(value) is not int or not low <= value <= high:
            raise ApiError(400, f"{name}: must be an integer from {low} to {high}.")
        return value

    @staticmethod
    def _check_image(value: Any, field: str) -> None:
        url = value.get("url") if isinstance(value, dict) else None
        if not fetchable_image(url, IMAGE_DATA_URL) or not str(url).startswith(
            ("https://", "data:", "http://127.0.0.1")
        ):
            raise ApiError(400, f"{field}: expected {{'url': <https or data:image URL>}}.")

    def _source_seconds(self, video: Any) -> int | None:
        url = video.get("url") if isinstance(video, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ApiError(400, "video: expected {'url': <URL of an .mp4 video>}.")
        match = CDN_RE.search(url)
        if match is None or not url.startswith(self.origin):
            return None  # someone else's video: taken on trust, never fetched
        with self.lock:
            source = self.jobs.get(match.group(1))
        if source is None:
            raise ApiError(400, "video: the URL could not be fetched.")
        return source.duration

    def _lookup(self, request_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(request_id)
        if job is None:
            raise ApiError(404, f"No video request with id {request_id!r}.")
        return job

    async def retrieve(self, request: web.Request) -> web.Response:
        job = self._lookup(request.match_info["request_id"])
        status, progress = job.view(self.clock())
        body: dict[str, Any] = {"status": status, "model": job.body.get("model")}
        if status == "pending":
            body["progress"] = progress
        elif status == "done":
            body["video"] = {
                "url": self.output_url(job.id),
                "duration": job.duration,
                "respect_moderation": job.outcome != "moderated",
            }
            body["usage"] = {"cost_in_usd_ticks": job.duration * USD_TICKS_PER_SECOND}
        elif status == "failed":
            body["error"] = {"code": "internal_error", "message": "The generation failed."}
        return self.json_response(body)

    async def download(self, request: web.Request) -> web.Response:
        match = CDN_RE.search(request.path)
        with self.lock:
            job = self.jobs.get(match.group(1)) if match else None
        if job is None or job.view(self.clock())[0] != "done" or job.outcome == "moderated":
            return web.Response(status=404, text="Not found.")
        return web.Response(body=self.video(), content_type="video/mp4")
