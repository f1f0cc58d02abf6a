"""Loopback mock of Runway's developer API (api.dev.runwayml.com, version 2024-11-06).

Speaks the wire format of runwayml/sdk-python @c604e0e: `Authorization: Bearer` plus the
required `X-Runway-Version` header (400 without it), `POST /v1/image_to_video`,
`/v1/text_to_video` and `/v1/video_to_video` (per-model fields: `videoUri` for Aleph and
Gemini Omni Flash, `promptVideo` for Seedance 2.0; positioned `promptImage` frames,
`references`) answering `{"id"}`, `GET /v1/tasks/{id}` whose `status` moves
PENDING -> THROTTLED -> RUNNING (float `progress`) -> SUCCEEDED | FAILED with wall-clock
time, and `DELETE /v1/tasks/{id}` (204: cancels a running task, deletes an ended one;
either way the task 404s afterwards). Errors are `{"error": "<text>"}`.

Outputs are real MP4 bytes served by the mock itself under `/_cdn/`, at pre-signed URLs
that need no credentials and expire after `url_ttl` seconds (403 afterwards, as a CDN
does); every GET of a finished task signs a fresh one, as Runway's does. Prompts
containing a word of `failure_words` fail with that `failureCode` (the moderation path).
Inferred (undocumented): the exact 400/401 messages and the rejection of unknown body keys.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import render_clip, sniff_image

VERSION = "2024-11-06"
GEN4 = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
VEO = ("1280:720", "720:1280", "1080:1920", "1920:1080")
OMNI = ("1280:720", "720:1280")
SD2_720 = (
    "992:432", "864:496", "752:560", "640:640", "560:752", "496:864",
    "1470:630", "1280:720", "1112:834", "960:960", "834:1112", "720:1280",
)  # fmt: skip
SD2 = (
    *SD2_720,
    "2206:946", "1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920",
    "3840:1646", "3840:2160", "3840:2880", "3840:3840", "2880:3840", "2160:3840",
)  # fmt: skip
ALEPH_TARGETS = ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9")


@dataclass(frozen=True)
class Model:
    """One model's create params as the SDK's TypedDicts define them, per endpoint."""

    image_ratios: tuple[str, ...] = ()
    text_ratios: tuple[str, ...] = ()
    durations: tuple[int, ...] = ()
    duration_required: bool = False
    fields: frozenset[str] = frozenset()  # optional body fields beyond the common ones
    positions: frozenset[str] = frozenset({"first"})  # promptImage positions allowed
    edit_field: str | None = None  # video_to_video: "videoUri" or "promptVideo"
    edit_data_uri: bool = True
    edit_prompt_required: bool = False
    max_references: int = 0


SEEDANCE2 = Model(
    SD2,
    SD2,
    tuple(range(4, 16)),
    fields=frozenset({"audio", "references", "referenceAudio", "referenceVideos"}),
    positions=frozenset({"first", "last"}),
    edit_field="promptVideo",
    max_references=9,
)
SEEDANCE2_720 = replace(SEEDANCE2, image_ratios=SD2_720, text_ratios=SD2_720)
MODELS: dict[str, Model] = {
    "gen4_turbo": Model(GEN4, (), tuple(range(2, 11)), False, frozenset({"seed"})),
    "gen4.5": Model(GEN4, ("1280:720", "720:1280"), tuple(range(2, 11)), True, frozenset({"seed"})),
    "veo3": Model(VEO, VEO, (8,), True, frozenset({"negativePrompt"})),
    "veo3.1": Model(
        VEO,
        VEO,
        (4, 6, 8),
        False,
        frozenset({"audio", "negativePrompt"}),
        frozenset({"first", "last"}),
    ),
    "veo3.1_fast": Model(
        VEO,
        VEO,
        (4, 6, 8),
        False,
        frozenset({"audio", "negativePrompt"}),
        frozenset({"first", "last"}),
    ),
    "seedance2": SEEDANCE2,
    "seedance2_fast": SEEDANCE2_720,
    "seedance2_mini": SEEDANCE2_720,
    "gemini_omni_flash": Model(
        OMNI,
        OMNI,
        tuple(range(3, 11)),
        fields=frozenset({"references"}),
        edit_field="videoUri",
        edit_prompt_required=True,
        max_references=9,
    ),
    "aleph2": Model(
        fields=frozenset({"seed", "keyframes", "targetAspectRatio"}), edit_field="videoUri"
    ),
    "gen4_aleph": Model(
        fields=frozenset({"seed", "references"}),
        edit_field="videoUri",
        edit_data_uri=False,
        edit_prompt_required=True,
        max_references=1,
    ),
}
COMMON_FIELDS = frozenset({"model", "promptText", "ratio", "duration", "contentModeration"})
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "seed": int,
    "contentModeration": dict,
    "audio": bool,
    "negativePrompt": str,
    "references": list,
    "referenceAudio": list,
    "referenceVideos": list,
    "keyframes": list,
    "targetAspectRatio": str,
}
DATA_URI = re.compile(r"^data:(image/(?:png|jpeg|jpg|webp));base64,(.*)$", re.DOTALL)
VIDEO_DATA_URI = re.compile(r"^data:(video/(?:mp4|webm|quicktime));base64,(.*)$", re.DOTALL)
MAX_DATA_URI = 5 * 1024 * 1024
MAX_VIDEO_DATA_URI = 16 * 1024 * 1024
DEFAULT_FAILURES = {
    "moderation": ("SAFETY.INPUT.TEXT", "The prompt was flagged by content moderation."),
    "glitch": ("INTERNAL.BAD_OUTPUT.CODE01", "The generated output did not pass checks."),
}


@dataclass
class Task:
    """One task; its status is derived from the clock so it advances by itself."""

    id: str
    endpoint: str
    body: dict[str, Any]
    created: float
    queued_seconds: float
    throttled_seconds: float
    run_seconds: float
    failure: tuple[str, str] | None = None
    cancelled: bool = False

    def status_at(self, now: float) -> tuple[str, float]:
        if self.cancelled:
            return "CANCELLED", 0.0
        elapsed = now - self.created
        if elapsed < self.queued_seconds:
            return "PENDING", 0.0
        elapsed -= self.queued_seconds
        if elapsed < self.throttled_seconds:
            return "THROTTLED", 0.0
        elapsed -= self.throttled_seconds
        if elapsed < self.run_seconds:
            return "RUNNING", round(elapsed / self.run_seconds, 3)
        return ("FAILED" if self.failure else "SUCCEEDED"), 1.0


class RunwayMock(MockServer):
    public_paths = ("/_cdn/",)

    def __init__(
        self,
        api_key: str = "key_mock",
        *,
        queued_seconds: float = 0.2,
        throttled_seconds: float = 0.0,
        run_seconds: float = 0.6,
        url_ttl: float = 3600.0,
        failure_words: dict[str, tuple[str, str]] | None = None,
        media_size: tuple[int, int] = (64, 36),
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.throttled_seconds = throttled_seconds
        self.run_seconds = run_seconds
        self.url_ttl = url_ttl
        self.failure_words = dict(DEFAULT_FAILURES if failure_words is None else failure_words)
        self.media_size = media_size
        self.tasks: dict[str, Task] = {}
        self.deleted: set[str] = set()
        self.cancelled_by_delete: set[str] = set()
        self.signed: dict[str, tuple[str, float]] = {}  # token -> (task id, expiry)

    # -- test-side controls ---------------------------------------------------------------

    def video(self) -> bytes:
        """The MP4 every succeeded task outputs (rendered once)."""
        return self.rendered("video", lambda: render_clip(self.media_size, "videogate runway mock"))

    def cancel(self, task_id: str) -> None:
        """Cancel a task as someone else would (e.g. in Runway's dashboard)."""
        with self.lock:
            self.tasks[task_id].cancelled = True

    def output_url(self, task_id: str) -> str:
        """A freshly signed output URL, as a GET of the finished task would return."""
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.signed[token] = (task_id, self.clock() + self.url_ttl)
        return f"{self.origin}/_cdn/{token}/output.mp4?_jwt={token}"

    # -- protocol -------------------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"error": message}

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error_response(401, "The API key you provided is incorrect or disabled.")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/image_to_video", self.create)
        app.router.add_post("/v1/text_to_video", self.create)
        app.router.add_post("/v1/video_to_video", self.create)
        app.router.add_get("/v1/tasks/{task_id}", self.retrieve)
        app.router.add_delete("/v1/tasks/{task_id}", self.delete)
        app.router.add_get("/_cdn/{token}/output.mp4", self.download)

    @staticmethod
    def _check_version(request: web.Request) -> None:
        version = request.headers.get("X-Runway-Version")
        if version != VERSION:
            raise ApiError(
                400,
                f"The X-Runway-Version header is missing or not a supported version "
                f"(got {version!r}); use {VERSION!r}.",
            )

    async def create(self, request: web.Request) -> web.Response:
        self._check_version(request)
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        endpoint = request.path.rsplit("/", 1)[-1]
        self._validate(endpoint, body)
        prompt = body.get("promptText") or ""
        failure = next(
            (f for word, f in self.failure_words.items() if word in prompt.lower()), None
        )
        task = Task(
            id=str(uuid.uuid4()),
            endpoint=endpoint,
            body=body,
            created=self.clock(),
            queued_seconds=self.queued_seconds,
            throttled_seconds=self.throttled_seconds,
            run_seconds=self.run_seconds,
            failure=failure,
        )
        with self.lock:
            self.tasks[task.id] = task
        return self.json_response({"id": task.id})

    def _validate(self, endpoint: str, body: dict[str, Any]) -> None:
        model_name = body.get("model")
        model = MODELS.get(model_name) if isinstance(model_name, str) else None
        if endpoint == "video_to_video":
            self._validate_edit(model_name, model, body)
            return
        ratios = (
            (model.image_ratios if endpoint == "image_to_video" else model.text_ratios)
            if model
            else ()
        )
        if model is None or not ratios:
            usable = [
                m
                for m, spec in MODELS.items()
                if (spec.image_ratios if endpoint == "image_to_video" else spec.text_ratios)
            ]
            raise ApiError(400, f"model: expected one of {usable}, got {model_name!r}.")
        prompt = body.get("promptText")
        needs_prompt = endpoint == "text_to_video"
        self._validate_prompt(prompt, needs_prompt, model)
        if body.get("ratio") not in ratios:
            raise ApiError(
                400, f"ratio: expected one of {list(ratios)}, got {body.get('ratio')!r}."
            )
        self._validate_duration(body, model)
        if endpoint == "image_to_video":
            self._validate_prompt_image(body.get("promptImage"), model)
        allowed = (
            COMMON_FIELDS
            | model.fields
            | ({"promptImage"} if endpoint == "image_to_video" else set())
        )
        self._validate_fields(body, allowed, model)

    def _validate_edit(self, name: Any, model: Model | None, body: dict[str, Any]) -> None:
        if model is None or model.edit_field is None:
            usable = [m for m, spec in MODELS.items() if spec.edit_field]
            raise ApiError(400, f"model: expected one of {usable}, got {name!r}.")
        self._validate_prompt(body.get("promptText"), model.edit_prompt_required, model)
        self._validate_video(model.edit_field, body.get(model.edit_field), model.edit_data_uri)
        if model.edit_field == "promptVideo":
            if "ratio" in body and body["ratio"] not in model.text_ratios:
                raise ApiError(400, f"ratio: expected one of {list(model.text_ratios)}.")
            self._validate_duration(body, model)
            allowed = COMMON_FIELDS | model.fields | {"promptVideo"}
        else:
            allowed = (COMMON_FIELDS - {"duration", "ratio"}) | model.fields | {"videoUri"}
            target = body.get("targetAspectRatio")
            if target is not None and target not in ALEPH_TARGETS:
                raise ApiError(400, f"targetAspectRatio: expected one of {list(ALEPH_TARGETS)}.")
        self._validate_fields(body, allowed, model)

    @staticmethod
    def _validate_prompt(prompt: Any, required: bool, model: Model) -> None:
        limit = 3500 if model.edit_field == "promptVideo" or model.max_references == 9 else 1000
        bad = not isinstance(prompt, str) or not prompt or len(prompt) > limit
        if (prompt is not None or required) and bad:
            raise ApiError(
                400, f"promptText: expected a non-empty string of at most {limit} characters."
            )

    @staticmethod
    def _validate_duration(body: dict[str, Any], model: Model) -> None:
        duration = body.get("duration")
        if duration is None and model.duration_required:
            raise ApiError(400, "duration: required for this model.")
        if duration is not None and (type(duration) is not int or duration not in model.durations):
            raise ApiError(
                400, f"duration: expected one of {list(model.durations)}, got {duration!r}."
            )

    def _validate_fields(
        self, body: dict[str, Any], allowed: set[str] | frozenset[str], model: Model
    ) -> None:
        for key, value in body.items():
            if key not in allowed:
                raise ApiError(400, f"Unrecognized key in body: {key!r}.")
            kind = FIELD_TYPES.get(key)
            if kind is not None and (
                not isinstance(value, kind) or (type(value) is bool and kind is int)
            ):
                raise ApiError(400, f"{key}: invalid type {type(value).__name__}.")
        references = body.get("references") or []
        if len(references) > model.max_references:
            raise ApiError(400, f"references: at most {model.max_references} supported.")
        for ref in references:
            if not isinstance(ref, dict) or set(ref) != {"uri"}:
                raise ApiError(400, "references: each item must be {uri}.")
            self._validate_image(ref["uri"], "references")

    def _validate_prompt_image(self, image: Any, model: Model) -> None:
        if isinstance(image, str):
            self._validate_image(image, "promptImage")
            return
        if not isinstance(image, list) or not image:
            raise ApiError(400, "promptImage: expected a URI or a non-empty array.")
        positions = []
        for item in image:
            if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
                raise ApiError(400, "promptImage: each item needs a uri.")
            if item.get("position") not in model.positions:
                raise ApiError(
                    400, f"promptImage.position: expected one of {sorted(model.positions)}."
                )
            positions.append(item["position"])
            self._validate_image(item["uri"], "promptImage")
        if len(set(positions)) != len(positions):
            raise ApiError(400, "promptImage: each position may appear once.")

    @staticmethod
    def _validate_image(image: Any, field: str) -> None:
        if not isinstance(image, str):
            raise ApiError(400, f"{field}: expected an HTTPS URL or a data URI.")
        if image.startswith("https://"):
            return  # never fetched: tests stay offline
        match = DATA_URI.match(image)
        if match is None:
            raise ApiError(400, f"{field}: Invalid URL. Only HTTPS URLs are allowed.")
        if len(image) >= MAX_DATA_URI:
            raise ApiError(400, f"{field}: The data URI must be under 5MB.")
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"{field}: Invalid data URI.") from None
        if sniff_image(data) is None:
            raise ApiError(400, f"{field}: Unsupported asset type.")

    @staticmethod
    def _validate_video(field: str, video: Any, data_uri: bool) -> None:
        if not isinstance(video, str):
            raise ApiError(400, f"{field}: required; an HTTPS URL or a data URI.")
        if video.startswith("https://"):
            return
        match = VIDEO_DATA_URI.match(video) if data_uri else None
        if match is None:
            raise ApiError(400, f"{field}: Invalid URL. Only HTTPS URLs are allowed.")
        if len(video) >= MAX_VIDEO_DATA_URI:
            raise ApiError(400, f"{field}: The data URI must be under 16MB.")
        try:
            data = base64.b64decode(match.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, f"{field}: Invalid data URI.") from None
        if data[4:8] != b"ftyp" and not data.startswith(b"\x1aE\xdf\xa3"):
            raise ApiError(400, f"{field}: Unsupported asset type.")

    def _lookup(self, task_id: str) -> Task:
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or task_id in self.deleted:
                raise ApiError(404, "Task not found.")
            return task

    async def retrieve(self, request: web.Request) -> web.Response:
        self._check_version(request)
        task = self._lookup(request.match_info["task_id"])
        status, progress = task.status_at(self.clock())
        created = datetime.fromtimestamp(task.created, UTC).isoformat(timespec="milliseconds")
        body: dict[str, Any] = {
            "id": task.id,
            "createdAt": created.replace("+00:00", "Z"),
            "status": status,
        }
        if status == "RUNNING":
            body["progress"] = progress
        elif status == "SUCCEEDED":
            body["output"] = [self.output_url(task.id)]
        elif status == "FAILED" and task.failure is not None:
            body["failureCode"], body["failure"] = task.failure
        return self.json_response(body)

    async def delete(self, request: web.Request) -> web.Response:
        self._check_version(request)
        task = self._lookup(request.match_info["task_id"])
        status, _ = task.status_at(self.clock())
        with self.lock:
            self.deleted.add(task.id)
            if status in ("PENDING", "THROTTLED", "RUNNING"):
                self.cancelled_by_delete.add(task.id)
        return web.Response(status=204)

    async def download(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        with self.lock:
            signed = self.signed.get(token)
        if signed is None or request.query.get("_jwt") != token or self.clock() >= signed[1]:
            return web.Response(status=403, text="Access denied: the signature has expired.")
        if signed[0] in self.deleted:
            return web.Response(status=404, text="Not found.")
        return web.Response(body=self.video(), content_type="video/mp4")
