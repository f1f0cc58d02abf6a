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

OpenAI's `size` (or `aspect_ratio` + `resolution`) becomes `ratio` + `resolution` from
Ark's published pixel table and `seconds` becomes `duration`, both checked per model before
any upstream call. Content items carry a `role`: `first_frame`/`last_frame` images, or up to
9 `reference_image`s (the two modes do not mix); Seedance 2.0 (and 2.0 fast / mini) also
takes `video_url` items with role `reference_video`, which is how Ark edits and extends a
video: there is no separate endpoint, the prompt says what to do with [Video 1]
(docs.byteplus.com/docs/ModelArk/2291680: "video generation, video editing, and video
extension"), so EDIT and EXTEND both send the source as the reference video *(inferred:
the mapping of the two operations onto one request shape)*. Ark bills by tokens: a
finished task reports `usage.completion_tokens` / `usage.total_tokens`, kept in
`UpstreamVideo.raw["usage"]` exactly as Ark sent it, and `completion_tokens` becomes
`UpstreamVideo.tokens`, which settlement prices. Video and
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
    Operation,
    Prepared,
    UpstreamVideo,
    without_normalised,
)
from .convert import int_or_none, parse_size
from .failures import not_ready, variant_missing
from .http import HttpProvider
from .media import ImageRules, reference_image
from .params import ExtraKind, coerce_extras, refuse_reserved
from .sources import source_uri
from .specs import ModelSpec

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
FPS = (24,)  # Ark renders 24 fps (`framespersecond` on every task)
MAX_REFERENCE_IMAGES = 9
MAX_EXTEND_SECONDS = 15  # an extension is one new 4-15 s clip


@dataclass(frozen=True)
class Family:
    """One Seedance family: its shared catalogue `spec`, which published pixel table its
    sizes come from ("v1" for the 1.0 series, "v2" for 1.5 and 2.0), and whether a first
    frame is optional, required or forbidden."""

    spec: ModelSpec
    pixels: str
    image: str = "optional"


def _family(
    resolutions: tuple[str, ...],
    min_seconds: int,
    max_seconds: int,
    pixels: str,
    image: str = "optional",
    **spec: Any,
) -> Family:
    sizes = tuple(
        dict.fromkeys(
            size
            for table in PIXELS.values()
            for (res, _), size in table.items()
            if res in resolutions
        )
    )
    return Family(
        ModelSpec(
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            sizes=sizes,
            resolutions=resolutions,
            aspect_ratios=RATIOS,
            fps=FPS,
            image_input=image != "forbidden",
            seed=True,
            **spec,
        ),
        pixels,
        image,
    )


_SEEDANCE_2: dict[str, Any] = {
    "operations": frozenset({"create", "edit", "extend"}),
    "audio": True,
    "audio_default": True,  # Ark: generate_audio defaults to true for 2.0
    "last_frame": True,
    "max_reference_images": MAX_REFERENCE_IMAGES,
    "max_extend_seconds": MAX_EXTEND_SECONDS,
}
# Model family (name without `doubao-`/`dreamina-` prefix and date suffix) -> limits.
# Seedance 2.5 is announced by ByteDance but its Ark model id and limits are not in the
# docs read here, so it has no entry: it passes through and Ark judges.
FAMILIES: dict[str, Family] = {
    "seedance-1-0-pro": _family(ALL_RESOLUTIONS, 2, 12, "v1", last_frame=True),
    "seedance-1-0-pro-fast": _family(ALL_RESOLUTIONS, 2, 12, "v1"),
    "seedance-1-0-lite-t2v": _family(ALL_RESOLUTIONS, 2, 12, "v1", image="forbidden"),
    "seedance-1-0-lite-i2v": _family(
        ALL_RESOLUTIONS, 2, 12, "v1", image="required", last_frame=True, max_reference_images=4
    ),
    "seedance-1-5-pro": _family(ALL_RESOLUTIONS, 4, 12, "v2", audio=True, last_frame=True),
    "seedance-2-0": _family(ALL_RESOLUTIONS, 4, 15, "v2", **_SEEDANCE_2),
    "seedance-2-0-fast": _family(("480p", "720p"), 4, 15, "v2", **_SEEDANCE_2),
    # inferred: Mini's tiers as Fast's (480p/720p); BytePlus lists it with 2.0's inputs.
    "seedance-2-0-mini": _family(("480p", "720p"), 4, 15, "v2", **_SEEDANCE_2),
}
# Endpoint ids (`ep-...`) and unknown models: the widest documented limits; Ark judges.
ANY_MODEL = _family(
    ALL_RESOLUTIONS,
    2,
    15,
    "v2",
    operations=frozenset({"create", "edit", "extend"}),
    audio=True,
    last_frame=True,
    max_reference_images=MAX_REFERENCE_IMAGES,
)
FAMILY_RE = re.compile(r"^(?:doubao-|dreamina-)?(.+?)(?:-\d{6})?$")
# The catalogue: `*<family>*` matches every regional spelling and dated release (the most
# specific pattern wins, so `seedance-2-0-fast-260128` is Fast, not 2.0).
MODELS: dict[str, ModelSpec] = {f"*{name}*": family.spec for name, family in FAMILIES.items()}

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
# Ark body field -> the normalised CreateParams field that sets it: giving both is ambiguous.
NORMALISED: dict[str, str] = {
    "seed": "seed",
    "generate_audio": "generate_audio",
    "ratio": "aspect_ratio",
    "resolution": "resolution",
}
# Ark's documented first-frame limits (it also takes BMP/TIFF/GIF, which uploads here cannot be).
IMAGE_RULES = ImageRules(
    label="Seedance",
    types=frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_bytes=30 * 1024 * 1024,
    min_side=300,
    max_ratio=2.5,
)


