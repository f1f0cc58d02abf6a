"""`runway`: Runway's developer API (api.dev.runwayml.com, `X-Runway-Version: 2024-11-06`).

A job is a Runway task: `POST /v1/image_to_video` when an input_reference is given,
`POST /v1/text_to_video` otherwise, then `GET /v1/tasks/{id}`. OpenAI's `size` becomes
Runway's `ratio` (1280x720 -> "1280:720") and `seconds` its integer `duration`; both are
checked against the model's table before any upstream call, because Runway bills per
task. Uploads travel as data: URLs (Runway takes them up to 5 MB); output URLs expire
after 24-48 h, so `content` re-reads the task for a fresh one every time. `DELETE` cancels
a task that is still running and deletes a finished one.

Sources: runwayml/sdk-python @c604e0e (types/{image,text}_to_video_create_params.py,
task_retrieve_response.py, resources/tasks.py, _client.py) and docs.dev.runwayml.com
(api-details/errors, assets/inputs). Options: `api_version` (the X-Runway-Version header).
"""

from __future__ import annotations

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
    InputReference,
    Prepared,
    UpstreamVideo,
)
from .convert import iso_to_unix, parse_size
from .failures import not_ready
from .http import HttpProvider
from .media import display_url, image_data_url
from .params import ExtraKind, coerce_extras, refuse_reserved

DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"
# Runway task status -> OpenAI status (THROTTLED: waiting for a free slot in the org's quota).
STATUS_MAP: dict[str, str] = {
    "PENDING": "queued",
    "THROTTLED": "queued",
    "RUNNING": "in_progress",
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "CANCELLED": "failed",
}
ACTIVE = frozenset({"PENDING", "THROTTLED", "RUNNING"})
# `failureCode` family -> canonical failure code; the longest matching dotted prefix wins.
# Families from docs.dev.runwayml.com/errors/task-failures as cited by integrators (SAFETY.*,
# INPUT_PREPROCESSING.*, INTERNAL*, ASSET.INVALID, THIRD_PARTY.UNAVAILABLE); anything else
# is generation_failed.
FAILURE_MAP: dict[str, str] = {
    "SAFETY": Failure.MODERATION,  # SAFETY.INPUT.TEXT|IMAGE, SAFETY.OUTPUT.VIDEO|IMAGE
    "INPUT_PREPROCESSING.SAFETY": Failure.MODERATION,
    "INTERNAL": Failure.INTERNAL,  # INTERNAL, INTERNAL.BAD_OUTPUT.CODE01
    "INPUT_PREPROCESSING.INTERNAL": Failure.INTERNAL,
    "THIRD_PARTY": Failure.INTERNAL,
    "ASSET": Failure.INVALID,  # ASSET.INVALID: the input image was unusable
}

GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")
DEFAULT_RATIO = "1280:720"  # accepted by every model below, in both modes


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts, per the SDK's per-model create params."""

    image_ratios: tuple[str, ...]
    text_ratios: tuple[str, ...]  # empty: the model only animates an image
    durations: tuple[int, ...]
    default_duration: int


MODELS: dict[str, ModelSpec] = {
    "gen4_turbo": ModelSpec(GEN4_RATIOS, (), tuple(range(2, 11)), 5),
    "gen4.5": ModelSpec(GEN4_RATIOS, ("1280:720", "720:1280"), tuple(range(2, 11)), 5),
    "veo3": ModelSpec(VEO_RATIOS, VEO_RATIOS, (8,), 8),
    "veo3.1": ModelSpec(VEO_RATIOS, VEO_RATIOS, (4, 6, 8), 8),
    "veo3.1_fast": ModelSpec(VEO_RATIOS, VEO_RATIOS, (4, 6, 8), 8),
}
# Body fields the adapter derives from the OpenAI request; an extra may not override them
# (checked in this order).
DERIVED = {
    "duration": "seconds",
    "model": "model",
    "promptImage": "input_reference",
    "promptText": "prompt",
    "ratio": "size",
}
DERIVED_MESSAGE = "{name!r} is derived from the request's {source!r}; set that instead."
# Optional Runway parameters with non-string JSON types (multipart sends them as strings).
EXTRA_KINDS: dict[str, ExtraKind] = {
    "seed": int,
    "audio": bool,
    "contentModeration": dict,
    "negativePrompt": str,
}
MAX_DATA_URI = 5 * 1024 * 1024  # docs: "the encoded data URI must be under 5MB"
MAX_PROMPT_UTF16 = 1000


def failure_code(code: str | None) -> str:
    """The canonical code for a Runway `failureCode` (longest matching family)."""
    best: str = Failure.UNKNOWN
    matched = -1
    for family, canonical in FAILURE_MAP.items():
        if code and (code == family or code.startswith(family + ".")) and len(family) > matched:
            best, matched = canonical, len(family)
    return best


def _allowed(values: tuple[int, ...]) -> str:
    if len(values) > 2 and values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]}"
    return ", ".join(str(v) for v in values)


