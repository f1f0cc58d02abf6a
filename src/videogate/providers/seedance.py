"""`seedance`: ByteDance Seedance through BytePlus ModelArk (or Volcengine Ark in China).

A job is an Ark content-generation task (wire format as the official `volcengine-python-sdk`
and `byteplus-python-sdk-v2` send it, `content_generation.tasks`):

- `POST /contents/generations/tasks` `{"model", "content": [text, image_url?], "ratio",
  "resolution", "duration", "return_last_frame", ...}` -> `{"id": "cgt-..."}`. Parameters go
  as top-level fields; the older `--ratio 16:9 --dur 5` flags inside the text are not used.
- `GET .../tasks/{id}`: `status` queued|running|succeeded|failed|cancelled|expired,
  `content.video_url` (+ `last_frame_url` when asked for), `error{code,message}`, unix
  `created_at`/`updated_at`. `GET .../tasks?page_num&page_size` -> `{"total", "items"}`.
- `DELETE .../tasks/{id}` cancels a queued task or deletes a finished one's record; Ark
  refuses it for a running (or cancelled) task, so that deletion waits in the outbox.

OpenAI's `size` becomes `ratio` + `resolution` from Ark's published pixel table and
`seconds` becomes `duration`, both checked per model before any upstream call. Video and
last-frame URLs are pre-signed object-storage links: they are fetched without the Ark key.
Options: `return_last_frame` (default true: the last frame is served as the thumbnail, a
PNG) and `video_url_ttl_seconds` (how long Ark's links live, default 24 h).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import UpstreamKey
from ..errors import UpstreamError, bad_request, whole_number
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    Prepared,
    UpstreamVideo,
)
from .convert import int_or_none, parse_size
from .failures import not_ready, variant_missing
from .http import HttpProvider
from .media import ImageRules, ReferenceImage, reference_image
from .params import ExtraKind, coerce_extras, refuse_reserved

DEFAULT_BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
TASKS_PATH = "/contents/generations/tasks"
DEFAULT_URL_TTL_SECONDS = 24 * 3600  # Ark: "video_url is valid for 24 hours"

# Ark task status -> OpenAI status.
STATUS_MAP: dict[str, str] = {
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "expired": "failed",
}
# Statuses that end a job without an `error` of Ark's own -> the failure it reports.
STATUS_FAILURES: dict[str, dict[str, str]] = {
    "cancelled": {"code": Failure.CANCELLED, "message": "The task was cancelled on Ark."},
    "expired": {
        "code": Failure.EXPIRED,
        "message": "Ark dropped the task: it did not finish within execution_expires_after.",
    },
}
# Ark `error.code` (the part before any `.PolicyViolation`-style suffix) -> canonical code.
FAILURE_MAP: dict[str, str] = {
    "SensitiveContentDetected": Failure.MODERATION,
    "InputTextSensitiveContentDetected": Failure.MODERATION,
    "InputImageSensitiveContentDetected": Failure.MODERATION,
    "InputVideoSensitiveContentDetected": Failure.MODERATION,
    "InputAudioSensitiveContentDetected": Failure.MODERATION,
    "OutputTextSensitiveContentDetected": Failure.MODERATION,
    "OutputImageSensitiveContentDetected": Failure.MODERATION,
    "OutputVideoSensitiveContentDetected": Failure.MODERATION,
    "OutputAudioSensitiveContentDetected": Failure.MODERATION,
    "InputTextRiskDetection": Failure.MODERATION,
    "InputImageRiskDetection": Failure.MODERATION,
    "OutputTextRiskDetection": Failure.MODERATION,
    "OutputImageRiskDetection": Failure.MODERATION,
    "InternalServiceError": Failure.INTERNAL,
    "InternalError": Failure.INTERNAL,
    "ServerOverloaded": Failure.INTERNAL,
    "InvalidParameter": Failure.INVALID,
    "MissingParameter": Failure.INVALID,
}
# Which task field each gateway variant is served from.
VARIANT_FIELDS: dict[str, str] = {"video": "video_url", "thumbnail": "last_frame_url"}
# Used when the object store labels a file generically; Ark documents the last frame as PNG.
VARIANT_FALLBACK_TYPES: dict[str, str] = {"video": "video/mp4", "thumbnail": "image/png"}

RATIOS: tuple[str, ...] = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
EXTRA_RATIOS: tuple[str, ...] = ("adaptive",)  # follow the input image; no WxH equivalent
# Ark's published output pixels per (resolution, ratio): "v1" for the Seedance 1.0 series,
# "v2" for 1.5 pro and 2.0. Either spelling of a size is accepted for any model.
PIXELS: dict[str, dict[tuple[str, str], str]] = {
    "v1": {
        ("480p", "16:9"): "864x480",
        ("480p", "4:3"): "736x544",
        ("480p", "1:1"): "640x640",
        ("480p", "3:4"): "544x736",
        ("480p", "9:16"): "480x864",
        ("480p", "21:9"): "960x416",
        ("720p", "16:9"): "1248x704",
        ("720p", "4:3"): "1120x832",
        ("720p", "1:1"): "960x960",
        ("720p", "3:4"): "832x1120",
        ("720p", "9:16"): "704x1248",
        ("720p", "21:9"): "1504x640",
        ("1080p", "16:9"): "1920x1088",
        ("1080p", "4:3"): "1664x1248",
        ("1080p", "1:1"): "1440x1440",
        ("1080p", "3:4"): "1248x1664",
        ("1080p", "9:16"): "1088x1920",
        ("1080p", "21:9"): "2176x928",
    },
    "v2": {
        ("480p", "16:9"): "864x496",
        ("480p", "4:3"): "752x560",
        ("480p", "1:1"): "640x640",
        ("480p", "3:4"): "560x752",
        ("480p", "9:16"): "496x864",
        ("480p", "21:9"): "992x432",
        ("720p", "16:9"): "1280x720",
        ("720p", "4:3"): "1112x834",
        ("720p", "1:1"): "960x960",
        ("720p", "3:4"): "834x1112",
        ("720p", "9:16"): "720x1280",
        ("720p", "21:9"): "1470x630",
        ("1080p", "16:9"): "1920x1080",
        ("1080p", "4:3"): "1664x1248",
        ("1080p", "1:1"): "1440x1440",
        ("1080p", "3:4"): "1248x1664",
        ("1080p", "9:16"): "1080x1920",
        ("1080p", "21:9"): "2206x946",
    },
}
SIZE_TIERS: dict[str, tuple[str, str]] = {
    size: tier for table in PIXELS.values() for tier, size in table.items()
}
ALL_RESOLUTIONS: tuple[str, ...] = ("480p", "720p", "1080p")


@dataclass(frozen=True)
class ModelSpec:
    """What one Seedance family accepts. `image`: optional, required or forbidden."""

    resolutions: tuple[str, ...]
    min_seconds: int
    max_seconds: int
    pixels: str
    image: str = "optional"


# Model family (name without `doubao-`/`dreamina-` prefix and date suffix) -> limits.
MODEL_SPECS: dict[str, ModelSpec] = {
    "seedance-1-0-pro": ModelSpec(ALL_RESOLUTIONS, 2, 12, "v1"),
    "seedance-1-0-pro-fast": ModelSpec(ALL_RESOLUTIONS, 2, 12, "v1"),
    "seedance-1-0-lite-t2v": ModelSpec(ALL_RESOLUTIONS, 2, 12, "v1", image="forbidden"),
    "seedance-1-0-lite-i2v": ModelSpec(ALL_RESOLUTIONS, 2, 12, "v1", image="required"),
    "seedance-1-5-pro": ModelSpec(ALL_RESOLUTIONS, 4, 12, "v2"),
    "seedance-2-0": ModelSpec(ALL_RESOLUTIONS, 4, 15, "v2"),
    "seedance-2-0-fast": ModelSpec(("480p", "720p"), 4, 15, "v2"),
}
# Endpoint ids (`ep-...`) and unknown models: the widest documented limits; Ark judges.
ANY_MODEL = ModelSpec(ALL_RESOLUTIONS, 2, 15, "v2")
FAMILY_RE = re.compile(r"^(?:doubao-|dreamina-)?(.+?)(?:-\d{6})?$")

# Ark create parameters a client may pass (extra_body) and their JSON kinds.
EXTRA_KINDS: dict[str, ExtraKind] = {
    "ratio": str,
    "resolution": str,
    "duration": int,
    "frames": int,
    "seed": int,
    "camera_fixed": bool,
    "watermark": bool,
    "generate_audio": bool,
    "return_last_frame": bool,
    "draft": bool,
    "callback_url": str,
    "service_tier": str,
    "execution_expires_after": int,
    "priority": int,
    "safety_identifier": str,
    "tools": list,
}
# Body fields the gateway sets from model, prompt and input_reference (checked in this order).
RESERVED_EXTRAS: tuple[str, ...] = ("content", "model")
RESERVED_MESSAGE = "{name!r} is set by the gateway from model, prompt and input_reference."
# Ark's documented first-frame limits (it also takes BMP/TIFF/GIF, which uploads here cannot be).
IMAGE_RULES = ImageRules(
    label="Seedance",
    types=frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_bytes=30 * 1024 * 1024,
    min_side=300,
    max_ratio=2.5,
)


def model_spec(model: str) -> ModelSpec | None:
    """The limits of a known Seedance model (any region's spelling), else None."""
    match = FAMILY_RE.match(model.strip().lower())
    return MODEL_SPECS.get(match.group(1)) if match else None


class SeedanceProvider(HttpProvider):
    type_name = "seedance"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.DELETE,
            Capability.CANCEL,
            Capability.IMAGE_INPUT,
            Capability.THUMBNAIL,
        }
    )
    default_poll_after_ms = 5000

    default_base_url = DEFAULT_BASE_URL

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """Ark's `{"error": {code, message, param, type}}`; it sends `param: ""` for none."""
        message, code, etype, param = super().error_message(status, body)
        return message, code, etype, param or None

    # -- building the create body ---------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The body to send and the one to show in raw_request, or a 400 for what Ark
        would refuse."""
        spec = model_spec(params.model)
        limits = spec or ANY_MODEL
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, RESERVED_EXTRAS, RESERVED_MESSAGE)
        body: dict[str, Any] = {"model": params.model}
        body.update(self._tier(params, limits, extra))
        body.update(self._length(params, limits, extra))
        if "return_last_frame" not in extra and self.config.options.get("return_last_frame", True):
            body["return_last_frame"] = True
        for name, value in extra.items():
            body.setdefault(name, value)
        content: list[dict[str, Any]] = [{"type": "text", "text": params.prompt}]
        shown_content = list(content)
        image = self._first_frame(params, spec)
        if image is not None:
            url = image.url or image.data_url()
            item = {"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}
            content.append(item)
            shown_content.append({**item, "image_url": {"url": image.describe()}})
        seconds = None if "duration" not in body else str(body["duration"])
        return Prepared(
            params,
            {**body, "content": content},
            {**body, "content": shown_content},
            size=params.size,
            seconds=seconds,
        )

    def _tier(self, params: CreateParams, spec: ModelSpec, extra: dict[str, Any]) -> dict[str, str]:
        """`ratio` and `resolution` from OpenAI's size (or given directly), checked."""
        if params.size is not None:
            clash = sorted({"ratio", "resolution"} & extra.keys())
            if clash:
                raise bad_request(
                    "invalid_parameter",
                    f"Give either size or {' and '.join(clash)}, not both.",
                    clash[0],
                )
            tier = SIZE_TIERS.get(params.size) if parse_size(params.size) else None
            if tier is None or tier[0] not in spec.resolutions:
                raise bad_request(
                    "invalid_size",
                    f"size {params.size!r} is not available for {params.model!r}; use one of "
                    f"{', '.join(self._sizes(spec))} (or ratio/resolution parameters).",
                    "size",
                )
            return {"resolution": tier[0], "ratio": tier[1]}
        ratio, resolution = extra.get("ratio"), extra.get("resolution")
        if ratio is not None and ratio not in RATIOS + EXTRA_RATIOS:
            raise bad_request(
                "invalid_ratio",
                f"ratio {ratio!r} is not one of {', '.join(RATIOS + EXTRA_RATIOS)}.",
                "ratio",
            )
        if resolution is not None and resolution not in spec.resolutions:
            raise bad_request(
                "invalid_resolution",
                f"resolution {resolution!r} is not available for {params.model!r}; use one "
                f"of {', '.join(spec.resolutions)}.",
                "resolution",
            )
        return {}

    @staticmethod
    def _sizes(spec: ModelSpec) -> list[str]:
        table = PIXELS[spec.pixels]
        return [table[(res, ratio)] for res in spec.resolutions for ratio in RATIOS]

    @staticmethod
    def _length(params: CreateParams, spec: ModelSpec, extra: dict[str, Any]) -> dict[str, int]:
        """`duration` from OpenAI's seconds (or given directly), checked against the model."""
        given = [n for n in ("duration", "frames") if n in extra]
        if params.seconds is not None and given:
            raise bad_request(
                "invalid_parameter", f"Give either seconds or {given[0]}, not both.", given[0]
            )
        if len(given) == 2:
            raise bad_request(
                "invalid_parameter", "Give either duration or frames, not both.", "frames"
            )
        seconds = params.seconds if params.seconds is not None else extra.get("duration")
        if seconds is None:
            return {}
        param = "seconds" if params.seconds is not None else "duration"
        value = seconds if type(seconds) is int else whole_number(str(seconds))
        if value is None or not spec.min_seconds <= value <= spec.max_seconds:
            raise bad_request(
                "invalid_seconds",
                f"{param} {seconds!r} is not available for {params.model!r}; use a whole "
                f"number from {spec.min_seconds} to {spec.max_seconds}.",
                param,
            )
        return {"duration": value}

    @staticmethod
    def _first_frame(params: CreateParams, spec: ModelSpec | None) -> ReferenceImage | None:
        """The first-frame image: Ark fetches http(s) URLs and takes bytes as a data: URL."""
        ref = params.input_reference
        mode = spec.image if spec else "optional"
        if ref is None:
            if mode == "required":
                raise bad_request(
                    "input_reference_required",
                    f"{params.model!r} animates an image: give an input_reference.",
                    "input_reference",
                )
            return None
        if mode == "forbidden":
            raise bad_request(
                "unsupported_input_reference",
                f"{params.model!r} is text-to-video only; use an i2v or pro model for images.",
                "input_reference",
            )
        return reference_image(ref, IMAGE_RULES)

    # -- mapping answers ------------------------------------------------------------------
    def to_video(self, task: Any) -> UpstreamVideo:
        task = self.expect_object(task, "answered without a task object")
        raw_status = str(task.get("status"))
        status = STATUS_MAP.get(raw_status, "in_progress")
        updated = int_or_none(task.get("updated_at"))
        terminal = status in TERMINAL
        ttl = int(self.config.options.get("video_url_ttl_seconds", DEFAULT_URL_TTL_SECONDS))
        return UpstreamVideo(
            id=task["id"],
            status=status,  # type: ignore[arg-type]
            progress=100 if terminal else 0,  # Ark reports no progress while it works
            created_at=int_or_none(task.get("created_at")) or int(time.time()),
            completed_at=updated if terminal else None,
            expires_at=updated + ttl if status == "completed" and updated else None,
            model=task.get("model"),
            size=self._size_of(task),
            seconds=None if task.get("duration") is None else str(task["duration"]),
            error=self._failure(raw_status, task.get("error")) if status == "failed" else None,
            raw=task,
        )

    @staticmethod
    def _size_of(task: Mapping[str, Any]) -> str | None:
        spec = model_spec(str(task.get("model") or "")) or ANY_MODEL
        return PIXELS[spec.pixels].get((str(task.get("resolution")), str(task.get("ratio"))))

    @staticmethod
    def _failure(raw_status: str, error: Any) -> dict[str, str]:
        if isinstance(error, Mapping) and error.get("code"):
            code = str(error["code"])
            message = str(error.get("message") or "")
            canonical = FAILURE_MAP.get(code.split(".", 1)[0], Failure.UNKNOWN)
            return {"code": canonical, "message": f"{message} ({code})".strip()}
        return dict(
            STATUS_FAILURES.get(
                raw_status, {"code": Failure.UNKNOWN, "message": "The Ark task failed."}
            )
        )

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + TASKS_PATH
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        task = self.expect_object(body, "answered the create without a task id")
        return prepared.accepted(task["id"], body)

    async def _task(self, task_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}{TASKS_PATH}/{task_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._task(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        task = await self._task(video_id, key, ctx)
        video = self.to_video(task)
        if video.status != "completed":
            raise not_ready(
                self.id,
                f"Task {video_id!r} is {task.get('status')}; content exists once it succeeded.",
            )
        field = VARIANT_FIELDS.get(variant)
        found = task.get("content") if isinstance(task.get("content"), Mapping) else {}
        url = found.get(field) if field else None
        if not isinstance(url, str) or not url:
            if variant == "video":
                raise self.bad_response(
                    f"Provider {self.id!r} reported success without a video_url.", task
                )
            raise variant_missing(
                self.id,
                f"Task {video_id!r} has no {variant}: Ark returns the last frame only for "
                "tasks created with return_last_frame.",
            )
        # A pre-signed object-storage link: the Ark key must not travel to that host.
        return await self.stream_asset(url, VARIANT_FALLBACK_TYPES[variant], ctx=ctx)

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        """Cancel (queued) or delete the record (ended); a running task must be waited out."""
        url = f"{self._base(key)}{TASKS_PATH}/{video_id}"
        try:
            _, body, _ = await self.request(
                "DELETE", url, headers=self._headers(key), expect_json=False, ctx=ctx
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone upstream")
            if exc.status not in (400, 409):
                raise
            return await self._refused_delete(video_id, key, ctx, exc)
        ctx.record(response=body)
        return DeleteResult(deleted=True, detail="cancelled if it was queued, else deleted")

    async def _refused_delete(
        self, video_id: str, key: UpstreamKey, ctx: CallContext, exc: UpstreamError
    ) -> DeleteResult:
        """Ark refuses DELETE for running and cancelled tasks; tell those apart by status."""
        try:
            task = await self._task(video_id, key, ctx)
        except UpstreamError as again:
            if again.status == 404:
                return DeleteResult(deleted=True, detail="already gone upstream")
            raise
        status = str(task.get("status")) if isinstance(task, Mapping) else ""
        if status in ("queued", "running"):
            return DeleteResult(deleted=False, pending=True, detail=f"{status}: {exc.message}")
        if status == "cancelled":
            return DeleteResult(
                deleted=True, cancelled=True, detail="cancelled; Ark removes it after 24 h"
            )
        raise exc