def family_of(model: str) -> Family | None:
    """The limits of a known Seedance model (any region's spelling), else None."""
    match = FAMILY_RE.match(model.strip().lower())
    return FAMILIES.get(match.group(1)) if match else None


def model_spec(model: str) -> ModelSpec | None:
    """The catalogue entry of a known Seedance model, else None."""
    family = family_of(model)
    return family.spec if family else None


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
            Capability.EDIT,
            Capability.EXTEND,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    models = MODELS
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
        family = family_of(params.model)
        limits = family or ANY_MODEL
        extra = coerce_extras(without_normalised(params.extra), EXTRA_KINDS)
        refuse_reserved(extra, RESERVED_EXTRAS, RESERVED_MESSAGE)
        for name, field_name in NORMALISED.items():
            if name in extra and getattr(params, field_name) is not None:
                raise bad_request(
                    "invalid_parameter",
                    f"{name!r} and {field_name!r} set the same thing; give only {field_name!r}.",
                    name,
                )
        body: dict[str, Any] = {"model": params.model}
        body.update(self._tier(params, limits, extra))
        body.update(self._length(params, limits, extra))
        if params.seed is not None:
            body["seed"] = params.seed
        if params.generate_audio is not None:
            body["generate_audio"] = params.generate_audio
        if "return_last_frame" not in extra and self.config.options.get("return_last_frame", True):
            body["return_last_frame"] = True
        for name, value in extra.items():
            body.setdefault(name, value)
        content: list[dict[str, Any]] = [{"type": "text", "text": params.prompt}]
        shown_content = list(content)
        for item, shown in self._media(params, family):
            content.append(item)
            shown_content.append(shown)
        seconds = None if "duration" not in body else str(body["duration"])
        size = params.size
        if size is None and "ratio" in body and "resolution" in body:
            size = PIXELS[limits.pixels].get((body["resolution"], body["ratio"]))
        return Prepared(
            params,
            {**body, "content": content},
            {**body, "content": shown_content},
            size=size,
            seconds=seconds,
        )

    def _tier(self, params: CreateParams, family: Family, extra: dict[str, Any]) -> dict[str, str]:
        """`ratio` and `resolution` from OpenAI's size, or from `aspect_ratio`/`resolution`
        (or Ark's own names given directly), checked."""
        spec = family.spec
        if params.size is not None:
            clash = sorted({"ratio", "resolution"} & extra.keys())
            if params.aspect_ratio or params.resolution:
                clash = clash or ["aspect_ratio" if params.aspect_ratio else "resolution"]
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
                    f"{', '.join(self._sizes(family))} (or ratio/resolution parameters).",
                    "size",
                )
            return {"resolution": tier[0], "ratio": tier[1]}
        ratio = params.aspect_ratio or extra.get("ratio")
        resolution = params.resolution or extra.get("resolution")
        out: dict[str, str] = {}
        if ratio is not None:
            if ratio not in RATIOS + EXTRA_RATIOS:
                raise bad_request(
                    "invalid_ratio",
                    f"ratio {ratio!r} is not one of {', '.join(RATIOS + EXTRA_RATIOS)}.",
                    "aspect_ratio" if params.aspect_ratio else "ratio",
                )
            out["ratio"] = ratio
        if resolution is not None:
            if resolution not in spec.resolutions:
                raise bad_request(
                    "invalid_resolution",
                    f"resolution {resolution!r} is not available for {params.model!r}; use one "
                    f"of {', '.join(spec.resolutions)}.",
                    "resolution",
                )
            out["resolution"] = resolution
        return out

    @staticmethod
    def _sizes(family: Family) -> list[str]:
        table = PIXELS[family.pixels]
        return [table[(res, ratio)] for res in family.spec.resolutions for ratio in RATIOS]

    @staticmethod
    def _length(params: CreateParams, family: Family, extra: dict[str, Any]) -> dict[str, int]:
        """`duration` from OpenAI's seconds (or given directly), checked against the model."""
        spec = family.spec
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
        low, high = int(spec.min_seconds or 1), int(spec.max_seconds or 15)
        if value is None or not low <= value <= high:
            raise bad_request(
                "invalid_seconds",
                f"{param} {seconds!r} is not available for {params.model!r}; use a whole "
                f"number from {low} to {high}.",
                param,
            )
        return {"duration": value}

    def _media(
        self, params: CreateParams, family: Family | None
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Content items after the text, each with its `raw_request` form: frames
        (first/last) or reference images, and for edits/extensions the source video."""
        items: list[tuple[dict[str, Any], dict[str, Any]]] = []
        references = list(params.reference_images)
        references += [c.image for c in params.characters if c.image is not None]
        frames = [(params.input_reference, "first_frame"), (params.last_frame, "last_frame")]
        framed = [(ref, role) for ref, role in frames if ref is not None]
        if references and framed:
            raise bad_request(
                "invalid_parameter",
                "Ark takes either first/last frames or reference images, not both; pass the "
                "opening image as a reference image and say so in the prompt.",
                "reference_images",
            )
        mode = family.image if family else "optional"
        if params.input_reference is None and mode == "required" and not references:
            raise bad_request(
                "input_reference_required",
                f"{params.model!r} animates an image: give an input_reference.",
                "input_reference",
            )
        if params.input_reference is not None and mode == "forbidden":
            raise bad_request(
                "unsupported_input_reference",
                f"{params.model!r} is text-to-video only; use an i2v or pro model for images.",
                "input_reference",
            )
        named = [(ref, role) for ref, role in framed]
        named += [(ref, "reference_image") for ref in references]
        for ref, role in named:
            image = reference_image(ref, IMAGE_RULES)
            url = image.url or image.data_url()
            item = {"type": "image_url", "image_url": {"url": url}, "role": role}
            items.append((item, {**item, "image_url": {"url": image.describe()}}))
        if params.operation is not Operation.CREATE:
            if framed:
                raise bad_request(
                    "invalid_parameter",
                    "Ark does not combine a reference video with first/last frames.",
                    "input_reference",
                )
            url = source_uri(params, "Ark", max_data_url=None, https_only=False)
            item = {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}
            items.append((item, item))
        return items

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
            tokens=self._tokens(task.get("usage")),
            raw=task,
        )

    @staticmethod
    def _tokens(usage: Any) -> float | None:
        """Ark's billed tokens for the task (`completion_tokens`, else `total_tokens`);
        settlement prices these with the model's per-million-token price."""
        if not isinstance(usage, dict):
            return None
        for name in ("completion_tokens", "total_tokens"):
            value = usage.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                return float(value)
        return None

    @staticmethod
    def _size_of(task: Mapping[str, Any]) -> str | None:
        family = family_of(str(task.get("model") or "")) or ANY_MODEL
        return PIXELS[family.pixels].get((str(task.get("resolution")), str(task.get("ratio"))))

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
