"""`dashscope`: Alibaba Cloud Model Studio (DashScope) Wan video models, 2.6 to 3.0.

One endpoint for every model: `POST /api/v1/services/aigc/video-generation/video-synthesis`
with `X-DashScope-Async: enable` (without it DashScope refuses: "current user api does not
support synchronous calls") and `{"model", "input": {...}, "parameters": {...}}` ->
`{"output": {"task_id", "task_status": "PENDING"}, "request_id"}`; then
`GET /api/v1/tasks/{task_id}` -> `output.task_status` PENDING|RUNNING|SUCCEEDED|FAILED|
CANCELED|UNKNOWN, `output.video_url` (valid 24 h, fetched without the key), `output.code`/
`message` on failure. A task id is valid for 24 h: past that (or for an id DashScope never
issued) the task reads UNKNOWN, which the gateway records as failed/expired.

Two input shapes (see docs/providers/dashscope.md for sources):
- Wan 2.6 (`wan2.6-t2v|i2v|i2v-flash|r2v|r2v-flash`): text-to-video takes
  `parameters.size` as `W*H`; image-to-video `input.img_url` and `parameters.resolution`
  (720P|1080P); reference-to-video `input.reference_urls` (up to 5) and `size`.
- Wan 2.7 and 3.0 (`wan2.7-t2v|i2v|r2v|videoedit`, `wan3.0-video*`): every medium rides in
  `input.media[]` as `{"type", "url"}` (first_frame, last_frame, first_clip,
  reference_image, video), the shape as `parameters.resolution` + `parameters.ratio`.
  `wan2.7-videoedit` is the gateway's EDIT (`media` `video` = the source URL, plus up to 4
  reference images); EXTEND is `wan2.7-i2v` continuing a `first_clip`.

Regions: Singapore `dashscope-intl.aliyuncs.com` (default), Beijing `dashscope.aliyuncs.com`,
Virginia `dashscope-us.aliyuncs.com`; a key and its models belong to one region, chosen with
`options.region` / the key's `extra.region` or a base_url. No cancel or delete is verified,
so none is declared.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
    Operation,
    Prepared,
    Status,
    UpstreamVideo,
)
from .failures import not_ready
from .http import HttpProvider
from .media import ImageRules, reference_image
from .normalised import (
    DERIVED_MESSAGE,
    agreeing,
    image_url,
    merged,
    reference_stills,
    refuse_fps,
    region_root,
    regional_base,
    source_url,
)
from .params import ExtraKind, check_prompt_length, coerce_extras, refuse_reserved
from .specs import ModelSpec

VENDOR = "DashScope"
INTL = "https://dashscope-intl.aliyuncs.com"
REGIONS: dict[str, str] = {
    "singapore": INTL,
    "ap-southeast-1": INTL,
    "intl": INTL,
    "beijing": "https://dashscope.aliyuncs.com",
    "cn-beijing": "https://dashscope.aliyuncs.com",
    "virginia": "https://dashscope-us.aliyuncs.com",
    "us-east-1": "https://dashscope-us.aliyuncs.com",
}
CREATE_PATH = "/api/v1/services/aigc/video-generation/video-synthesis"
TASK_PATH = "/api/v1/tasks/"
ASYNC = {"X-DashScope-Async": "enable"}
URL_TTL_SECONDS = 24 * 3600  # "video_url is valid for 24 hours"
MAX_PROMPT = 5000  # Wan 2.7 (2.6 truncates beyond 1500 rather than refusing)

STATUS_MAP: dict[str, Status] = {
    "PENDING": "queued",
    "RUNNING": "in_progress",
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "CANCELED": "failed",
    "UNKNOWN": "failed",
}
# Ended without an `output.code` of DashScope's own -> the failure recorded.
STATUS_FAILURES: dict[str, dict[str, str]] = {
    "CANCELED": {"code": Failure.CANCELLED, "message": "The task was cancelled on DashScope."},
    "UNKNOWN": {
        "code": Failure.EXPIRED,
        "message": "DashScope no longer knows the task: task ids are valid for 24 hours.",
    },
}
UNEXPLAINED = {"code": Failure.UNKNOWN, "message": "The DashScope task failed (no reason given)."}
# `output.code` of a FAILED task (the part before any `.`) -> canonical failure.
FAILURE_MAP: dict[str, str] = {
    "DataInspectionFailed": Failure.MODERATION,
    "IPInfringementSuspect": Failure.MODERATION,
    "InternalError": Failure.INTERNAL,
    "InvalidParameter": Failure.INVALID,
    "InvalidURL": Failure.INVALID,
}
# DashScope's error `code` on a non-2xx answer -> the gateway's `error.code`.
ERROR_CODES: dict[str, str] = {
    "InvalidApiKey": "invalid_api_key",
    "Arrearage": "insufficient_balance",
    "AccessDenied": "access_denied",
    "DataInspectionFailed": "moderation_blocked",
    "InvalidParameter": "invalid_parameter",
    "Throttling": "rate_limit_exceeded",
    "InternalError": "upstream_internal_error",
}

RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1", "4:3", "3:4")
# (tier, ratio) -> output pixels, from the Wan 2.6 r2v size table; 2.6 t2v/r2v take them as
# `parameters.size` ("1280*720"), and any model accepts the OpenAI spelling as `size`.
PIXELS: dict[tuple[str, str], str] = {
    ("720p", "16:9"): "1280x720",
    ("720p", "9:16"): "720x1280",
    ("720p", "1:1"): "960x960",
    ("720p", "4:3"): "1088x832",
    ("720p", "3:4"): "832x1088",
    ("1080p", "16:9"): "1920x1080",
    ("1080p", "9:16"): "1080x1920",
    ("1080p", "1:1"): "1440x1440",
    ("1080p", "4:3"): "1632x1248",
    ("1080p", "3:4"): "1248x1632",
}
SIZE_TIERS: dict[str, tuple[str, str]] = {size: tier for tier, size in PIXELS.items()}
SIZES = tuple(PIXELS.values())
HD = ("720p", "1080p")


def _wan(**over: Any) -> ModelSpec:
    """A Wan spec: what every Wan model shares (negative prompt, seed, sizes, sound)."""
    base: dict[str, Any] = {
        "resolutions": HD,
        "aspect_ratios": RATIOS,
        "sizes": SIZES,
        "audio": True,
        "audio_default": True,
        "negative_prompt": True,
        "seed": True,
        "min_seconds": 2,
        "max_seconds": 15,
    }
    return ModelSpec(**{**base, **over})


MODELS: dict[str, ModelSpec] = {
    "wan2.6-t2v*": _wan(),
    "wan2.6-i2v*": _wan(image_input=True),
    "wan2.6-r2v*": _wan(max_reference_images=5, max_seconds=10),
    "wan2.7-t2v*": _wan(),
    "wan2.7-i2v*": _wan(
        operations=frozenset({"create", "extend"}),
        image_input=True,
        last_frame=True,
        max_extend_seconds=15,
    ),
    "wan2.7-r2v*": _wan(image_input=True, max_reference_images=5),
    "wan2.7-videoedit*": _wan(
        operations=frozenset({"edit"}), max_reference_images=4, max_seconds=10
    ),
    # Wan 3.0 (invitation beta): all-in-one model; limits inferred from integrators.
    "wan3.0-video*": _wan(
        resolutions=("480p", *HD),
        image_input=True,
        last_frame=True,
        max_reference_images=5,
        max_seconds=30,
    ),
}
MODEL_RE = re.compile(r"^wan(\d+)\.(\d+)-(t2v|i2v|r2v|videoedit|video)\b")


@dataclass(frozen=True)
class Wire:
    """Where one family puts what: `pixels` sends `parameters.size` (`W*H`), otherwise
    `resolution` (+ `ratio` where `ratio`); `frame` / `refs` name the input field of the
    first frame / references ("media" for `input.media[]`); `needs` is what must be given
    ("frame", "refs", "source"); `source` is the media type of an edit/extend source."""

    pixels: bool = False
    ratio: bool = True
    frame: str | None = None
    refs: str | None = None
    needs: str | None = None
    source: str | None = None


WIRES: dict[tuple[str, str], Wire] = {
    ("2.6", "t2v"): Wire(pixels=True),
    ("2.6", "i2v"): Wire(ratio=False, frame="img_url", needs="frame"),
    ("2.6", "r2v"): Wire(pixels=True, refs="reference_urls", needs="refs"),
    ("media", "t2v"): Wire(),
    ("media", "i2v"): Wire(ratio=False, frame="media", needs="frame", source="first_clip"),
    ("media", "r2v"): Wire(frame="media", refs="media", needs="refs"),
    ("media", "videoedit"): Wire(refs="media", needs="source", source="video"),
    ("media", "video"): Wire(frame="media", refs="media"),
}
# Provider parameters a client may pass (extra_body), with their JSON kinds; `audio_url`
# goes into `input`, the rest into `parameters`.
EXTRA_KINDS: dict[str, ExtraKind] = {
    "prompt_extend": bool,
    "shot_type": str,
    "watermark": bool,
    "audio": bool,
    "seed": int,
    "audio_setting": str,
    "audio_url": str,
    "negative_prompt": str,
}
INPUT_EXTRAS = frozenset({"audio_url", "negative_prompt"})
DERIVED = {
    "model": "model",
    "input": "prompt",
    "media": "input_reference",
    "img_url": "input_reference",
    "reference_urls": "reference_images",
    "size": "size",
    "resolution": "size",
    "ratio": "size",
    "duration": "seconds",
}
# Wan first frames and references: JPEG/PNG/BMP/WEBP up to 10 MB (2.6) / 20 MB (2.7), sides
# from 240 px (2.7 r2v; 2.6 i2v asks 360), aspect up to 1:8 (2.7).
IMAGE_RULES = ImageRules(
    label="DashScope Wan",
    types=frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_bytes=10 * 1024 * 1024,
    min_side=240,
    max_ratio=8.0,
)


def wire_for(model: str) -> Wire:
    """The family of a Wan model name; a 400 for a name this adapter cannot place."""
    match = MODEL_RE.match(model)
    if match is not None:
        major, minor, task = int(match.group(1)), int(match.group(2)), match.group(3)
        generation = "media" if (major, minor) >= (2, 7) else f"{major}.{minor}"
        wire = WIRES.get((generation, task))
        if wire is not None:
            return wire
    raise bad_request(
        "unsupported_model",
        f"{model!r} is not a DashScope Wan video model this gateway speaks; use one of "
        f"{', '.join(p.rstrip('*') for p in MODELS)} (or a dated snapshot of one).",
        "model",
    )


class DashScopeProvider(HttpProvider):
    type_name = "dashscope"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.IMAGE_INPUT,
            Capability.EDIT,
            Capability.EXTEND,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    default_poll_after_ms = 15000  # DashScope suggests polling about every 15 s
    default_base_url = INTL
    models = MODELS

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        for region in [config.options.get("region"), *(k.extra.get("region") for k in config.keys)]:
            if region is not None:
                region_root(str(region), REGIONS)  # a typo fails at start-up

    def _base(self, key: UpstreamKey) -> str:
        return regional_base(key, self.config.base_url, self.config.options, REGIONS, INTL)

    # -- request building ---------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The body for one Wan family; every refusal here costs no upstream call."""
        wire = wire_for(params.model)
        check_prompt_length(params.prompt, MAX_PROMPT, VENDOR)
        refuse_fps(params, VENDOR)
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        inputs: dict[str, Any] = {"prompt": params.prompt}
        negative = merged("negative_prompt", params.negative_prompt, extra)
        if negative is not None:
            inputs["negative_prompt"] = negative
        parameters: dict[str, Any] = {}
        for name, value in (
            ("audio", merged("generate_audio", params.generate_audio, extra, "audio")),
            ("seed", merged("seed", params.seed, extra)),
        ):
            if value is not None:
                parameters[name] = value
        size = self._shape(params, wire, parameters)
        seconds = self._duration(params, parameters)
        media, shown_media = self._media(params, wire, inputs)
        shown_inputs = dict(inputs)
        for name in [n for n in extra if n in INPUT_EXTRAS]:
            inputs[name] = shown_inputs[name] = extra.pop(name)
        parameters.update(extra)
        if media:
            inputs["media"], shown_inputs["media"] = media, shown_media
        body = {"model": params.model, "input": inputs, "parameters": parameters}
        shown = {"model": params.model, "input": shown_inputs, "parameters": parameters}
        return Prepared(params, body, shown, size=size, seconds=seconds)

    @staticmethod
    def _shape(params: CreateParams, wire: Wire, parameters: dict[str, Any]) -> str | None:
        """`size` (2.6 t2v/r2v) or `resolution` (+ `ratio`) from the request; returns the
        pixels the task renders where they are known."""
        tier, ratio = params.resolution, params.aspect_ratio
        if params.size is not None:
            known = SIZE_TIERS.get(params.size)
            if known is None:
                raise bad_request(
                    "invalid_size",
                    f"{VENDOR} renders sizes {', '.join(SIZES)}, not {params.size}.",
                    "size",
                )
            tier, ratio = agreeing(params, (tier, ratio), known)
        if wire.pixels:
            tier, ratio = tier or "1080p", ratio or "16:9"
            pixels = PIXELS.get((tier, ratio))
            if pixels is None:
                raise bad_request(
                    "invalid_resolution",
                    f"{params.model} renders {', '.join(HD)}, not {tier}.",
                    "resolution",
                )
            parameters["size"] = pixels.replace("x", "*")
            return pixels
        if tier is not None:
            parameters["resolution"] = tier.upper()
        if not wire.ratio:
            if params.aspect_ratio is not None:
                raise bad_request(
                    "invalid_aspect_ratio",
                    f"{params.model} takes its aspect ratio from the input image.",
                    "aspect_ratio",
                )
            return None  # the image (or clip) decides the shape
        if ratio is not None:
            parameters["ratio"] = ratio
        return PIXELS.get((tier, ratio)) if tier and ratio else None

    @staticmethod
    def _duration(params: CreateParams, parameters: dict[str, Any]) -> str | None:
        """`parameters.duration`; an edit without seconds keeps its source's length."""
        if params.seconds is not None:
            duration = whole_number(params.seconds, 3)
            if duration is None:
                raise bad_request(
                    "invalid_seconds",
                    f"{VENDOR} renders whole seconds, not {params.seconds}.",
                    "seconds",
                )
            parameters["duration"] = duration
            return str(duration)
        if params.operation is Operation.EDIT:
            source = params.source
            return None if source is None or source.seconds is None else f"{source.seconds:g}"
        return "5"  # every Wan model's default duration

    @staticmethod
    def _media(
        params: CreateParams, wire: Wire, inputs: dict[str, Any]
    ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """The first frame, last frame, references and source, placed where `wire` says;
        returns `input.media` and its `raw_request` form (images summarised)."""
        media: list[dict[str, str]] = []
        shown: list[dict[str, str]] = []
        if params.operation is not Operation.CREATE:
            if wire.source is None:
                raise bad_request(
                    "unsupported_operation",
                    f"{params.model} does not {params.operation.value} videos.",
                    "model",
                )
            if wire.source == "first_clip" and params.input_reference is not None:
                raise bad_request(
                    "invalid_input_reference",
                    "An extension continues its source clip; it takes no first frame.",
                    "input_reference",
                )
            entry = {"type": wire.source, "url": source_url(params, VENDOR)}
            media.append(entry)
            shown.append(entry)
        frames = [("first_frame", params.input_reference), ("last_frame", params.last_frame)]
        for kind, ref in frames:
            if ref is None:
                continue
            image = reference_image(ref, IMAGE_RULES, "input_reference")
            if wire.frame == "img_url":
                inputs["img_url"] = image_url(image)
                continue
            media.append({"type": kind, "url": image_url(image)})
            shown.append({"type": kind, "url": image.describe()})
        refs = reference_stills(params, IMAGE_RULES)
        if wire.refs == "reference_urls" and refs:
            inputs["reference_urls"] = [image_url(r) for r in refs]
        elif refs:
            media.extend({"type": "reference_image", "url": image_url(r)} for r in refs)
            shown.extend({"type": "reference_image", "url": r.describe()} for r in refs)
        given = {
            "frame": params.input_reference is not None or params.operation is Operation.EXTEND,
            "refs": bool(refs),
            "source": params.source is not None,
        }
        if wire.needs is not None and not given[wire.needs]:
            what = {"frame": "an input_reference", "refs": "reference_images", "source": "a source"}
            raise bad_request(
                "missing_input_reference",
                f"{params.model} needs {what[wire.needs]}.",
                "reference_images" if wire.needs == "refs" else "input_reference",
            )
        return media, shown

    # -- answers -------------------------------------------------------------------------
    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """`{"request_id", "code": "InvalidApiKey", "message"}` -> our code and message."""
        if isinstance(body, Mapping) and isinstance(body.get("code"), str):
            code = str(body["code"])
            ours = ERROR_CODES.get(code.split(".", 1)[0], code)
            return f"{body.get('message') or code} ({VENDOR} code {code})", ours, None, None
        return super().error_message(status, body)

    def to_video(self, body: Any) -> UpstreamVideo:
        output = self._output(body)
        raw_status = str(output.get("task_status"))
        status = STATUS_MAP.get(raw_status, "in_progress")
        now = int(time.time())
        terminal = status in TERMINAL
        error = None
        if status == "failed":
            code = output.get("code")
            if isinstance(code, str) and code:
                error = {
                    "code": FAILURE_MAP.get(code.split(".", 1)[0], Failure.UNKNOWN),
                    "message": f"{output.get('message') or 'no reason given'} ({code})",
                }
            else:
                error = dict(STATUS_FAILURES.get(raw_status) or UNEXPLAINED)
        return UpstreamVideo(
            id=str(output["task_id"]),
            status=status,
            progress=100 if terminal else 0,  # DashScope reports no percentage
            completed_at=now if terminal else None,
            expires_at=now + URL_TTL_SECONDS if status == "completed" else None,
            error=error,
            raw=body,
        )

    def _output(self, body: Any) -> Mapping[str, Any]:
        obj = self.expect_object(body, "answered without a JSON object", id_field=None)
        output = obj.get("output")
        if not isinstance(output, Mapping) or not isinstance(output.get("task_id"), str):
            raise self.bad_response(f"Provider {self.id!r} answered without a task.", body)
        return output

    # -- operations ----------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        _, body, _ = await self.request(
            "POST",
            self._base(key) + CREATE_PATH,
            headers={**self._headers(key), **ASYNC},
            json=prepared.body,
            ctx=ctx,
            shown=prepared.shown,
        )
        return prepared.accepted(str(self._output(body)["task_id"]), body)

    async def _task(self, task_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", self._base(key) + TASK_PATH + task_id, key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._task(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """`output.video_url`, read fresh from the task and fetched without the key."""
        body = await self._task(video_id, key, ctx)
        video = self.to_video(body)
        if video.status != "completed":
            raise not_ready(self.id, f"DashScope task {video_id!r} is {video.status}.")
        url = self._output(body).get("video_url")
        if not isinstance(url, str) or not url:
            raise self.bad_response(f"DashScope task {video_id!r} has no video_url.", body)
        return await self.stream_asset(url, "video/mp4", ctx=ctx)
