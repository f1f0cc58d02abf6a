"""Loopback mock of Replicate's predictions API (`api.replicate.com/v1`) and file delivery.

Shapes follow replicate/replicate-python (`prediction.py`, `pagination.py`,
`exceptions.py`) and replicate.com's HTTP reference: `Authorization: Bearer <token>`;
`POST /models/{owner}/{name}/predictions` (latest version) or `POST /predictions` with
`version`; the Prediction object (`id, model, version, input, logs, output, data_removed,
error, status, created_at, started_at, completed_at, urls, metrics`); cursor pages
`{"previous", "next", "results"}` newest first; errors as problem details (`title, detail,
status`, plus `invalid_fields` for input validation, checked synchronously at create).
Status runs starting -> processing (tqdm-style progress in `logs`) -> succeeded | failed,
driven by the clock; a prompt with the moderation word fails like Replicate's safety
filters do. Output files are real MP4s under `/files/...`, served without auth.
"""

from __future__ import annotations

import base64
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import render_clip_and_still, stage_at, word_pattern

PROBLEM_JSON = "application/problem+json"
MODERATION_ERROR = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)


@dataclass
class ModelSpec:
    """The part of a model's OpenAPI input schema the mock enforces."""

    version: str
    enums: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    uri_inputs: tuple[str, ...] = ()
    output_list: bool = False  # output is [poster.jpg, output.mp4] instead of one URL


DEFAULT_MODELS: dict[str, ModelSpec] = {
    "kwaivgi/kling-v2.1": ModelSpec(
        version="a" * 8 + "0" * 56,
        enums={"duration": (5, 10), "aspect_ratio": ("16:9", "9:16", "1:1")},
        uri_inputs=("start_image",),
    ),
    "minimax/video-01": ModelSpec(
        version="b" * 8 + "1" * 56,
        uri_inputs=("first_frame_image",),
        output_list=True,
    ),
}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    created: float
    queued_seconds: float
    run_seconds: float
    output_list: bool
    error: str | None = None
    canceled_at: float | None = None
    seq: int = 0

    def status_at(self, now: float) -> str:
        if self.canceled_at is not None and now >= self.canceled_at:
            return "canceled"
        stages = ("starting", "processing", "failed" if self.error else "succeeded")
        return stages[stage_at(now - self.created, self.queued_seconds, self.run_seconds)]

    def to_json(self, now: float, api: str, files: str) -> dict[str, Any]:
        status = self.status_at(now)
        started = self.created + self.queued_seconds
        ended = status in ("succeeded", "failed", "canceled")
        done_at = self.canceled_at if status == "canceled" else started + self.run_seconds
        logs = ""
        if status != "starting":
            ran = min(now, done_at or now) - started
            pct = min(100, int(100 * ran / self.run_seconds)) if self.run_seconds else 100
            logs = f"Generating video\n{pct:3d}%|{'#' * (pct // 10):<10}| {pct}/100 [00:01<00:01]\n"
        output: Any = None
        if status == "succeeded":
            video = f"{files}/{self.id}/output.mp4"
            output = [f"{files}/{self.id}/poster.jpg", video] if self.output_list else video
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": logs,
            "output": output,
            "data_removed": False,
            "error": self.error if status == "failed" else None,
            "status": status,
            "created_at": _iso(self.created),
            "started_at": _iso(started) if status != "starting" else None,
            "completed_at": _iso(done_at) if ended and done_at else None,
            "urls": {
                "get": f"{api}/predictions/{self.id}",
                "cancel": f"{api}/predictions/{self.id}/cancel",
                "stream": f"{api}/predictions/{self.id}/stream",
                "web": f"https://replicate.com/p/{self.id}",
            },
            "metrics": {"predict_time": self.run_seconds} if status == "succeeded" else {},
        }