class RunwayProvider(HttpProvider):
    type_name = "runway"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.DELETE,
            Capability.CANCEL,
            Capability.IMAGE_INPUT,
        }
    )
    default_poll_after_ms = 5000  # Runway: "should not expect updates more than every 5 s"

    default_base_url = DEFAULT_BASE_URL

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        return {
            **super()._headers(key),
            "X-Runway-Version": str(self.config.options.get("api_version", API_VERSION)),
        }

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The path and JSON body for a create; every check that needs no upstream call."""
        model = params.model
        spec = MODELS.get(model)
        if spec is None:
            raise bad_request(
                "unsupported_model",
                f"Runway model {model!r} is not supported; supported: {', '.join(MODELS)}.",
                "model",
            )
        with_image = params.input_reference is not None
        ratios = spec.image_ratios if with_image else spec.text_ratios
        if not ratios:
            text_models = ", ".join(m for m, s in MODELS.items() if s.text_ratios)
            raise bad_request(
                "input_reference_required",
                f"Runway model {model!r} only animates an image: give an input_reference, or "
                f"use a text-to-video model ({text_models}).",
                "input_reference",
            )
        dims = parse_size(params.size) if params.size else None
        ratio = f"{dims[0]}:{dims[1]}" if dims else DEFAULT_RATIO
        if (params.size and dims is None) or ratio not in ratios:
            mode = "image-to-video" if with_image else "text-to-video"
            allowed = ", ".join(r.replace(":", "x") for r in ratios)
            raise bad_request(
                "invalid_size",
                f"size {params.size!r} is not available for Runway {model} {mode}; "
                f"allowed: {allowed}.",
                "size",
            )
        seconds = params.seconds
        duration = spec.default_duration if seconds is None else whole_number(seconds, 3) or -1
        if duration not in spec.durations:
            raise bad_request(
                "invalid_seconds",
                f"seconds {seconds!r} is not available for Runway {model}; "
                f"allowed: {_allowed(spec.durations)}.",
                "seconds",
            )
        if len(params.prompt.encode("utf-16-le")) // 2 > MAX_PROMPT_UTF16:
            raise bad_request(
                "prompt_too_long",
                f"Runway takes prompts of at most {MAX_PROMPT_UTF16} UTF-16 code units.",
                "prompt",
            )
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        body: dict[str, Any] = {
            "model": model,
            "promptText": params.prompt,
            "ratio": ratio,
            "duration": duration,
            **extra,
        }
        shown = dict(body)
        path = "/v1/text_to_video"
        if params.input_reference is not None:
            body["promptImage"] = self._prompt_image(params.input_reference)
            shown["promptImage"] = display_url(body["promptImage"])
            path = "/v1/image_to_video"
        size = ratio.replace(":", "x")
        return Prepared(params, body, shown, path, size=size, seconds=str(duration))

    @staticmethod
    def _prompt_image(ref: InputReference) -> str:
        """An https URL or a data: URL; uploads are encoded into the latter."""
        if ref.data is not None:
            uri = image_data_url(ref.data, ref.content_type)
        elif ref.image_url and ref.image_url.startswith(("https://", "data:")):
            uri = ref.image_url
        elif ref.image_url:
            raise bad_request(
                "invalid_input_reference",
                "Runway fetches only https:// image URLs (or takes a data: URL); "
                f"{ref.image_url.split(':', 1)[0]}:// is not accepted.",
                "input_reference",
            )
        else:
            raise bad_request(
                "unsupported_input_reference",
                "Runway cannot read file ids; upload the image or give an https image_url.",
                "input_reference",
            )
        if uri.startswith("data:") and len(uri) >= MAX_DATA_URI:
            raise bad_request(
                "input_reference_too_large",
                f"Runway takes data: URLs under {MAX_DATA_URI} bytes once base64-encoded "
                f"(this one is {len(uri)}); host the image and give an https image_url.",
                "input_reference",
            )
        return uri

    # -- responses ------------------------------------------------------------------------
    def to_video(self, body: Any) -> UpstreamVideo:
        body = self.expect_object(body, "answered without a task object")
        native = str(body.get("status"))
        status = STATUS_MAP.get(native, "in_progress")
        progress = 100 if status == "completed" else 0
        if native == "RUNNING" and isinstance(body.get("progress"), int | float):
            progress = min(99, int(float(body["progress"]) * 100))
        error = None
        if native == "FAILED":
            code = body.get("failureCode")
            error = {
                "code": failure_code(code if isinstance(code, str) else None),
                "message": str(body.get("failure") or code or "Runway reported a failure."),
            }
        elif native == "CANCELLED":
            error = {"code": Failure.CANCELLED, "message": "The task was cancelled at Runway."}
        return UpstreamVideo(
            id=body["id"],
            status=status,  # type: ignore[arg-type]
            progress=progress,
            created_at=iso_to_unix(body.get("createdAt")) or int(time.time()),
            # Runway reports no end time; the first answer showing the end stands in for it.
            completed_at=int(time.time()) if status in TERMINAL else None,
            error=error,
            raw=body,
        )

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + prepared.route
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        task = self.expect_object(body, "accepted the task but returned no id")
        return prepared.accepted(task["id"], body)

    async def _task(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}/v1/tasks/{video_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._task(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """Stream `output[0]`, read fresh from the task (its signed URL expires)."""
        body = await self._task(video_id, key, ctx)
        video = self.to_video(body)
        if video.status != "completed":
            raise not_ready(
                self.id, f"Runway task {video_id!r} is {video.status}; it has no output yet."
            )
        output = body.get("output")
        if not isinstance(output, list) or not output or not isinstance(output[0], str):
            raise self.bad_response(
                f"Runway task {video_id!r} succeeded without an output URL.", body
            )
        # A pre-signed CDN URL: no Runway credentials go with it.
        return await self.stream_asset(output[0], "video/mp4", ctx=ctx)

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        """Cancel (still running) or delete (ended); either way the task is gone after."""
        try:
            current = await self._task(video_id, key, ctx)
            running = isinstance(current, Mapping) and current.get("status") in ACTIVE
            await self.request(
                "DELETE",
                f"{self._base(key)}/v1/tasks/{video_id}",
                headers={**self._headers(key), "Accept": "*/*"},
                expect_json=False,
                ctx=ctx,
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone at Runway")
            raise
        return DeleteResult(deleted=True, cancelled=running)
