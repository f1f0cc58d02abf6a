"""Loopback mock of fal.ai's queue API (`queue.fal.run`) and its media CDN.

Routes as fal's clients use them (fal-ai/fal `fal_client/client.py`, fal-ai/fal-js
`queue.ts`): `POST /{endpoint}` submits, and status/result/cancel live under the app's base
path only (`/{owner}/{app}/requests/{id}[/status|/cancel]`); a request to the endpoint's
full path there is a 404, as it is for a client that forgets to drop the subpath. Auth is
`Authorization: Key <key>` (a Bearer token is refused). The queue accepts any input; the
app validates it while "running", so bad input or a moderated prompt ends as a COMPLETED
request whose result answers 422 with pydantic-style `detail` items, as fal apps do.
Output files are real MP4s served from `/files/...` without auth (fal.media is public).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from .base import ApiError, MockServer
from .common import fetchable_image, render_clip, stage_at, word_pattern

QueueStatus = Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]

DEFAULT_APPS = frozenset(
    {
        "fal-ai/kling-video/v2/master/text-to-video",
        "fal-ai/kling-video/v2/master/image-to-video",
        "fal-ai/veo3.1",
        "fal-ai/veo3.1/image-to-video",
        "fal-ai/veo3.1/lite",
    }
)
DEFAULT_ASPECT_RATIOS = ("16:9", "9:16", "1:1")
DEFAULT_DURATIONS = ("5", "10")
CANCELLED = (
    499,
    {"detail": "Request was cancelled by the client.", "error_type": "client_cancelled"},
)


@dataclass
class FalRequest:
    """One queued request; its status is derived from the clock, like fal's own progress."""

    id: str
    app: str  # base path: owner/app
    endpoint: str  # full path the request was submitted to
    input: Any
    created: float
    queued_seconds: float
    run_seconds: float
    outcome: tuple[int, dict[str, Any]] | None = None  # (status, body) of the result
    cancelled_at: float | None = None
    cancel_requests: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def status_at(self, now: float) -> QueueStatus:
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return "COMPLETED"
        stages: tuple[QueueStatus, ...] = ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")
        return stages[stage_at(now - self.created, self.queued_seconds, self.run_seconds)]


