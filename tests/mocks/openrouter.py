"""Loopback mock of OpenRouter's video generation API (openrouter.ai/api/v1/videos).

Speaks the wire format in docs/providers/openrouter.md: `Authorization: Bearer`,
`POST /api/v1/videos` answering 202 `{id, polling_url, status: "pending"}` after checking
the body against the model's capabilities (as `GET /api/v1/videos/models` lists them),
`GET /api/v1/videos/{id}` moving pending -> in_progress -> completed (with `generation_id`,
`unsigned_urls`, `usage{cost, is_byok}`) or failed (free-text `error`) with wall-clock time,
and `GET /api/v1/videos/{id}/content?index=0` streaming the MP4 with the key, or, with
`redirect_content`, redirecting to a signed storage URL served without credentials.
Errors are `{"error": {"code": <status>, "message"}}`; a prompt with the word `moderation`
fails with "Content policy violation". Inferred (undocumented): the exact 400 texts, the
401 messages, and rejection of unknown body fields.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import DATA_URL, fetchable_image, render_clip, stage_at, word_pattern


@dataclass(frozen=True)
class Model:
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    ratios: tuple[str, ...]
    sizes: tuple[str, ...]
    frames: tuple[str, ...]
    audio: bool
    max_references: int
    price_per_second: float


MODELS: dict[str, Model] = {
    "google/veo-3.1": Model(
        (4, 6, 8),
        ("720p", "1080p"),
        ("16:9", "9:16"),
        ("1280x720", "720x1280", "1920x1080", "1080x1920"),
        ("first_frame", "last_frame"),
        True,
        3,
        0.40,
    ),
    "bytedance/seedance-2.0": Model(
        tuple(range(4, 16)),
        ("480p", "720p", "1080p"),
        ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9"),
        ("1280x720", "720x1280", "1920x1080"),
        ("first_frame", "last_frame"),
        True,
        9,
        0.25,
    ),
    "alibaba/wan-2.6": Model(
        (5, 10, 15),
        ("720p", "1080p"),
        ("16:9", "9:16", "1:1"),
        ("1280x720", "1920x1080"),
        ("first_frame",),
        True,
        0,
        0.04,
    ),
}
FIELDS = frozenset(
    {"model", "prompt", "duration", "resolution", "aspect_ratio", "size", "frame_images"}
    | {"input_references", "generate_audio", "seed", "callback_url", "provider"}
)
IMAGE_DATA_URL = re.compile(r"^data:(image/(?:png|jpeg|webp));base64,(.*)$", re.DOTALL)


@dataclass
class Job:
    id: str
    body: dict[str, Any]
    created: float
    queued_seconds: float
    run_seconds: float
    seconds: int
    failure: str | None = None
    status_override: str | None = None
    generation_id: str = field(default_factory=lambda: "gen-" + secrets.token_hex(8))

    def status_at(self, now: float) -> str:
        if self.status_override:
            return self.status_override
        stage = stage_at(now - self.created, self.queued_seconds, self.run_seconds)
        if stage < 2:
            return ("pending", "in_progress")[stage]
        return "failed" if self.failure else "completed"


class OpenRouterMock(MockServer):
    public_paths = ("/_storage/", "/api/v1/videos/models")

    def __init__(
        self,
        api_key: str = "sk-or-v1-mock",
        *,
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        redirect_content: bool = False,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.redirect_content = redirect_content
        self.jobs: dict[str, Job] = {}
        self.signed: dict[str, str] = {}  # storage token -> job id

    def video(self) -> bytes:
        return self.rendered("video", lambda: render_clip((64, 36), "videogate openrouter mock"))

    def set_status(self, job_id: str, status: str) -> None:
        """End a job as OpenRouter would on its own (cancelled, expired)."""
        with self.lock:
            self.jobs[job_id].status_override = status

    # -- protocol -------------------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"error": {"code": status, "message": message}}

    def unauthorized(self, request: web.Request) -> web.Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return self.error_response(401, "No auth credentials found")
        return self.error_response(401, "User not found.")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/videos", self.create)
        app.router.add_get("/api/v1/videos/models", self.list_models)
        app.router.add_get("/api/v1/videos/{job_id}", self.retrieve)
        app.router.add_get("/api/v1/videos/{job_id}/content", self.content)
        app.router.add_get("/_storage/{token}/video.mp4", self.storage)

    async def list_models(self, request: web.Request) -> web.Response:
        data = [
            {
                "id": name,
                "canonical_slug": name,
                "supported_durations": list(m.durations),
                "supported_resolutions": list(m.resolutions),
                "supported_aspect_ratios": list(m.ratios),
                "supported_sizes": list(m.sizes),
                "supported_frame_images": list(m.frames),
                "generate_audio": m.audio,
                "seed": True,
                "pricing_skus": {"per-video-second": f"{m.price_per_second:.2f}"},
                "allowed_passthrough_parameters": [],
            }
            for name, m in MODELS.items()
        ]
        return self.json_response({"data": data})

    async def create(self, request: web.Request) -> web.Response:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid request parameters")
        seconds = self._validate(body)
        failure = (
            "Content policy violation"
            if word_pattern("moderation").search(body.get("prompt", ""))
            else None
        )
        job = Job(
            id=secrets.token_urlsafe(15).replace("-", "a").replace("_", "b"),
            body=body,
            created=self.clock(),
            queued_seconds=self.queued_seconds,
            run_seconds=self.run_seconds,
            seconds=seconds,
            failure=failure,
        )
        with self.lock:
            self.jobs[job.id] = job
        answer = {"id": job.id, "polling_url": self._polling_url(job.id), "status": "pending"}
        return self.json_response(answer, status=202)

    def _polling_url(self, job_id: str) -> str:
        return f"{self.origin}/api/v1/videos/{job_id}"

    def _validate(self, body: dict[str, Any]) -> int:
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise ApiError(400, f"Unrecognized parameter: {unknown[0]}")
        model = MODELS.get(body.get("model"))  # type: ignore[arg-type]
        if model is None:
            raise ApiError(400, f"Model {body.get('model')!r} does not support video generation")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise ApiError(400, "prompt: Required")
        duration = body.get("duration", model.durations[0])
        if type(duration) is not int or duration not in model.durations:
            raise ApiError(400, f"duration must be one of {list(model.durations)} for this model")
        if "size" in body and ("resolution" in body or "aspect_ratio" in body):
            raise ApiError(400, "size cannot be combined with resolution or aspect_ratio")
        checks = (
            ("size", model.sizes),
            ("resolution", model.resolutions),
            ("aspect_ratio", model.ratios),
        )
        for name, allowed in checks:
            if name in body and body[name] not in allowed:
                raise ApiError(400, f"{name} must be one of {list(allowed)} for this model")
        if "generate_audio" in body and type(body["generate_audio"]) is not bool:
            raise ApiError(400, "generate_audio must be a boolean")
        if "seed" in body and type(body["seed"]) is not int:
            raise ApiError(400, "seed must be an integer")
        for frame in body.get("frame_images", []):
            self._check_part(frame, "frame_images")
            if frame.get("frame_type") not in model.frames:
                raise ApiError(400, f"frame_type must be one of {list(model.frames)}")
        refs = body.get("input_references", [])
        if len(refs) > model.max_references:
            raise ApiError(400, f"at most {model.max_references} input_references")
        for ref in refs:
            self._check_part(ref, "input_references")
        return duration

    @staticmethod
    def _check_part(part: Any, name: str) -> None:
        url = part.get("image_url", {}).get("url") if isinstance(part, dict) else None
        if (
            not isinstance(part, dict)
            or part.get("type") != "image_url"
            or not isinstance(url, str)
        ):
            raise ApiError(400, f"{name}: expected image_url content parts")
        if url.startswith("data:") and not DATA_URL.match(url):
            raise ApiError(400, f"{name}: invalid data URL")
        if not fetchable_image(url, IMAGE_DATA_URL):
            raise ApiError(400, f"{name}: the image could not be read")

    def _lookup(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "Video generation job not found")
        return job

    async def retrieve(self, request: web.Request) -> web.Response:
        job = self._lookup(request.match_info["job_id"])
        status = job.status_at(self.clock())
        body: dict[str, Any] = {
            "id": job.id,
            "polling_url": self._polling_url(job.id),
            "status": status,
        }
        if status != "pending":
            body["generation_id"] = job.generation_id
        if status == "completed":
            body["unsigned_urls"] = [f"{self.origin}/api/v1/videos/{job.id}/content?index=0"]
            price = MODELS[job.body["model"]].price_per_second
            body["usage"] = {"cost": round(price * job.seconds, 4), "is_byok": False}
        elif status == "failed":
            body["error"] = job.failure or "Generation failed"
        elif status in ("cancelled", "expired"):
            body["error"] = {
                "cancelled": "Job was cancelled",
                "expired": "Job exceeded maximum time to live",
            }[status]
        return self.json_response(body)

    async def content(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request.match_info["job_id"])
        if job.status_at(self.clock()) != "completed":
            raise ApiError(400, "Video generation is not completed")
        if request.query.get("index", "0") != "0":
            raise ApiError(404, "No video at this index")
        if self.redirect_content:
            token = secrets.token_urlsafe(12)
            with self.lock:
                self.signed[token] = job.id
            # Another host (as signed storage is): the key must not follow the redirect.
            location = f"http://localhost:{self.port}/_storage/{token}/video.mp4"
            return web.Response(status=302, headers={"Location": location})
        return web.Response(body=self.video(), content_type="video/mp4")

    async def storage(self, request: web.Request) -> web.Response:
        with self.lock:
            known = request.match_info["token"] in self.signed
        if not known:
            return web.Response(status=403, text="Signature does not match")
        return web.Response(body=self.video(), content_type="video/mp4")
