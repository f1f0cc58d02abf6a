"""`openrouter`: OpenRouter's video generation API as an upstream (one key, many models).

`POST /api/v1/videos` `{"model": "google/veo-3.1", "prompt", "duration", "size" |
"resolution" + "aspect_ratio", "frame_images": [{type: image_url, image_url: {url},
frame_type: first_frame|last_frame}], "input_references": [...], "generate_audio", "seed",
"callback_url", "provider": {"options": {<slug>: {...}}}}` answers 202 `{id, polling_url,
status: "pending"}`; `GET /api/v1/videos/{id}` reports `status` pending | in_progress |
completed | failed | cancelled | expired, with `unsigned_urls`, `usage{cost, is_byok}` and
a free-text `error`; `GET /api/v1/videos/{id}/content?index=0` streams the MP4 with the key.
The model is OpenRouter's slug (`openrouter/bytedance/seedance-2.0` through the gateway).
What each model accepts differs (`GET /api/v1/videos/models`); `models` below holds the
limits known for some and OpenRouter's own request schema for the rest. There is no
cancel or delete. Options: `app_url`, `app_title` (OpenRouter's attribution headers).

Sources: OpenRouterTeam/docs @c26125a (openapi/openapi.yaml, guides/overview/multimodal/
video-generation.mdx, cookbook/video-generation/*), OpenRouterTeam/typescript-sdk @cb9393a
(src/models/videogeneration*.ts, src/funcs/videoGeneration*.ts); see docs/providers/
openrouter.md for what is inferred.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ..config import UpstreamKey
from ..errors import bad_request, whole_number
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    InputReference,
    Operation,
    Prepared,
    UpstreamVideo,
)
from .convert import reported_number
from .failures import not_ready
from .http import HttpProvider
from .media import display_url, image_url_input
from .params import ExtraKind, coerce_extras, refuse_reserved
from .specs import ModelSpec
from .tiers import size_for

DEFAULT_BASE_URL = "https://openrouter.ai/api"
VIDEOS_PATH = "/v1/videos"
STATUS_MAP: dict[str, str] = {
    "pending": "queued",
    "in_progress": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "expired": "failed",
}
# Statuses that end a job -> the canonical failure code (the message is OpenRouter's `error`).
STATUS_FAILURES: dict[str, str] = {
    "failed": Failure.UNKNOWN,
    "cancelled": Failure.CANCELLED,
    "expired": Failure.EXPIRED,
}
# Phrases in a failed job's free-text `error` -> canonical code, first match wins
# (inferred: OpenRouter documents only "Content policy violation" as an example).
FAILURE_PHRASES: tuple[tuple[str, str], ...] = (
    ("content policy", Failure.MODERATION),
    ("moderation", Failure.MODERATION),
    ("safety", Failure.MODERATION),
    ("invalid", Failure.INVALID),
    ("internal", Failure.INTERNAL),
    ("provider error", Failure.INTERNAL),
)
# The gateway's resolution names -> OpenRouter's (its enum spells 1K, 2K, 4K in capitals).
RESOLUTIONS: dict[str, str] = {
    "480p": "480p",
    "720p": "720p",
    "768p": "768p",
    "1080p": "1080p",
    "1k": "1K",
    "2k": "2K",
    "4k": "4K",
}
RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21")
MODELS: dict[str, ModelSpec] = {
    # OpenRouter's request schema: what any vendor/model slug may be asked; the model
    # itself decides the rest (and refuses with a 400 the gateway relays).
    "*/*": ModelSpec(
        min_seconds=1,
        resolutions=tuple(RESOLUTIONS),
        aspect_ratios=RATIOS,
        audio=True,
        image_input=True,
        last_frame=True,
        max_reference_images=9,
        seed=True,
    ),
    "google/veo-3.1*": ModelSpec(
        seconds=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        audio=True,
        audio_default=True,
        image_input=True,
        last_frame=True,
        max_reference_images=3,
        seed=True,
    ),
    "bytedance/seedance-2.0*": ModelSpec(
        min_seconds=4,
        max_seconds=15,
        resolutions=("480p", "720p", "1080p"),
        aspect_ratios=("16:9", "4:3", "1:1", "3:4", "9:16", "21:9"),
        audio=True,
        audio_default=True,
        image_input=True,
        last_frame=True,
        max_reference_images=9,
        seed=True,
    ),
}
# Body fields the adapter derives -> the request field to set instead.
DERIVED: dict[str, str] = {
    "model": "model",
    "prompt": "prompt",
    "duration": "seconds",
    "size": "size",
    "resolution": "resolution",
    "aspect_ratio": "aspect_ratio",
    "frame_images": "input_reference and last_frame",
    "input_references": "reference_images",
    "generate_audio": "generate_audio",
    "seed": "seed",
}
DERIVED_MESSAGE = "{name!r} is derived from the request's {source}; set that instead."
EXTRA_KINDS: dict[str, ExtraKind] = {"provider": dict, "callback_url": str}
# Options -> OpenRouter's app attribution headers.
ATTRIBUTION_HEADERS: dict[str, str] = {"app_url": "HTTP-Referer", "app_title": "X-OpenRouter-Title"}


def failure_code(status: str, error: str | None) -> str:
    """The canonical code of a job that ended as `status` with OpenRouter's `error` text."""
    text = (error or "").lower()
    found = next((code for phrase, code in FAILURE_PHRASES if phrase in text), None)
    if status == "failed" and found is not None:
        return found
    return STATUS_FAILURES.get(status, Failure.UNKNOWN)


