"""`minimax`: MiniMax Hailuo video generation, v1 API (`api.minimax.io`; CN `api.minimaxi.com`).

Wire format (MiniMax-AI/MiniMax-MCP `client.py`/`server.py`, platform.minimax.io docs):
`POST /v1/video_generation` `{"model","prompt","duration","resolution","first_frame_image"}`
-> `{"task_id","base_resp"}`; `GET /v1/query/video_generation?task_id=` -> `status`
Preparing|Queueing|Processing|Success|Fail and `file_id`; `GET /v1/files/retrieve?file_id=`
-> `file.download_url` (a CDN link, fetched without our key). Errors ride in
`base_resp.status_code != 0` with HTTP 200, so every answer goes through `_checked`.

The API has no cancel/delete, remix, list (v1) or thumbnail, so none is declared. OpenAI's
`size` picks the resolution by its short edge (768 -> 768P); the aspect ratio is MiniMax's
own (16:9 for text, the first frame's for image-to-video). Optional key extra `group_id` is
sent as `GroupId` on file lookups for accounts on the older API that still require it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import UpstreamKey
from ..errors import bad_request
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
    without_normalised,
)
from .convert import int_or_none, parse_size
from .failures import CodedError, coded_error, describe_code
from .http import HttpProvider
from .media import ImageRules, reference_image
from .params import check_prompt_length, coerce_extras, refuse_reserved
from .specs import ModelSpec

DEFAULT_BASE_URL = "https://api.minimax.io"
VENDOR = "MiniMax"
MAX_PROMPT = 2000  # characters, per the video generation docs

# MiniMax task status -> OpenAI status. MiniMax reports no percentage.
STATUS_MAP: dict[str, Status] = {
    "Preparing": "queued",
    "Queueing": "queued",
    "Processing": "in_progress",
    "Success": "completed",
    "Fail": "failed",
}
# `base_resp.status_code` -> relayed HTTP status and `error.code`. Codes and meanings from
# platform.minimax.io/docs/api-reference/errorcode (1000-1042, 2013, 2049) and the MCP
# client (2038); HTTP statuses follow MiniMax's own `http_code` in its v2 error envelope
# (2013 400, 1004 401, 1008 402, 1026 422, 1002 429, 1000 500) and are inferred for the rest.
BASE_RESP_ERRORS: dict[int, CodedError] = {
    1000: CodedError(500, "upstream_unknown_error"),
    1001: CodedError(504, "upstream_timeout"),
    1002: CodedError(429, "rate_limit_exceeded"),
    1004: CodedError(401, "invalid_api_key"),
    1008: CodedError(402, "insufficient_balance"),
    1024: CodedError(500, "upstream_internal_error"),
    1026: CodedError(422, "moderation_blocked"),
    1027: CodedError(422, "moderation_blocked"),
    1033: CodedError(500, "upstream_internal_error"),
    1042: CodedError(400, "invalid_prompt"),
    2013: CodedError(400, "invalid_parameter"),
    2038: CodedError(403, "verification_required"),
    2049: CodedError(401, "invalid_api_key"),
}
# `base_resp.status_code` of a task that ended in Fail -> canonical failure code.
FAILURE_MAP: dict[int, str] = {
    1026: Failure.MODERATION,  # prompt judged sensitive
    1027: Failure.MODERATION,  # generated video judged sensitive
    2013: Failure.INVALID,
    1000: Failure.INTERNAL,
    1024: Failure.INTERNAL,
    1033: Failure.INTERNAL,
}
# OpenAI size short edge -> MiniMax resolution; text-to-video output is 16:9 at these.
SHORT_EDGE_RESOLUTION: dict[int, str] = {512: "512P", 720: "720P", 768: "768P", 1080: "1080P"}
TEXT_SIZES: dict[str, str] = {"720P": "1280x720", "768P": "1366x768", "1080P": "1920x1080"}
# Provider parameters a client may pass through `extra_body`, with their JSON kinds.
EXTRA_KINDS: dict[str, Any] = {
    "duration": int,
    "resolution": str,
    "prompt_optimizer": bool,
    "fast_pretreatment": bool,
    "aigc_watermark": bool,
    "callback_url": str,
    "last_frame_image": str,
    "subject_reference": list,
}
RESERVED = ("model", "prompt", "first_frame_image")  # set by the gateway's own fields
# first_frame_image: JPG/JPEG/PNG/WebP under 20 MB, short side >= 300 px, ratio 2:5-5:2.
IMAGE_RULES = ImageRules(
    label="MiniMax",
    types=frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_bytes=20 * 1024 * 1024,
    min_side=300,
    max_ratio=2.5,
)


@dataclass(frozen=True)
class ModelRule:
    """What one model accepts: resolution -> allowed durations, and its image needs."""

    durations: dict[str, tuple[int, ...]]
    default_resolution: str
    text: bool = True  # runs without a first frame
    image: bool = True  # accepts a first frame
    image_only: frozenset[str] = field(default_factory=frozenset)  # resolutions needing one

    def describe(self) -> str:
        return "; ".join(
            f"{res}: {' or '.join(map(str, secs))} s"
            + (" (image-to-video only)" if res in self.image_only else "")
            for res, secs in self.durations.items()
        )


_HAILUO_23: dict[str, tuple[int, ...]] = {"768P": (6, 10), "1080P": (6,)}
_SERIES_01: dict[str, tuple[int, ...]] = {"720P": (6,)}
# Per-model limits (docs: 1080P is 6 s only; 512P is Hailuo-02 image-to-video only; the 01
# series renders 720P for 6 s; "-Fast" and I2V models need a first frame, T2V take none).
# Models not listed pass through unchecked so new ones work before this table knows them.
MODELS: dict[str, ModelRule] = {
    "MiniMax-Hailuo-2.3": ModelRule(_HAILUO_23, "768P"),
    "MiniMax-Hailuo-2.3-Fast": ModelRule(_HAILUO_23, "768P", text=False),
    "MiniMax-Hailuo-02": ModelRule(
        {"512P": (6, 10), "768P": (6, 10), "1080P": (6,)}, "768P", image_only=frozenset({"512P"})
    ),
    "T2V-01": ModelRule(_SERIES_01, "720P", image=False),
    "T2V-01-Director": ModelRule(_SERIES_01, "720P", image=False),
    "I2V-01": ModelRule(_SERIES_01, "720P", text=False),
    "I2V-01-Director": ModelRule(_SERIES_01, "720P", text=False),
    "I2V-01-live": ModelRule(_SERIES_01, "720P", text=False),
}


def _spec(rule: ModelRule) -> ModelSpec:
    """The catalogue entry of one model: its durations and tiers (as "768p", the
    normalised spelling); the adapter's own check adds which length each tier takes."""
    return ModelSpec(
        seconds=tuple(sorted({s for secs in rule.durations.values() for s in secs})),
        resolutions=tuple(res.lower() for res in rule.durations),
        image_input=rule.image,
    )


