"""`vidu`: Shengshu Vidu's enterprise API (`api.vidu.com/ent/v2`; China `api.vidu.cn`).

Four create endpoints, picked from what the request carries (docs/providers/vidu.md):
`text2video` (prompt only), `img2video` (a first frame), `start-end2video` (first frame +
`last_frame`) and `reference2video` (1-7 `reference_images`; characters become `subjects`
named by the character, which the prompt can address as `@name`). Each takes JSON with
`model`, `prompt`, `images`, `duration`, `seed`, `resolution` ("720p"), `aspect_ratio`
(text and reference only: an image sets its own shape) and answers `{"task_id", "state"}`.
`GET /ent/v2/tasks/{id}/creations` -> `state` created|queueing|processing|success|failed,
`err_code`, `creations[{url, cover_url, watermarked_url}]`; the URLs last 24 h and are
fetched without the key (the cover is served as the thumbnail). Auth is
`Authorization: Token <key>`.

Vidu cancels only off-peak tasks, so no cancel or delete is declared. `generate_audio` is
Vidu's `audio` (sound and speech rendered with the picture), which img2video and
reference2video take; text-to-video only offers `bgm` (an extra).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..config import ProviderConfig, UpstreamKey
from ..errors import bad_request, whole_number
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    Prepared,
    Status,
    UpstreamVideo,
)
from .failures import not_ready, variant_missing
from .http import HttpProvider
from .media import ImageRules, ReferenceImage, reference_image
from .normalised import (
    DERIVED_MESSAGE,
    image_url,
    merged,
    refuse_fps,
    region_root,
    regional_base,
    tier_and_ratio,
)
from .params import ExtraKind, check_prompt_length, coerce_extras, refuse_reserved
from .specs import ModelSpec

VENDOR = "Vidu"
GLOBAL = "https://api.vidu.com"
REGIONS: dict[str, str] = {
    "global": GLOBAL,
    "cn": "https://api.vidu.cn",
    "china": "https://api.vidu.cn",
}
API = "/ent/v2"
MAX_PROMPT = 2000
URL_TTL_SECONDS = 24 * 3600  # creations' URLs "are valid for 24 hours"

TEXT, IMAGE, START_END, REFERENCE = "text2video", "img2video", "start-end2video", "reference2video"
STATUS_MAP: dict[str, Status] = {
    "created": "queued",
    "queueing": "queued",
    "processing": "in_progress",
    "success": "completed",
    "failed": "failed",
}
# `err_code` of a failed task -> canonical failure.
FAILURE_MAP: dict[str, str] = {
    "TaskPromptPolicyViolation": Failure.MODERATION,
    "CreationPolicyViolation": Failure.MODERATION,
    "AuditSubmitIllegal": Failure.MODERATION,
    "UserCancelled": Failure.CANCELLED,
    "Canceled": Failure.CANCELLED,
    "InternalServiceFailure": Failure.INTERNAL,
    "ImageDownloadFailure": Failure.INVALID,
    "ImageFormatInvalid": Failure.INVALID,
    "FieldInvalid": Failure.INVALID,
    "ImageCheckFaceFailed": Failure.INVALID,
}
# The `reason` of a non-2xx answer -> the gateway's `error.code`.
ERROR_CODES: dict[str, str] = {
    "Unauthorized": "invalid_api_key",
    "Forbidden": "access_denied",
    "CreditInsufficient": "insufficient_balance",
    "TooManyRequests": "rate_limit_exceeded",
    "SystemThrottling": "rate_limit_exceeded",
    "QuotaExceeded": "rate_limit_exceeded",
    "TaskPromptPolicyViolation": "moderation_blocked",
    "AuditSubmitIllegal": "moderation_blocked",
    "TaskNotFound": "video_not_found",
    "BadRequest": "invalid_parameter",
    "FieldInvalid": "invalid_parameter",
}
TIERS: dict[int, str] = {360: "360p", 540: "540p", 720: "720p", 1080: "1080p"}
Q2_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1")
Q1_RATIOS = ("16:9", "9:16", "1:1")


@dataclass(frozen=True)
class Family:
    """What one Vidu model serves: its endpoints and default length; `start_end_max` caps
    start-end2video's seconds (the model's spec bounds the rest)."""

    endpoints: frozenset[str]
    default_seconds: int
    start_end_max: int | None = None


_Q2_FRAMES = Family(frozenset({IMAGE, START_END}), 5, start_end_max=8)
FAMILIES: dict[str, Family] = {
    "viduq3-pro": Family(frozenset({TEXT, IMAGE, START_END}), 5),
    "viduq3-turbo": Family(frozenset({TEXT, IMAGE, START_END}), 5),
    "viduq2": Family(frozenset({TEXT, REFERENCE}), 5),
    "viduq2-pro": _Q2_FRAMES,
    "viduq2-turbo": _Q2_FRAMES,
    "viduq2-pro-fast": _Q2_FRAMES,
    "viduq1": Family(frozenset({TEXT, IMAGE, START_END, REFERENCE}), 5),
    "viduq1-classic": Family(frozenset({IMAGE, START_END}), 5),
    "vidu2.0": Family(frozenset({IMAGE, START_END, REFERENCE}), 4),
}
_Q2_SPEC = ModelSpec(
    min_seconds=1,
    max_seconds=10,
    resolutions=("540p", "720p", "1080p"),
    aspect_ratios=Q2_RATIOS,
    audio=True,
    image_input=True,
    last_frame=True,
    seed=True,
)
_Q1_SPEC = ModelSpec(
    seconds=(5,),
    resolutions=("1080p",),
    aspect_ratios=Q1_RATIOS,
    image_input=True,
    last_frame=True,
    max_reference_images=7,
    seed=True,
)
MODELS: dict[str, ModelSpec] = {
    # Q3 (inferred from integrators: 1-16 s, sound, the frame endpoints and text).
    "viduq3-pro": replace(_Q2_SPEC, max_seconds=16),
    "viduq3-turbo": replace(_Q2_SPEC, max_seconds=16),
    "viduq2": ModelSpec(
        min_seconds=1,
        max_seconds=10,
        resolutions=("540p", "720p", "1080p"),
        aspect_ratios=Q2_RATIOS,
        audio=True,
        max_reference_images=7,
        seed=True,
    ),
    "viduq2-pro": _Q2_SPEC,
    "viduq2-turbo": _Q2_SPEC,
    "viduq2-pro-fast": replace(_Q2_SPEC, resolutions=("720p", "1080p")),
    "viduq1": _Q1_SPEC,
    "viduq1-classic": replace(_Q1_SPEC, max_reference_images=0),
    "vidu2.0": ModelSpec(
        seconds=(4, 8),
        resolutions=("360p", "720p", "1080p"),
        aspect_ratios=Q1_RATIOS,
        image_input=True,
        last_frame=True,
        max_reference_images=3,
        seed=True,
    ),
}
SOUND_ENDPOINTS = frozenset({IMAGE, REFERENCE})  # where `audio: true` is accepted
FRAMED = frozenset({IMAGE, START_END})  # the image sets the aspect ratio
EXTRA_KINDS: dict[str, ExtraKind] = {
    "movement_amplitude": str,
    "style": str,
    "bgm": bool,
    "audio": bool,
    "voice_id": str,
    "is_rec": bool,
    "seed": int,
    "off_peak": bool,
    "watermark": bool,
    "wm_position": int,
    "wm_url": str,
    "meta_data": str,
    "payload": str,
    "callback_url": str,
}
DERIVED = {
    "model": "model",
    "prompt": "prompt",
    "images": "input_reference",
    "subjects": "reference_images",
    "duration": "seconds",
    "resolution": "size",
    "aspect_ratio": "size",
}
# png/jpeg/jpg/webp, at least 128x128, aspect under 1:4; the whole body must stay under
# 20 MB, so an image is held to 15 MB before base64 (inferred from that body limit).
IMAGE_RULES = ImageRules(
    label="Vidu",
    types=frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_bytes=15 * 1024 * 1024,
    min_side=128,
    max_ratio=4.0,
)


def endpoint_for(params: CreateParams) -> str:
    """The create endpoint the request's inputs call for (a 400 for a mix Vidu has none
    for)."""
    refs = bool(params.reference_images) or any(c.image for c in params.characters)
    if refs and (params.input_reference or params.last_frame):
        raise bad_request(
            "invalid_input_reference",
            "Vidu takes either frames (input_reference, last_frame) or reference images, not both.",
            "reference_images",
        )
    if params.last_frame is not None and params.input_reference is None:
        raise bad_request(
            "missing_input_reference", "Vidu needs a first frame with a last_frame.", "last_frame"
        )
    if refs:
        return REFERENCE
    if params.input_reference is not None:
        return START_END if params.last_frame is not None else IMAGE
    return TEXT


class ViduProvider(HttpProvider):
    type_name = "vidu"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.THUMBNAIL,
            Capability.IMAGE_INPUT,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    default_poll_after_ms = 5000
    default_base_url = GLOBAL
    models = MODELS

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        for region in [config.options.get("region"), *(k.extra.get("region") for k in config.keys)]:
            if region is not None:
                region_root(str(region), REGIONS)

    def _base(self, key: UpstreamKey) -> str:
        return regional_base(key, self.config.base_url, self.config.options, REGIONS, GLOBAL)

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        return {"Authorization": f"Token {key.value}"}

    # -- request building ---------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The endpoint and body for a create; every refusal here costs no upstream call."""
        check_prompt_length(params.prompt, MAX_PROMPT, VENDOR)
        refuse_fps(params, VENDOR)
        if params.negative_prompt:
            raise bad_request(
                "unsupported_negative_prompt", "Vidu takes no negative_prompt.", "negative_prompt"
            )
        endpoint = endpoint_for(params)
        family = FAMILIES.get(params.model)
        if family is not None and endpoint not in family.endpoints:
            serving = sorted(m for m, f in FAMILIES.items() if endpoint in f.endpoints)
            raise bad_request(
                "unsupported_model",
                f"{params.model} does not serve Vidu's {endpoint}; use {', '.join(serving)}.",
                "model",
            )
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        body: dict[str, Any] = {"model": params.model, "prompt": params.prompt}
        audio = merged("generate_audio", params.generate_audio, extra, "audio")
        if audio and endpoint not in SOUND_ENDPOINTS:
            raise bad_request(
                "unsupported_audio",
                "Vidu renders sound with an input image or references; text-to-video only "
                "adds background music (extra bgm).",
                "generate_audio",
            )
        seed = merged("seed", params.seed, extra)
        for name, value in (("audio", audio), ("seed", seed)):
            if value is not None:
                body[name] = value
        body.update(self._shape(params, endpoint))
        seconds = self._seconds(params, endpoint, family, body)
        shown = dict(body)
        images = self._images(params, endpoint)
        if endpoint == REFERENCE and (params.characters or audio):
            body["subjects"], shown["subjects"] = self._subjects(params, images)
        elif images:
            body["images"] = [image_url(i) for i in images]
            shown["images"] = [i.describe() for i in images]
        body.update(extra)
        shown.update(extra)
        return Prepared(params, body, shown, endpoint, size=params.size, seconds=seconds)

    @staticmethod
    def _shape(params: CreateParams, endpoint: str) -> dict[str, str]:
        """`resolution` and (text, reference) `aspect_ratio` from size or the normalised
        fields; with frames the image sets the shape, so an aspect ratio is refused."""
        spec = MODELS.get(params.model)
        ratios = spec.aspect_ratios if spec else Q2_RATIOS
        if endpoint in FRAMED and params.aspect_ratio:
            raise bad_request(
                "invalid_aspect_ratio",
                "Vidu takes the aspect ratio of the input image.",
                "aspect_ratio",
            )
        tier, ratio = tier_and_ratio(params, TIERS, ratios, VENDOR)
        if spec and spec.resolutions and tier is not None and tier not in spec.resolutions:
            raise bad_request(
                "invalid_size",
                f"{params.model} renders {', '.join(spec.resolutions)}, not {tier} "
                f"(size {params.size}).",
                "size",
            )
        shape = {} if tier is None else {"resolution": tier}
        if ratio is not None and endpoint not in FRAMED:
            shape["aspect_ratio"] = ratio
        return shape

    @staticmethod
    def _seconds(
        params: CreateParams, endpoint: str, family: Family | None, body: dict[str, Any]
    ) -> str | None:
        if params.seconds is None:
            return None if family is None else str(family.default_seconds)
        duration = whole_number(params.seconds, 3)
        limit = family.start_end_max if family and endpoint == START_END else None
        if duration is None or (limit is not None and duration > limit):
            raise bad_request(
                "invalid_seconds",
                f"Vidu renders whole seconds{f' up to {limit} from two frames' if limit else ''}"
                f", not {params.seconds}.",
                "seconds",
            )
        body["duration"] = duration
        return str(duration)

    @staticmethod
    def _images(params: CreateParams, endpoint: str) -> list[ReferenceImage]:
        """The images of the endpoint, checked: the frames, or the reference stills."""
        if endpoint in FRAMED:
            frames = [params.input_reference, params.last_frame]
            return [reference_image(f, IMAGE_RULES) for f in frames if f is not None]
        return [
            reference_image(r, IMAGE_RULES, "reference_images") for r in params.reference_images
        ]

    @staticmethod
    def _subjects(
        params: CreateParams, images: list[ReferenceImage]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """reference2video `subjects`: each reference image as subject "1", "2", ...,
        then each character (by name, so the prompt can say `@Mia`) with its still."""
        sent: list[dict[str, Any]] = []
        shown: list[dict[str, Any]] = []
        named = [(str(n), i) for n, i in enumerate(images, 1)]
        for character in params.characters:
            if character.image is not None:
                still = reference_image(character.image, IMAGE_RULES, "characters")
                named.append((character.name, still))
        for name, image in named:
            sent.append({"id": name, "images": [image_url(image)]})
            shown.append({"id": name, "images": [image.describe()]})
        return sent, shown

    # -- answers -------------------------------------------------------------------------
    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """`{"code": 400, "reason": "CreditInsufficient", "message", "metadata"}` (inferred
        shape) -> our code, with Vidu's reason in the message."""
        if isinstance(body, Mapping) and isinstance(body.get("reason"), str):
            reason = str(body["reason"])
            text = f"{body.get('message') or reason} ({VENDOR} reason {reason})"
            return text, ERROR_CODES.get(reason, reason), None, None
        return super().error_message(status, body)

    def to_video(self, body: Any) -> UpstreamVideo:
        task = self.expect_object(body, "answered without a task object", id_field=None)
        task_id = task.get("task_id") or task.get("id")
        if not isinstance(task_id, str | int) or not str(task_id):
            raise self.bad_response(f"Provider {self.id!r} answered without a task id.", body)
        state = str(task.get("state"))
        status = STATUS_MAP.get(state, "in_progress")
        now = int(time.time())
        terminal = status in TERMINAL
        error = None
        if status == "failed":
            code = str(task.get("err_code") or "")
            error = {
                "code": FAILURE_MAP.get(code, Failure.UNKNOWN),
                "message": f"Vidu reported the task as failed: {code or 'no reason given'}.",
            }
        return UpstreamVideo(
            id=str(task_id),
            status=status,
            progress=100 if terminal else 0,
            completed_at=now if terminal else None,
            expires_at=now + URL_TTL_SECONDS if status == "completed" else None,
            error=error,
            raw=dict(task),
        )

    # -- operations ----------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = f"{self._base(key)}{API}/{prepared.route}"
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        video = self.to_video(body)
        video.model, video.prompt = prepared.params.model, prepared.params.prompt
        video.size, video.seconds = prepared.size, prepared.seconds
        return video

    async def _creations(self, task_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api(
            "GET", f"{self._base(key)}{API}/tasks/{task_id}/creations", key, ctx
        )

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._creations(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """The first creation's `url` (video) or `cover_url` (thumbnail), read fresh."""
        body = await self._creations(video_id, key, ctx)
        video = self.to_video(body)
        if video.status != "completed":
            raise not_ready(self.id, f"Vidu task {video_id!r} is {video.status}.")
        creations = body.get("creations") if isinstance(body, Mapping) else None
        first = creations[0] if isinstance(creations, list) and creations else {}
        field = VARIANT_FIELDS[variant]
        url = first.get(field) if isinstance(first, Mapping) else None
        if not isinstance(url, str) or not url:
            if variant == "video":
                raise self.bad_response(f"Vidu task {video_id!r} has no creation URL.", body)
            raise variant_missing(self.id, f"Vidu task {video_id!r} has no cover image.")
        return await self.stream_asset(url, VARIANT_FALLBACK_TYPES[variant], ctx=ctx)


VARIANT_FIELDS: dict[str, str] = {"video": "url", "thumbnail": "cover_url"}
VARIANT_FALLBACK_TYPES: dict[str, str] = {"video": "video/mp4", "thumbnail": "image/jpeg"}