def image_part(ref: InputReference, frame_type: str | None = None) -> dict[str, Any]:
    """An OpenRouter image content part (an upload travels as a data: URL)."""
    part: dict[str, Any] = {
        "type": "image_url",
        "image_url": {"url": image_url_input(ref, "OpenRouter")},
    }
    if frame_type is not None:
        part["frame_type"] = frame_type
    return part


def shown_part(part: dict[str, Any]) -> dict[str, Any]:
    return {**part, "image_url": {"url": display_url(part["image_url"]["url"])}}


class OpenRouterProvider(HttpProvider):
    type_name = "openrouter"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.IMAGE_INPUT,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    default_poll_after_ms = 10_000  # OpenRouter: "poll every 10-30 seconds"
    default_base_url = DEFAULT_BASE_URL
    models = MODELS

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        options = self.config.options
        extra = {h: str(options[o]) for o, h in ATTRIBUTION_HEADERS.items() if options.get(o)}
        return {**super()._headers(key), **extra}

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """`{"error": {"code": <the HTTP status>, "message", "metadata"}}`: the numeric code
        repeats the status, so the gateway's `upstream_<status>` is used instead."""
        message, code, etype, param = super().error_message(status, body)
        return message, None if code is None or code.isdigit() else code, etype, param

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The JSON body for `POST /api/v1/videos`; 400s for what OpenRouter cannot take."""
        if params.operation is not Operation.CREATE:
            raise bad_request(
                "unsupported_operation",
                f"OpenRouter's video API has no {params.operation.value} operation.",
                "model",
            )
        if params.fps is not None:
            raise bad_request("unsupported_fps", "OpenRouter does not take an fps.", "fps")
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        body: dict[str, Any] = {"model": params.model, "prompt": params.prompt}
        if params.seconds is not None:
            duration = whole_number(params.seconds, 3)
            if duration is None or duration < 1:
                raise bad_request(
                    "invalid_seconds",
                    f"OpenRouter takes whole seconds, not {params.seconds!r}.",
                    "seconds",
                )
            body["duration"] = duration
        body.update(self._frame(params))
        for name in ("generate_audio", "seed"):
            if getattr(params, name) is not None:
                body[name] = getattr(params, name)
        shown = dict(body)
        frames = [
            image_part(ref, kind)
            for ref, kind in (
                (params.input_reference, "first_frame"),
                (params.last_frame, "last_frame"),
            )
            if ref is not None
        ]
        refs = [image_part(ref) for ref in params.reference_images]
        refs += [image_part(c.image) for c in params.characters if c.image is not None]
        if frames and refs:
            raise bad_request(
                "invalid_parameter",
                "OpenRouter treats a request with frame images as image-to-video and ignores "
                "reference_images; give one or the other.",
                "reference_images",
            )
        for name, parts in (("frame_images", frames), ("input_references", refs)):
            if parts:
                body[name] = parts
                shown[name] = [shown_part(p) for p in parts]
        body.update(extra)
        shown.update(extra)
        size = params.size or (
            size_for(params.resolution, params.aspect_ratio or "16:9")
            if params.resolution
            else None
        )
        seconds = str(body["duration"]) if "duration" in body else None
        return Prepared(params, body, shown, VIDEOS_PATH, size=size, seconds=seconds)

    @staticmethod
    def _frame(params: CreateParams) -> dict[str, str]:
        """`size` as given (OpenRouter takes WxH), or `resolution` + `aspect_ratio`; the two
        forms are interchangeable, so not both."""
        if params.size is not None and (params.resolution or params.aspect_ratio):
            raise bad_request(
                "invalid_parameter",
                "Give either size or resolution/aspect_ratio, not both.",
                "size",
            )
        out: dict[str, str] = {}
        if params.size is not None:
            out["size"] = params.size
        if params.resolution is not None:
            out["resolution"] = RESOLUTIONS.get(params.resolution.lower(), params.resolution)
        if params.aspect_ratio is not None:
            out["aspect_ratio"] = params.aspect_ratio
        return out

    # -- responses ------------------------------------------------------------------------
    def to_video(self, body: Any) -> UpstreamVideo:
        job = self.expect_object(body, "answered without a video job")
        native = str(job.get("status"))
        status = STATUS_MAP.get(native, "in_progress")
        error = None
        if status == "failed":
            text = job.get("error") if isinstance(job.get("error"), str) else None
            error = {
                "code": failure_code(native, text),
                "message": text or f"OpenRouter reported the job as {native}.",
            }
        return UpstreamVideo(
            id=job["id"],
            status=status,  # type: ignore[arg-type]
            progress=100 if status == "completed" else 0,  # OpenRouter reports no progress
            completed_at=int(time.time()) if status in TERMINAL else None,
            model=job.get("model") if isinstance(job.get("model"), str) else None,
            error=error,
            raw=job,
            cost_usd=reported_number(job, "usage", "cost"),  # what OpenRouter billed
        )

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + VIDEOS_PATH
        answer = await self.call_api(
            "POST", url, key, ctx, json=prepared.body, shown=prepared.shown
        )
        job = self.to_video(answer)
        queued = prepared.accepted(job.id, answer)
        return dataclasses.replace(
            queued, status=job.status, error=job.error, completed_at=job.completed_at
        )

    async def _job(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}{VIDEOS_PATH}/{video_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._job(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """The first output through OpenRouter's authenticated content endpoint. The URL is
        built here, never taken from `unsigned_urls`, so the key only goes to the API's own
        host; a redirect to signed storage is followed without it."""
        video = self.to_video(await self._job(video_id, key, ctx))
        if video.status != "completed":
            raise not_ready(
                self.id, f"OpenRouter job {video_id!r} is {video.status}; no video yet."
            )
        url = f"{self._base(key)}{VIDEOS_PATH}/{video_id}/content"
        headers = {**self._headers(key), "Accept": "video/mp4"}
        result = await self.stream(url, headers=headers, params={"index": "0"}, ctx=ctx)
        if result.content_type in ("application/octet-stream", "binary/octet-stream"):
            result.content_type = "video/mp4"
        return result
