"""`xai`: Grok Imagine video on xAI's REST API (api.x.ai, `Authorization: Bearer`).

Every job is a deferred request: `POST /v1/videos/generations` (text, a first-frame
`image`, or up to 7 `reference_images`), `/v1/videos/edits` (a `video` and a prompt) or
`/v1/videos/extensions` (a `video`, a prompt and the new segment's `duration`) answers
`{"request_id"}`, then `GET /v1/videos/{request_id}` reports `status` pending | done |
failed | expired with `video{url, duration, respect_moderation}` once done. The operation
comes from `params.operation`; an edit's or extension's `video.url` is read fresh from the
source job when it is an xAI job (`SourceVideo.upstream_id`), else taken from
`SourceVideo.url`. OpenAI's `size` becomes `aspect_ratio` + `resolution`. Sound is always
rendered (no switch is documented), so `generate_audio: false` is refused. The output URL
is a CDN link fetched without the key; it is re-read from the job on every download.

Sources: docs.x.ai video guides (generation, editing, extension), the Vercel AI SDK
`packages/xai/src/xai-video-model.ts`, ComfyUI `comfy_api_nodes/apis/grok.py` and
`nodes_grok.py`; details in docs/providers/xai.md (inferred parts marked there).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
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
    Operation,
    Prepared,
    SourceVideo,
    UpstreamVideo,
)
from .convert import reported_number
from .failures import not_ready
from .http import HttpProvider
from .media import display_url, image_url_input
from .params import ExtraKind, coerce_extras, refuse_reserved
from .specs import ModelSpec
from .tiers import size_for, split_size

DEFAULT_BASE_URL = "https://api.x.ai"
PATHS: dict[Operation, str] = {
    Operation.CREATE: "/v1/videos/generations",
    Operation.EDIT: "/v1/videos/edits",
    Operation.EXTEND: "/v1/videos/extensions",
}
# xAI request status -> OpenAI status; a pending job with progress is shown in_progress.
STATUS_MAP: dict[str, str] = {
    "pending": "queued",
    "done": "completed",
    "failed": "failed",
    "expired": "failed",
}
# Statuses that end a job without an `error` of xAI's own -> the failure shown.
STATUS_FAILURES: dict[str, dict[str, str]] = {
    "expired": {"code": Failure.EXPIRED, "message": "xAI dropped the request before it finished."},
    "failed": {"code": Failure.UNKNOWN, "message": "xAI reported the generation as failed."},
}
# `error.code` of a failed job -> canonical code (inferred: xAI documents no list).
FAILURE_MAP: dict[str, str] = {
    "content_moderation": Failure.MODERATION,
    "moderation": Failure.MODERATION,
    "internal_error": Failure.INTERNAL,
    "invalid_argument": Failure.INVALID,
}
MODERATED = {
    "code": Failure.MODERATION,
    "message": "xAI withheld the video: it did not pass content moderation.",
}

RATIOS: tuple[str, ...] = ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16")
RESOLUTIONS: tuple[str, ...] = ("480p", "720p")
MODELS: dict[str, ModelSpec] = {
    "grok-imagine-video": ModelSpec(
        operations=frozenset({"create", "edit", "extend"}),
        min_seconds=1,
        max_seconds=15,
        resolutions=RESOLUTIONS,
        aspect_ratios=RATIOS,
        audio=True,
        audio_default=True,
        image_input=True,
        max_reference_images=7,
        max_extend_seconds=10,
    ),
    # 1.5 (preview, lite): create only as far as the docs show.
    "grok-imagine-video-1.5*": ModelSpec(
        min_seconds=1,
        max_seconds=15,
        resolutions=RESOLUTIONS,
        aspect_ratios=RATIOS,
        audio=True,
        audio_default=True,
        image_input=True,
        max_reference_images=7,
    ),
}
REFERENCE_SECONDS = (2, 10)  # reference-to-video durations (ComfyUI's node bounds)
EXTEND_SECONDS = (2, 10)  # the new segment; docs: 2-10 s, default 6
EDIT_MAX_SOURCE_SECONDS = 8.7  # docs: "maximum length of the input video ... 8.7 seconds"
EXTEND_SOURCE_SECONDS = (2.0, 15.0)  # docs: "input video duration must be between 2 and 15"

# Body fields the adapter derives from the request -> the request field to set instead.
DERIVED: dict[str, str] = {
    "model": "model",
    "prompt": "prompt",
    "duration": "seconds",
    "aspect_ratio": "aspect_ratio",
    "resolution": "resolution",
    "image": "input_reference",
    "reference_images": "reference_images",
    "video": "source",
}
DERIVED_MESSAGE = "{name!r} is derived from the request's {source}; set that instead."
EXTRA_KINDS: dict[str, ExtraKind] = {"user": str}


class XaiProvider(HttpProvider):
    type_name = "xai"
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
    default_poll_after_ms = 5000  # the Vercel AI SDK's xAI poll interval
    default_base_url = DEFAULT_BASE_URL
    models = MODELS

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The endpoint and JSON body for a create, edit or extension; every 400 that needs
        no upstream call (the model table has been checked by the gateway already)."""
        if params.generate_audio is False:
            raise bad_request(
                "unsupported_audio",
                "xAI renders sound with every video; generate_audio: false is not available.",
                "generate_audio",
            )
        if params.fps is not None:
            raise bad_request("unsupported_fps", "xAI does not take an fps.", "fps")
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        body: dict[str, Any] = {"model": params.model, "prompt": params.prompt}
        shown: dict[str, Any]
        if params.operation is Operation.CREATE:
            body.update(self._create_fields(params))
            shown = self._shown(body)
            size = self._size(params)
            seconds = None if "duration" not in body else str(body["duration"])
        else:
            body.update(self._source_fields(params))
            shown = dict(body)
            size, seconds = self._source_output(params, body.get("duration"))
        body.update(extra)
        shown.update(extra)
        return Prepared(params, body, shown, PATHS[params.operation], size=size, seconds=seconds)

    def _create_fields(self, params: CreateParams) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        images = [*params.reference_images, *(c.image for c in params.characters if c.image)]
        if images and params.input_reference is not None:
            raise bad_request(
                "invalid_parameter",
                "xAI animates either an input_reference (image-to-video) or reference_images "
                "(reference-to-video), not both.",
                "reference_images",
            )
        if params.seconds is not None:
            low, high = REFERENCE_SECONDS if images else (1, 15)
            duration = whole_number(params.seconds, 3)
            if duration is None or not low <= duration <= high:
                mode = "reference-to-video" if images else "xAI video"
                raise bad_request(
                    "invalid_seconds",
                    f"{mode} takes whole seconds from {low} to {high}, not {params.seconds!r}.",
                    "seconds",
                )
            fields["duration"] = duration
        fields.update(self._frame(params))
        if params.input_reference is not None:
            fields["image"] = {"url": image_url_input(params.input_reference, "xAI")}
        if images:
            fields["reference_images"] = [{"url": image_url_input(r, "xAI")} for r in images]
        return fields

    @staticmethod
    def _frame(params: CreateParams) -> dict[str, str]:
        """`aspect_ratio` and `resolution`, from OpenAI's size or given directly."""
        if params.size is None:
            out = {"aspect_ratio": params.aspect_ratio, "resolution": params.resolution}
            return {k: v for k, v in out.items() if v is not None}
        if params.aspect_ratio or params.resolution:
            raise bad_request(
                "invalid_parameter",
                "Give either size or aspect_ratio/resolution, not both.",
                "size",
            )
        split = split_size(params.size, RATIOS)
        if split is None or split[1] not in RESOLUTIONS:
            sizes = [size_for(r, a) for r in RESOLUTIONS for a in RATIOS]
            raise bad_request(
                "invalid_size",
                f"xAI renders sizes {', '.join(s for s in sizes if s)}, not {params.size!r}.",
                "size",
            )
        return {"aspect_ratio": split[0], "resolution": split[1]}

    @staticmethod
    def _size(params: CreateParams) -> str | None:
        """What will be rendered, as `WxH`, where the request says (for prices by tier)."""
        if params.size is not None:
            return params.size
        if params.resolution:
            return size_for(params.resolution, params.aspect_ratio or "16:9")
        return None

    @staticmethod
    def _shown(body: dict[str, Any]) -> dict[str, Any]:
        shown = dict(body)
        if "image" in body:
            shown["image"] = {"url": display_url(body["image"]["url"])}
        if "reference_images" in body:
            shown["reference_images"] = [
                {"url": display_url(r["url"])} for r in body["reference_images"]
            ]
        return shown

    def _source_fields(self, params: CreateParams) -> dict[str, Any]:
        """An edit's or extension's `video` (url None: read from the xAI source job at create
        time) and, for an extension, the new segment's `duration`."""
        op = params.operation.value
        source = params.source
        if source is None:
            raise bad_request("source_required", f"An {op} needs a source video.", "source")
        if source.upstream_id is None and not source.url:
            raise bad_request(
                "unsupported_source",
                f"xAI fetches the video to {op} by URL; this source has neither an xAI job "
                "nor a URL.",
                "source",
            )
        given = [
            name
            for name, value in (
                ("size", params.size),
                ("aspect_ratio", params.aspect_ratio),
                ("resolution", params.resolution),
                ("input_reference", params.input_reference),
                ("reference_images", params.reference_images or None),
            )
            if value is not None
        ]
        if given:
            raise bad_request(
                "invalid_parameter",
                f"An xAI {op} keeps the source's frame; {given[0]} is not accepted.",
                given[0],
            )
        self._check_source_length(params.operation, source)
        fields: dict[str, Any] = {
            "video": {"url": None if source.upstream_id else source.url},
        }
        if params.operation is Operation.EDIT:
            if params.seconds is not None:
                raise bad_request(
                    "invalid_seconds", "An xAI edit keeps the source's duration.", "seconds"
                )
            return fields
        if params.seconds is not None:
            duration = whole_number(params.seconds, 3)
            low, high = EXTEND_SECONDS
            if duration is None or not low <= duration <= high:
                raise bad_request(
                    "invalid_seconds",
                    f"An xAI extension adds whole seconds from {low} to {high}, "
                    f"not {params.seconds!r}.",
                    "seconds",
                )
            fields["duration"] = duration
        return fields

    @staticmethod
    def _check_source_length(operation: Operation, source: SourceVideo) -> None:
        if source.seconds is None:
            return
        if operation is Operation.EDIT and source.seconds > EDIT_MAX_SOURCE_SECONDS:
            raise bad_request(
                "invalid_source",
                f"xAI edits videos of at most {EDIT_MAX_SOURCE_SECONDS:g} seconds; the source "
                f"is {source.seconds:g}.",
                "source",
            )
        low, high = EXTEND_SOURCE_SECONDS
        if operation is Operation.EXTEND and not low <= source.seconds <= high:
            raise bad_request(
                "invalid_source",
                f"xAI extends videos of {low:g} to {high:g} seconds; the source is "
                f"{source.seconds:g}.",
                "source",
            )

    @staticmethod
    def _source_output(params: CreateParams, duration: Any) -> tuple[str | None, str | None]:
        """(size, seconds) of an edit's or extension's output: the source's frame, and its
        length (plus the new segment for an extension, 6 s unless given)."""
        source = params.source
        assert source is not None
        if source.seconds is None:
            return source.size, None
        total = source.seconds
        if params.operation is Operation.EXTEND:
            total += duration if isinstance(duration, int) else 6
        return source.size, f"{total:g}"

    # -- responses ------------------------------------------------------------------------
    def to_video(self, video_id: str, body: Any) -> UpstreamVideo:
        """A status answer (which carries no id of its own) as an UpstreamVideo."""
        job = self.expect_object(body, "answered without a video request object", id_field=None)
        video = job.get("video") if isinstance(job.get("video"), Mapping) else None
        native = str(job.get("status") or ("done" if video else "pending"))
        status = STATUS_MAP.get(native, "in_progress")
        progress = job.get("progress")
        progress = int(progress) if isinstance(progress, int | float) else 0
        if status == "queued" and progress > 0:
            status = "in_progress"
        error: dict[str, str] | None = None
        if status == "failed":
            error = self._failure(native, job.get("error"))
        elif (
            status == "completed" and video is not None and video.get("respect_moderation") is False
        ):
            status, error = "failed", dict(MODERATED)
        elif status == "completed" and not (video and isinstance(video.get("url"), str)):
            status = "failed"
            error = {"code": Failure.UNKNOWN, "message": "xAI finished without a video URL."}
        duration = video.get("duration") if video else None
        return UpstreamVideo(
            id=video_id,
            status=status,  # type: ignore[arg-type]
            progress=100 if status == "completed" else min(progress, 99),
            completed_at=int(time.time()) if status in TERMINAL else None,
            model=job.get("model") if isinstance(job.get("model"), str) else None,
            seconds=f"{duration:g}" if isinstance(duration, int | float) else None,
            error=error,
            raw=job,
            # xAI bills in ticks of 1e-10 dollars (usage.cost_in_usd_ticks)
            cost_usd=reported_number(job, "usage", "cost_in_usd_ticks", scale=1e-10),
        )

    @staticmethod
    def _failure(native: str, error: Any) -> dict[str, str]:
        if isinstance(error, Mapping) and (error.get("code") or error.get("message")):
            code = str(error.get("code") or "")
            message = str(error.get("message") or code)
            return {"code": FAILURE_MAP.get(code, Failure.UNKNOWN), "message": message}
        return dict(STATUS_FAILURES.get(native, STATUS_FAILURES["failed"]))

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        body = prepared.body
        source = prepared.params.source
        video = body.get("video")
        if source is not None and isinstance(video, Mapping) and video.get("url") is None:
            body = {**body, "video": {"url": await self._source_url(source, key, ctx)}}
        url = self._base(key) + prepared.route
        shown = {**prepared.shown, **({"video": body["video"]} if "video" in body else {})}
        answer = await self.call_api("POST", url, key, ctx, json=body, shown=shown)
        job = self.expect_object(
            answer, "accepted the request but returned no request_id", id_field="request_id"
        )
        return prepared.accepted(job["request_id"], answer)

    async def _source_url(self, source: SourceVideo, key: UpstreamKey, ctx: CallContext) -> str:
        """The source job's current video URL (xAI's links are signed and age); its own
        `url` when xAI no longer knows the job under this key."""
        assert source.upstream_id is not None
        try:
            body = await self._job(source.upstream_id, key, ctx)
        except UpstreamError as exc:
            if exc.status == 404 and source.url:
                return source.url
            raise
        video = self.to_video(source.upstream_id, body)
        if video.status != "completed":
            raise bad_request(
                "invalid_source",
                f"The source video is {video.status} at xAI; only a finished video can be "
                "edited or extended.",
                "source",
            )
        return str(body["video"]["url"])

    async def _job(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}/v1/videos/{video_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(video_id, await self._job(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """Stream the job's `video.url`, read fresh (a CDN link; no key goes with it)."""
        body = await self._job(video_id, key, ctx)
        video = self.to_video(video_id, body)
        if video.status != "completed":
            raise not_ready(self.id, f"xAI request {video_id!r} is {video.status}; no video yet.")
        return await self.stream_asset(str(body["video"]["url"]), "video/mp4", ctx=ctx)