class FalQueueMock(MockServer):
    """The fal queue for a set of video apps, plus the CDN serving their outputs."""

    public_paths = ("/files/",)  # the CDN serves outputs without credentials

    def __init__(
        self,
        api_key: str = "fal-mock-key",
        queued_seconds: float = 0.3,
        run_seconds: float = 1.0,
        *,
        apps: Iterable[str] | None = DEFAULT_APPS,
        aspect_ratios: Iterable[str] = DEFAULT_ASPECT_RATIOS,
        durations: Iterable[str] = DEFAULT_DURATIONS,
        moderation_word: str = "moderation",
        media_size: tuple[int, int] = (64, 64),
        media_seconds: float = 1.0,
        media_fps: int = 8,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.apps = frozenset(apps) if apps is not None else None
        self.aspect_ratios = tuple(aspect_ratios)
        self.durations = tuple(durations)
        self.moderation = word_pattern(moderation_word)
        self.media_size = media_size
        self.media_seconds = media_seconds
        self.media_fps = media_fps
        self.jobs: dict[str, FalRequest] = {}

    # -- envelope and auth ----------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"detail": message}

    def is_authorized(self, request: web.Request) -> bool:
        return request.headers.get("authorization") == f"Key {self.api_key}"

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.json_response(
            {"detail": "Invalid Key authorization header: expected 'Key <FAL_KEY>'."},
            status=401,
        )

    def not_found_route(self, request: web.Request) -> web.Response:
        return self.json_response({"detail": "Not Found"}, status=404)

    # -- test-side controls ---------------------------------------------------------------

    def video_bytes(self) -> bytes:
        """The MP4 every completed request outputs (rendered once)."""
        return self.rendered(
            "video",
            lambda: render_clip(
                self.media_size, "videogate fal mock", self.media_seconds, self.media_fps
            ),
        )

    def job(self, request_id: str) -> FalRequest:
        with self.lock:
            return self.jobs[request_id]

    def fail_job(self, request_id: str, status: int, body: dict[str, Any]) -> None:
        """Make the request end with this result error (e.g. a runner failure)."""
        with self.lock:
            self.jobs[request_id].outcome = (status, body)

    # -- routes ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/files/{request_id}/{name}", self.file)
        app.router.add_get("/{owner}/{app}/requests/{request_id}/status", self.status)
        app.router.add_get("/{owner}/{app}/requests/{request_id}", self.result)
        app.router.add_put("/{owner}/{app}/requests/{request_id}/cancel", self.cancel)
        app.router.add_post("/{endpoint:.+}", self.submit)

    async def submit(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"].strip("/")
        parts = endpoint.split("/")
        if len(parts) < 2 or (self.apps is not None and endpoint not in self.apps):
            raise ApiError(404, f"Application '{endpoint}' not found")
        payload = await self.read_json(request)
        now = self.clock()
        job = FalRequest(
            id=str(uuid.uuid4()),
            app="/".join(parts[:2]),
            endpoint=endpoint,
            input=payload,
            created=now,
            queued_seconds=self.queued_seconds,
            run_seconds=self.run_seconds,
            outcome=self._outcome(endpoint, payload),
        )
        with self.lock:
            ahead = sum(j.status_at(now) == "IN_QUEUE" for j in self.jobs.values())
            self.jobs[job.id] = job
        return self.json_response({**self._urls(job), "queue_position": ahead})

    async def status(self, request: web.Request) -> web.Response:
        job = self._lookup(request)
        now = self.clock()
        state = job.status_at(now)
        body: dict[str, Any] = {"status": state, **self._urls(job)}
        logs = [] if request.query.get("logs") in ("1", "true", "True") else None
        if state == "IN_QUEUE":
            with self.lock:
                body["queue_position"] = sum(
                    j.created < job.created and j.status_at(now) == "IN_QUEUE"
                    for j in self.jobs.values()
                )
        elif state == "IN_PROGRESS":
            body["logs"] = logs
        else:
            body["logs"] = logs
            body["metrics"] = {"inference_time": job.run_seconds}
        return self.json_response(body)

    async def result(self, request: web.Request) -> web.Response:
        job = self._lookup(request)
        if job.status_at(self.clock()) != "COMPLETED":
            raise ApiError(400, "Request is still in progress")
        if job.cancelled_at is not None:
            status, body = CANCELLED
            return self.json_response(body, status=status)
        if job.outcome is not None:
            status, body = job.outcome
            return self.json_response(body, status=status)
        video = self.video_bytes()
        return self.json_response(
            {
                "video": {
                    "url": f"{self.origin}/files/{job.id}/output.mp4",
                    "content_type": "video/mp4",
                    "file_name": "output.mp4",
                    "file_size": len(video),
                }
            },
            headers={"x-fal-request-id": job.id},
        )

    async def cancel(self, request: web.Request) -> web.Response:
        """Queued: removed. Running: the runner is told to stop (fal's docs, 2025+: the
        app decides; this mock's apps always stop). Ended: 400 ALREADY_COMPLETED."""
        job = self._lookup(request)
        now = self.clock()
        with self.lock:
            job.cancel_requests += 1
            if job.status_at(now) == "COMPLETED":
                return self.json_response({"status": "ALREADY_COMPLETED"}, status=400)
            job.cancelled_at = now
        return self.json_response({"status": "CANCELLATION_REQUESTED"}, status=202)

    async def file(self, request: web.Request) -> web.Response:
        with self.lock:
            job = self.jobs.get(request.match_info["request_id"])
        if job is None or request.match_info["name"] != "output.mp4":
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.video_bytes(), headers={"Content-Type": "video/mp4"})

    # -- helpers --------------------------------------------------------------------------

    def _urls(self, job: FalRequest) -> dict[str, str]:
        base = f"{self.origin}/{job.app}/requests/{job.id}"
        return {
            "request_id": job.id,
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    def _lookup(self, request: web.Request) -> FalRequest:
        app = f"{request.match_info['owner']}/{request.match_info['app']}"
        with self.lock:
            job = self.jobs.get(request.match_info["request_id"])
        if job is None or job.app != app:
            raise ApiError(404, "Request not found")
        return job

    def _outcome(self, endpoint: str, payload: Any) -> tuple[int, dict[str, Any]] | None:
        """What the app will answer once it has run: None for success, else (status, body).
        Decided at submit so the test can see it, but only revealed on completion."""
        errors = self._validate(endpoint, payload)
        if errors:
            return 422, {"detail": errors}
        if self.moderation.search(payload["prompt"]):
            return 422, {
                "detail": [
                    {
                        "loc": ["body", "prompt"],
                        "msg": "The content could not be processed because it contained "
                        "material flagged by a content checker.",
                        "type": "content_policy_violation",
                        "url": "https://docs.fal.ai/errors#content_policy_violation",
                        "input": payload["prompt"],
                    }
                ]
            }
        return None

    def _validate(self, endpoint: str, payload: Any) -> list[dict[str, Any]]:
        """Pydantic-style errors for the Kling-like input schema (unknown fields ignored)."""
        if not isinstance(payload, dict):
            return [_error([], "Input should be a valid dictionary", "dict_type", payload)]
        errors: list[dict[str, Any]] = []
        prompt = payload.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            kind = "missing" if prompt is None else "string_type"
            errors.append(_error(["prompt"], "Field required", kind, prompt))
        choices_of: tuple[tuple[str, tuple[Any, ...]], ...] = (
            ("aspect_ratio", tuple(self.aspect_ratios)),
            ("duration", tuple(self.durations)),
        )
        if endpoint.startswith("fal-ai/veo3.1"):  # fal.ai/models/fal-ai/veo3.1/llms.txt
            ratios = ("auto", "16:9", "9:16") if "image-to-video" in endpoint else ("16:9", "9:16")
            resolutions = ("720p", "1080p") if "lite" in endpoint else ("720p", "1080p", "4k")
            choices_of = (
                ("aspect_ratio", ratios),
                ("duration", ("4s", "6s", "8s")),
                ("resolution", resolutions),
                ("generate_audio", (True, False)),
            )
            if "seed" in payload and type(payload["seed"]) is not int:
                errors.append(
                    _error(["seed"], "Input should be a valid integer", "int_type", payload["seed"])
                )
        for name, allowed in choices_of:
            if name in payload and payload[name] not in allowed:
                choices = ", ".join(f"'{v}'" for v in allowed)
                msg = f"Input should be {choices}"
                errors.append(_error([name], msg, "literal_error", payload[name]))
        image = payload.get("image_url")
        if endpoint.endswith("image-to-video") and image is None:
            errors.append(_error(["image_url"], "Field required", "missing", None))
        elif image is not None and not fetchable_image(image):
            msg = "Failed to load the image. Please ensure the image file is not corrupted."
            errors.append(_error(["image_url"], msg, "image_load_error", image))
        return errors


def _error(loc: list[str], msg: str, kind: str, value: Any) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind, "input": value}