class ReplicateMock(MockServer):
    """Predictions create/get/cancel/list for a few video models, plus their output files."""

    public_paths = ("/files/",)  # replicate.delivery serves outputs without credentials
    error_content_type = PROBLEM_JSON

    def __init__(
        self,
        api_key: str = "r8_mock",
        queued_seconds: float = 0.3,
        run_seconds: float = 1.0,
        *,
        models: dict[str, ModelSpec] | None = None,
        page_size: int = 100,
        moderation_word: str = "moderation",
        media_size: tuple[int, int] = (64, 64),
        media_seconds: float = 1.0,
        media_fps: int = 8,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, prefix="/v1", host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.models = dict(DEFAULT_MODELS if models is None else models)
        self.page_size = page_size
        self.moderation = word_pattern(moderation_word)
        self.media_size = media_size
        self.media_seconds = media_seconds
        self.media_fps = media_fps
        self.predictions: dict[str, Prediction] = {}
        self._seq = 0

    # -- envelope and auth ----------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"title": TITLES.get(status, "Error"), "detail": message, "status": status}

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error_response(401, "You did not pass a valid authentication token")

    def not_found_route(self, request: web.Request) -> web.Response:
        return self.error_response(404, "The requested resource could not be found.")

    # -- test-side controls ---------------------------------------------------------------

    def media(self) -> tuple[bytes, bytes]:
        """(MP4, JPEG poster) shared by every prediction (rendered once)."""
        return self.rendered(
            "media",
            lambda: render_clip_and_still(
                self.media_size,
                "videogate replicate mock",
                "JPEG",
                seconds=self.media_seconds,
                fps=self.media_fps,
            ),
        )

    def prediction(self, prediction_id: str) -> Prediction:
        with self.lock:
            return self.predictions[prediction_id]

    # -- routes ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path("/models/{owner}/{name}/predictions"), self.create_for_model)
        app.router.add_post(self.path("/predictions"), self.create_for_version)
        app.router.add_get(self.path("/predictions"), self.list_predictions)
        app.router.add_get(self.path("/predictions/{id}"), self.get)
        app.router.add_post(self.path("/predictions/{id}/cancel"), self.cancel)
        app.router.add_get("/files/{id}/{name}", self.file)

    async def create_for_model(self, request: web.Request) -> web.Response:
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        spec = self.models.get(model)
        if spec is None:
            raise ApiError(404, "The requested resource could not be found.")
        body = await self._body(request)
        return self._create(model, spec, body)

    async def create_for_version(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        version = body.get("version")
        for model, spec in self.models.items():
            if version in (spec.version, f"{model}:{spec.version}"):
                return self._create(model, spec, body)
        return self.json_response(
            {
                "title": "Invalid version or not permitted",
                "detail": "The specified version does not exist (or perhaps you don't have "
                "permission to use it?)",
                "status": 422,
            },
            status=422,
            headers={"Content-Type": PROBLEM_JSON},
        )

    async def get(self, request: web.Request) -> web.Response:
        return self.json_response(self._json(self._lookup(request.match_info["id"])))

    async def cancel(self, request: web.Request) -> web.Response:
        """Stops a starting/processing prediction; an ended one is returned unchanged."""
        pred = self._lookup(request.match_info["id"])
        now = self.clock()
        with self.lock:
            if pred.status_at(now) in ("starting", "processing"):
                pred.canceled_at = now
        return self.json_response(self._json(pred))

    async def list_predictions(self, request: web.Request) -> web.Response:
        cursor = request.query.get("cursor")
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        except ValueError:
            raise ApiError(400, "Invalid cursor.") from None
        with self.lock:
            ordered = sorted(self.predictions.values(), key=lambda p: p.seq, reverse=True)
        page = ordered[start : start + self.page_size]
        end = start + len(page)

        def link(offset: int) -> str:
            token = base64.urlsafe_b64encode(str(offset).encode()).decode()
            return f"{self.url}/predictions?cursor={token}"

        return self.json_response(
            {
                "previous": link(max(0, start - self.page_size)) if start else None,
                "next": link(end) if end < len(ordered) else None,
                "results": [self._json(p) for p in page],
            }
        )

    async def file(self, request: web.Request) -> web.Response:
        with self.lock:
            known = request.match_info["id"] in self.predictions
        video, poster = self.media()
        served = {"output.mp4": (video, "video/mp4"), "poster.jpg": (poster, "image/jpeg")}
        found = served.get(request.match_info["name"])
        if not known or found is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=found[0], headers={"Content-Type": found[1]})

    # -- helpers --------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> dict[str, Any]:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def _create(self, model: str, spec: ModelSpec, body: dict[str, Any]) -> web.Response:
        inputs = body.get("input")
        problems = self._validate(spec, inputs)
        if problems:
            detail = "".join(f"- {p['field']}: {p['description']}\n" for p in problems)
            return self.json_response(
                {
                    "title": "Input validation failed",
                    "detail": detail,
                    "status": 422,
                    "invalid_fields": problems,
                },
                status=422,
                headers={"Content-Type": PROBLEM_JSON},
            )
        assert isinstance(inputs, dict)
        with self.lock:
            self._seq += 1
            pred = Prediction(
                id="".join(random.choices(string.ascii_lowercase + string.digits, k=26)),
                model=model,
                version=spec.version,
                input=inputs,
                created=self.clock(),
                queued_seconds=self.queued_seconds,
                run_seconds=self.run_seconds,
                output_list=spec.output_list,
                error=MODERATION_ERROR if self.moderation.search(inputs["prompt"]) else None,
                seq=self._seq,
            )
            self.predictions[pred.id] = pred
        return self.json_response(self._json(pred), status=201)

    @staticmethod
    def _validate(spec: ModelSpec, inputs: Any) -> list[dict[str, str]]:
        if not isinstance(inputs, dict):
            return [{"type": "required", "field": "input", "description": "input is required"}]
        problems: list[dict[str, str]] = []
        if not isinstance(inputs.get("prompt"), str) or not inputs["prompt"]:
            problems.append(
                {"type": "required", "field": "input.prompt", "description": "prompt is required"}
            )
        for name, allowed in spec.enums.items():
            if name in inputs and inputs[name] not in allowed:
                choices = ", ".join(repr(v) for v in allowed)
                problems.append(
                    {
                        "type": "enum",
                        "field": f"input.{name}",
                        "description": f"{name} must be one of the following: {choices}",
                    }
                )
        for name in spec.uri_inputs:
            value = inputs.get(name)
            if value is not None and not (
                isinstance(value, str) and value.startswith(("http://", "https://", "data:"))
            ):
                problems.append(
                    {
                        "type": "format",
                        "field": f"input.{name}",
                        "description": "Does not match format 'uri'",
                    }
                )
        return problems

    def _lookup(self, prediction_id: str) -> Prediction:
        with self.lock:
            pred = self.predictions.get(prediction_id)
        if pred is None:
            raise ApiError(404, "The requested resource could not be found.")
        return pred

    def _json(self, pred: Prediction) -> dict[str, Any]:
        return pred.to_json(self.clock(), self.url, f"{self.origin}/files")


TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}