# The shared table (`/v1/models` and the pre-call check); Hailuo 3 speaks the v2 API,
# which another module serves.
MODEL_SPECS: dict[str, ModelSpec] = {name: _spec(rule) for name, rule in MODELS.items()}


class MiniMaxProvider(HttpProvider):
    type_name = "minimax"
    capabilities = frozenset(
        {Capability.CREATE, Capability.RETRIEVE, Capability.CONTENT, Capability.IMAGE_INPUT}
    )
    models = MODEL_SPECS
    default_poll_after_ms = 10000  # MiniMax's examples poll every 10 s

    default_base_url = DEFAULT_BASE_URL
    create_path: ClassVar[str] = "/v1/video_generation"  # minimax_h3 posts to v2

    # -- request building ---------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """Map and check a create; every rejection here costs no upstream call."""
        check_prompt_length(params.prompt, MAX_PROMPT, VENDOR)
        extra = coerce_extras(without_normalised(params.extra), EXTRA_KINDS)
        refuse_reserved(extra, RESERVED)
        asked = extra.pop("resolution", None)
        if params.resolution is not None:
            if asked is not None:
                raise bad_request(
                    "invalid_parameter", "Give resolution once, not also in extra.", "resolution"
                )
            asked = params.resolution
        resolution = self._resolution(params.size, asked)
        duration = self._duration(params.seconds, extra.pop("duration", None))
        rule = MODELS.get(params.model)
        image = None
        if params.input_reference is not None:
            image = reference_image(params.input_reference, IMAGE_RULES)
        if rule is not None:
            resolution = resolution or rule.default_resolution
            if duration is None and resolution in rule.durations:
                duration = rule.durations[resolution][0]
            self._check_rule(params.model, rule, resolution, duration, image is not None)
        payload: dict[str, Any] = {"model": params.model, "prompt": params.prompt}
        shown = dict(payload)
        if duration is not None:
            payload["duration"] = shown["duration"] = duration
        if resolution is not None:
            payload["resolution"] = shown["resolution"] = resolution
        if image is not None:
            payload["first_frame_image"] = image.url or image.data_url()
            shown["first_frame_image"] = image.describe()
        payload.update(extra)
        shown.update(extra)
        size = params.size or (TEXT_SIZES.get(resolution or "") if image is None else None)
        seconds = None if duration is None else str(duration)
        return Prepared(params, payload, shown, size=size, seconds=seconds)

    @staticmethod
    def _resolution(size: str | None, explicit: str | None) -> str | None:
        from_size = None
        if size is not None:
            dims = parse_size(size)
            from_size = SHORT_EDGE_RESOLUTION.get(min(dims)) if dims else None
            if from_size is None:
                edges = ", ".join(f"{e} ({r})" for e, r in SHORT_EDGE_RESOLUTION.items())
                raise bad_request(
                    "invalid_size",
                    f"size {size!r} is not supported by MiniMax: its short edge picks the "
                    f"resolution and must be one of {edges}, e.g. 1366x768 or 1920x1080.",
                    "size",
                )
        if explicit is not None:
            explicit = explicit.upper()
            if from_size is not None and explicit != from_size:
                raise bad_request(
                    "invalid_parameter",
                    f"resolution {explicit!r} contradicts size {size!r} ({from_size}).",
                    "resolution",
                )
        return explicit or from_size

    @staticmethod
    def _duration(seconds: str | None, explicit: int | None) -> int | None:
        if seconds is not None and explicit is not None and int(seconds) != explicit:
            raise bad_request(
                "invalid_parameter",
                f"duration {explicit} contradicts seconds {seconds!r}.",
                "duration",
            )
        return int(seconds) if seconds is not None else explicit

    @staticmethod
    def _check_rule(
        model: str, rule: ModelRule, resolution: str, duration: int | None, has_image: bool
    ) -> None:
        if has_image and not rule.image:
            raise bad_request(
                "unsupported_input_reference",
                f"{model} is text-to-video only; use an image-to-video model such as "
                "MiniMax-Hailuo-2.3 or I2V-01 for an input_reference.",
                "input_reference",
            )
        if not has_image and not rule.text:
            raise bad_request(
                "missing_input_reference",
                f"{model} is image-to-video only: send an input_reference.",
                "input_reference",
            )
        allowed = rule.describe()
        if resolution not in rule.durations or (resolution in rule.image_only and not has_image):
            raise bad_request(
                "invalid_size",
                f"{model} does not render {resolution}; it supports {allowed}.",
                "size",
            )
        if duration not in rule.durations[resolution]:
            raise bad_request(
                "invalid_seconds",
                f"{model} at {resolution} does not render {duration} s; it supports {allowed}.",
                "seconds",
            )

    # -- answers -------------------------------------------------------------------------
    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """Non-2xx bodies: `base_resp`, or the newer `{"type":"error","error":{...}}` whose
        message ends in the number, e.g. `invalid api key (2049)`."""
        number, message = _error_number(body)
        if number is not None:
            text, code = describe_code(VENDOR, number, message, BASE_RESP_ERRORS)
            return text, code, None, None
        return super().error_message(status, body)

    def _object(self, body: Any) -> Mapping[str, Any]:
        return self.expect_object(body, "answered without a JSON object", id_field=None)

    def _checked(self, body: Any) -> Mapping[str, Any]:
        """The body if `base_resp` says success; the mapped UpstreamError otherwise."""
        obj = self._object(body)
        number, message = _error_number(obj)
        if number:
            raise coded_error(self.id, VENDOR, number, message, BASE_RESP_ERRORS, obj)
        return obj

    def _video(self, body: Any, task_id: str) -> UpstreamVideo:
        """A query answer as a job. A Fail keeps its `base_resp` as the failure reason
        (inferred: MiniMax may put 1026/1027 there); any other non-zero code is an error."""
        obj = self._object(body)
        raw_status = str(obj.get("status"))
        if raw_status != "Fail":
            self._checked(obj)
        status = STATUS_MAP.get(raw_status, "in_progress")
        terminal = status in TERMINAL
        error = None
        if status == "failed":
            number, message = _error_number(obj)
            reason = f"{message} ({VENDOR} code {number})" if number else "no reason given"
            error = {
                "code": FAILURE_MAP.get(number or 0, Failure.UNKNOWN),
                "message": f"MiniMax reported the task as failed: {reason}.",
            }
        width, height = int_or_none(obj.get("video_width")), int_or_none(obj.get("video_height"))
        return UpstreamVideo(
            id=str(obj.get("task_id") or task_id),
            status=status,
            progress=100 if terminal else 0,
            completed_at=int(time.time()) if terminal else None,
            size=f"{width}x{height}" if width and height else None,
            error=error,
            raw=dict(obj),
        )

    # -- operations ----------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + self.create_path
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        task_id = self._checked(body).get("task_id")
        if not isinstance(task_id, str | int) or not str(task_id):
            raise self.bad_response(
                f"Provider {self.id!r} accepted the task without a task_id.", body
            )
        return prepared.accepted(str(task_id), body)

    async def _query(self, task_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = f"{self._base(key)}/v1/query/video_generation"
        body = await self.call_api("GET", url, key, ctx, params={"task_id": task_id})
        return self._video(body, task_id)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return await self._query(video_id, key, ctx)

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """Task -> file_id -> a fresh download_url (links expire after hours) -> bytes."""
        video = await self._query(video_id, key, ctx)
        raw = video.raw if isinstance(video.raw, Mapping) else {}
        file_id = raw.get("file_id")
        if video.status != "completed" or not file_id:
            raise self.bad_response(
                f"MiniMax task {video_id} has no video file (status {raw.get('status')}).", raw
            )
        query = {"file_id": str(file_id)}
        group = key.extra.get("group_id")
        if group:
            query["GroupId"] = str(group)
        _, body, _ = await self.request(
            "GET",
            f"{self._base(key)}/v1/files/retrieve",
            headers=self._headers(key),
            params=query,
            ctx=ctx,
        )
        file = self._checked(body).get("file")
        url = file.get("download_url") if isinstance(file, Mapping) else None
        if not isinstance(url, str) or not url:
            raise self.bad_response(f"MiniMax gave no download_url for file {file_id}.", body)
        return await self.stream(url, content_type="video/mp4", ctx=ctx)


def _error_number(body: Any) -> tuple[int | None, str]:
    """(error number, message) from `base_resp` or the `{"error": {...}}` envelope."""
    if not isinstance(body, Mapping):
        return None, ""
    base = body.get("base_resp")
    if isinstance(base, Mapping):
        return int_or_none(base.get("status_code")), str(base.get("status_msg") or "")
    err = body.get("error")
    if isinstance(err, Mapping):
        message = str(err.get("message") or "")
        head, _, tail = message.rstrip().rstrip(")").rpartition("(")
        number = int_or_none(tail)
        return number, (head.strip() if number is not None else message)
    return None, ""
