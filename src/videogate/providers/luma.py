"""`luma`: Luma's Ray video models, through either of its two APIs.

`options.api: dream-machine` (default) is the Dream Machine API (api.lumalabs.ai/
dream-machine/v1: Ray 2, Ray Flash 2, Ray 1.6), spoken by `LumaProvider`; `options.api:
agents` is the newer Luma Agents API (agents.lumalabs.ai/v1: Ray 3.2), spoken by
`LumaAgentsProvider`. Luma now points new integrations at the Agents API and keeps Dream
Machine for existing ones; the two take different keys, so one provider entry is one API.

Dream Machine: a job is a generation: `POST /generations/video`, then `GET /generations/
{id}` until `state` is completed or failed. OpenAI's `size` becomes Luma's `aspect_ratio`
plus a `resolution` named by the short edge (1280x720 -> 16:9 at 720p), or `aspect_ratio`
/ `resolution` are given directly; `seconds` is its `duration` ("5s"/"9s"); all checked
before any upstream call. Images must be URLs Luma can fetch: Luma's docs say hosting it
yourself "is the only way to pass an image", so uploads and data: URLs are refused with a
400 instead of failing later upstream. A last frame is keyframe `frame1`. An extension is a
new generation whose `frame0` is `{"type": "generation", "id": <source>}` (Luma continues
its own generation); an edit is `POST /generations/video/modify` with the source's URL as
`media.url` and a `mode` (adhere_1..3, flex_1..3, reimagine_1..3; default flex_1,
*(inferred)*: the SDK marks it required and names no default). Luma deletes generations
and gives each video a still (`assets.image`), served as the thumbnail.

Sources: lumalabs/lumaai-python @c00ac17 (types/generation.py, generation_list_response.py,
generations/video_create_params.py, generations/video_modify_params.py, resources/
generations), the Dream Machine OpenAPI 1.1.0 (Error `{"detail"}`, 201 create, 204 delete,
list limit=100/offset=0 defaults), docs.lumalabs.ai/docs/video-generation, and for the
Agents API docs.agents.lumalabs.ai (quickstart, guides/videos/generation and /editing,
api/resources/generations: `Generation {id, created_at, model, state queued|processing|
completed|failed, type, failure_code, failure_reason, output[{type,url}]}`, presigned
output URLs that expire after an hour).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ProviderConfig, UpstreamKey
from ..errors import UpstreamError, bad_request
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    InputReference,
    Operation,
    Prepared,
    UpstreamVideo,
)
from .convert import iso_to_unix, parse_size
from .failures import not_ready, variant_missing
from .http import HttpProvider
from .media import image_data_url
from .params import ExtraKind, coerce_extras, refuse_reserved
from .recovery import pending_while_running
from .sources import source_job, source_uri
from .specs import ModelSpec

DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
AGENTS_BASE_URL = "https://agents.lumalabs.ai/v1"
APIS = ("dream-machine", "agents")
STATUS_MAP: dict[str, str] = {
    "queued": "queued",
    "dreaming": "in_progress",  # Dream Machine
    "processing": "in_progress",  # Agents API
    "completed": "completed",
    "failed": "failed",
}
# Lower-cased substring of `failure_reason` -> canonical code; the first match wins.
# Inferred: Luma documents no reason vocabulary. "Advanced moderation failed" and "400:
# failed to moderate image" (the keyframe URL could not be fetched or read) are reasons
# users reported in lumalabs/ComfyUI-LumaAI-API#7 and #9; the rest are defensive guesses.
FAILURE_MAP: dict[str, str] = {
    "failed to moderate": Failure.INVALID,
    "moderation": Failure.MODERATION,
    "not allowed": Failure.MODERATION,
    "blocked": Failure.MODERATION,
    "nsfw": Failure.MODERATION,
    "safety": Failure.MODERATION,
    "internal": Failure.INTERNAL,
    "server error": Failure.INTERNAL,
    "timed out": Failure.INTERNAL,
}
# The Agents API's documented `failure_code`s -> canonical codes.
AGENTS_FAILURES: dict[str, str] = {
    "content_moderated": Failure.MODERATION,
    "generation_failed": Failure.UNKNOWN,
    "budget_exhausted": Failure.INVALID,
    "output_not_found": Failure.INTERNAL,
    "image_too_large": Failure.INVALID,
    "unsupported_format": Failure.INVALID,
    "corrupt_input": Failure.INVALID,
    "invalid_request": Failure.INVALID,
    "rate_limited": Failure.INTERNAL,
}
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
AGENTS_ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
# Resolution label by the short edge in pixels (inferred: 720p = 1280x720 / 720x1280).
RESOLUTIONS: dict[int, str] = {540: "540p", 720: "720p", 1080: "1080p", 2160: "4k"}


def _sizes(ratios: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Every OpenAI `WxH` Luma can render -> (aspect_ratio, resolution)."""
    sizes: dict[str, tuple[str, str]] = {}
    for label in ratios:
        a, b = (int(x) for x in label.split(":"))
        for short, resolution in RESOLUTIONS.items():
            w, h = (short * a // b, short) if a >= b else (short, short * b // a)
            sizes[f"{w}x{h}"] = (label, resolution)
    return sizes


SIZES = _sizes(ASPECT_RATIOS)
SIZE_OF = {value: size for size, value in SIZES.items()}
DEFAULT_SIZE = "1280x720"


@dataclass(frozen=True)
class Wire:
    """One Dream Machine model: `durations` (OpenAI seconds), `resolutions`, whether it
    takes `duration`/`resolution` at all, and whether it can be the model of a modify."""

    durations: tuple[str, ...]
    resolutions: tuple[str, ...]
    sends_quality: bool
    modify: bool = False


WIRES: dict[str, Wire] = {
    "ray-2": Wire(("5", "9"), tuple(RESOLUTIONS.values()), True, modify=True),
    "ray-flash-2": Wire(("5", "9"), tuple(RESOLUTIONS.values()), True, modify=True),
    # Ray 1.6 predates the duration/resolution parameters (inferred: 5 s at 720p).
    "ray-1-6": Wire(("5",), ("720p",), False),
}


def _dream_spec(wire: Wire) -> ModelSpec:
    extends = wire.sends_quality  # keyframe `generation` references (inferred: not on 1.6)
    operations = (
        {"create"} | ({"extend"} if extends else set()) | ({"edit"} if wire.modify else set())
    )
    return ModelSpec(
        operations=frozenset(operations),
        seconds=tuple(int(d) for d in wire.durations),
        sizes=tuple(s for s, (_, res) in SIZES.items() if res in wire.resolutions),
        resolutions=wire.resolutions,
        aspect_ratios=ASPECT_RATIOS,
        image_input=True,
        last_frame=True,
        max_extend_seconds=max(int(d) for d in wire.durations) if extends else None,
    )


MODELS: dict[str, ModelSpec] = {name: _dream_spec(wire) for name, wire in WIRES.items()}
MODIFY_MODES = tuple(f"{kind}_{n}" for kind in ("adhere", "flex", "reimagine") for n in (1, 2, 3))
DEFAULT_MODIFY_MODE = "flex_1"  # inferred (the SDK requires a mode and names no default)
# Body fields the adapter derives from the OpenAI request (checked in this order).
DERIVED = {
    "aspect_ratio": "size",
    "duration": "seconds",
    "generation_type": "endpoint (always 'video')",
    "media": "video",
    "model": "model",
    "prompt": "prompt",
    "resolution": "size",
}
DERIVED_MESSAGE = "{name!r} is derived from the request's {source}; set that instead."
EXTRA_KINDS: dict[str, ExtraKind] = {
    "loop": bool,
    "callback_url": str,
    "concepts": list,
    "keyframes": dict,
    "mode": str,
}
# When the CDN declares only a generic byte type and the URL has no telling extension.
FALLBACK_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg"}

# -- the Agents API (Ray 3.2) ------------------------------------------------------------
AGENTS_DURATIONS = ("5", "10")  # "5s" | "10s" (10 s: not with loop, HDR or anchor frames)
AGENTS_RESOLUTIONS = ("540p", "720p", "1080p")
AGENTS_SIZES = {
    size: tier for size, tier in _sizes(AGENTS_ASPECT_RATIOS).items()
    if tier[1] in AGENTS_RESOLUTIONS
}  # fmt: skip
AGENTS_SIZE_OF = {value: size for size, value in AGENTS_SIZES.items()}
# Extensions: `video.start_frame.generation_id` (docs.agents.lumalabs.ai/guides/model:
# "Extend a prior video (video.start_frame.generation_id / video.end_frame.generation_id)");
# one 5 s block per call (inferred: a reseller's Ray 3.2 docs, docs.gmicloud.ai).
AGENTS_EXTEND_SECONDS = 5
AGENTS_MODELS: dict[str, ModelSpec] = {
    "ray-3.2": ModelSpec(
        operations=frozenset({"create", "edit", "extend"}),
        seconds=(5, 10),
        sizes=tuple(AGENTS_SIZES),
        resolutions=AGENTS_RESOLUTIONS,
        aspect_ratios=AGENTS_ASPECT_RATIOS,
        image_input=True,
        last_frame=True,
        max_extend_seconds=AGENTS_EXTEND_SECONDS,
    )
}
# Inline source videos for `video_edit` (`source.data`): the byte limit is inferred (Luma's
# modify documents 100 MB source videos; the Agents docs give none; sources are <= 30 s).
AGENTS_MAX_VIDEO_DATA_URL = 100 * 1024 * 1024
AGENTS_EXTRA_KINDS: dict[str, ExtraKind] = {"video": dict, "image_ref": list, "callback_url": str}
AGENTS_DERIVED = {"model": "model", "prompt": "prompt", "type": "operation", "source": "video"}


def failure_code(reason: str | None) -> str:
    text = (reason or "").lower()
    for needle, code in FAILURE_MAP.items():
        if needle in text:
            return code
    return Failure.UNKNOWN


def api_of(config: ProviderConfig) -> str:
    api = str(config.options.get("api", "dream-machine"))
    if api not in APIS:
        raise ValueError(f"luma options.api must be one of {', '.join(APIS)}, not {api!r}")
    return api


class _LumaEndpoint(HttpProvider):
    """What both Luma APIs share: Bearer auth, `{"detail"}` errors, generation polling.

    Whichever Luma class the registry picks, `options.api` decides which one is built, so
    one provider type serves both APIs and each class's `capabilities` stay exact.
    """

    type_name = "luma"
    default_poll_after_ms = 3000  # Luma states no rate; its docs' polling loop sleeps 3 s

    def __new__(cls, provider_id: str, config: ProviderConfig) -> _LumaEndpoint:
        impl: type[_LumaEndpoint] = (
            LumaAgentsProvider if api_of(config) == "agents" else LumaProvider
        )
        if issubclass(cls, impl):
            return super().__new__(cls)
        return impl(provider_id, config)

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        return {**super()._headers(key), "Accept": "application/json"}

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """`{"detail": "..."}`; a list `detail` (FastAPI validation, inferred) is joined and
        its first field location becomes `param`."""
        detail = body.get("detail") if isinstance(body, Mapping) else None
        if isinstance(detail, list) and detail and all(isinstance(d, Mapping) for d in detail):
            loc = detail[0].get("loc")
            param = str(loc[-1]) if isinstance(loc, list) and loc else None
            return "; ".join(str(d.get("msg", d)) for d in detail), None, None, param
        return super().error_message(status, body)

    def to_video(self, body: Any) -> UpstreamVideo:
        raise NotImplementedError

    async def _generation(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}/generations/{video_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._generation(video_id, key, ctx))

    @staticmethod
    def _frame_url(ref: InputReference, param: str) -> str:
        url = ref.image_url or ""
        if url.startswith(("http://", "https://")):
            return url
        what = "a file id" if ref.file_id else "an uploaded image" if ref.data else "a data: URL"
        raise bad_request(
            "input_reference_url_required",
            f"Luma cannot take {what}: it fetches keyframe images from a URL (its docs: "
            "'upload and use your own cdn image urls, currently this is the only way to "
            f"pass an image'). Host the image and send {param}={{'image_url': "
            "'https://...'}.",
            param,
        )


class LumaProvider(_LumaEndpoint):
    """Dream Machine API: Ray 2 / Ray Flash 2 / Ray 1.6 generations, modify and extend."""

    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.DELETE,
            Capability.IMAGE_INPUT,
            Capability.THUMBNAIL,
            Capability.EDIT,
            Capability.EXTEND,
        }
    )
    models = MODELS
    default_base_url = DEFAULT_BASE_URL

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The JSON body for a create, a modify (edit) or an extension; every check that
        needs no upstream call."""
        wire = WIRES.get(params.model)
        if wire is None:
            raise bad_request(
                "unsupported_model",
                f"Luma model {params.model!r} is not supported; supported: {', '.join(WIRES)}.",
                "model",
            )
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        if params.operation is Operation.EDIT:
            return self._modify(params, wire, extra)
        if "mode" in extra:
            raise bad_request("invalid_parameter", "mode applies to edits only.", "mode")
        found = self._frame_size(params, wire)
        seconds = params.seconds or wire.durations[0]
        if seconds not in wire.durations:
            raise bad_request(
                "invalid_seconds",
                f"seconds {seconds!r} is not available for Luma {params.model}; "
                f"allowed: {', '.join(wire.durations)}.",
                "seconds",
            )
        body: dict[str, Any] = {
            "generation_type": "video",
            "model": params.model,
            "prompt": params.prompt,
            "aspect_ratio": found[0],
            **extra,
        }
        if wire.sends_quality:
            body["resolution"] = found[1]
            body["duration"] = f"{seconds}s"
        keyframes = self._keyframes(params, dict(extra.get("keyframes") or {}))
        if keyframes:
            body["keyframes"] = keyframes
        size = SIZE_OF[found]
        if params.operation is Operation.EXTEND and params.source and params.source.size:
            size = params.source.size
        return Prepared(params, body, body, "/generations/video", size=size, seconds=seconds)

    @staticmethod
    def _frame_size(params: CreateParams, wire: Wire) -> tuple[str, str]:
        """(aspect_ratio, resolution): from `size`, else the normalised fields, else 16:9
        at the model's best default (720p)."""
        if params.size is None and (params.aspect_ratio or params.resolution):
            ratio = params.aspect_ratio or "16:9"
            resolution = params.resolution or ("720p" if "720p" in wire.resolutions else "")
            if (ratio, resolution) in SIZE_OF and resolution in wire.resolutions:
                return ratio, resolution
        size = params.size or DEFAULT_SIZE
        dims = parse_size(size)
        found = SIZES.get(f"{dims[0]}x{dims[1]}") if dims else None
        if found is None or found[1] not in wire.resolutions:
            allowed = ", ".join(s for s, (_, res) in SIZES.items() if res in wire.resolutions)
            raise bad_request(
                "invalid_size",
                f"size {size!r} is not available for Luma {params.model}; allowed: {allowed}.",
                "size",
            )
        return found

    def _keyframes(self, params: CreateParams, keyframes: dict[str, Any]) -> dict[str, Any]:
        """`frame0`: the first image, or for an extension the source generation; `frame1`:
        the last frame."""
        first: dict[str, Any] | None = None
        if params.operation is Operation.EXTEND:
            first = {"type": "generation", "id": source_job(params, "Luma")}
        elif params.input_reference is not None:
            first = {
                "type": "image",
                "url": self._frame_url(params.input_reference, "input_reference"),
            }
        last = None
        if params.last_frame is not None:
            last = {"type": "image", "url": self._frame_url(params.last_frame, "last_frame")}
        for name, frame in (("frame0", first), ("frame1", last)):
            if frame is None:
                continue
            if name in keyframes:
                raise bad_request(
                    "invalid_parameter",
                    f"keyframes.{name} is also set by the request "
                    f"({'the source video' if frame['type'] == 'generation' else 'a frame'}); "
                    "give one.",
                    "keyframes",
                )
            keyframes[name] = frame
        return keyframes

    def _modify(self, params: CreateParams, wire: Wire, extra: dict[str, Any]) -> Prepared:
        """`POST /generations/video/modify`: the source's URL, a mode, an optional new
        first frame (the edited opening image)."""
        if not wire.modify:
            raise bad_request(
                "unsupported_operation",
                f"Luma modifies videos with ray-2 or ray-flash-2, not {params.model}.",
                "model",
            )
        if params.size or params.seconds or params.aspect_ratio or params.resolution:
            raise bad_request(
                "invalid_parameter",
                "A Luma modify keeps the source video's frame and length; omit size, "
                "seconds, aspect_ratio and resolution.",
                "size",
            )
        mode = str(extra.pop("mode", DEFAULT_MODIFY_MODE))
        if mode not in MODIFY_MODES:
            raise bad_request(
                "invalid_parameter", f"mode must be one of {', '.join(MODIFY_MODES)}.", "mode"
            )
        if "keyframes" in extra or "concepts" in extra or "loop" in extra:
            raise bad_request(
                "invalid_parameter", "A modify takes no keyframes, concepts or loop.", "keyframes"
            )
        body: dict[str, Any] = {
            "generation_type": "modify_video",
            "model": params.model,
            "mode": mode,
            "media": {"url": source_uri(params, "Luma", max_data_url=None, https_only=False)},
            **extra,
        }
        if params.prompt:
            body["prompt"] = params.prompt
        if params.input_reference is not None:
            body["first_frame"] = {
                "url": self._frame_url(params.input_reference, "input_reference")
            }
        source = params.source
        seconds = f"{source.seconds:g}" if source and source.seconds else None
        return Prepared(
            params,
            body,
            body,
            "/generations/video/modify",
            size=source.size if source else None,
            seconds=seconds,
        )

    # -- responses ------------------------------------------------------------------------
    def to_video(self, body: Any) -> UpstreamVideo:
        body = self.expect_object(body, "answered without a generation object")
        status = STATUS_MAP.get(str(body.get("state")), "in_progress")
        request = body.get("request")
        if not isinstance(request, Mapping):
            request = {}
        duration = request.get("duration")
        error = None
        if status == "failed":
            reason = body.get("failure_reason")
            error = {
                "code": failure_code(reason if isinstance(reason, str) else None),
                "message": str(reason or "Luma reported a failed generation."),
            }
        return UpstreamVideo(
            id=body["id"],
            status=status,  # type: ignore[arg-type]
            progress=100 if status == "completed" else 0,  # Luma reports no progress
            created_at=iso_to_unix(body.get("created_at")) or int(time.time()),
            # Luma reports no end time; the first answer showing the end stands in for it.
            completed_at=int(time.time()) if status in TERMINAL else None,
            model=body.get("model") or request.get("model"),
            prompt=request.get("prompt"),
            size=SIZE_OF.get((str(request.get("aspect_ratio")), str(request.get("resolution")))),
            seconds=duration.removesuffix("s") if isinstance(duration, str) else None,
            error=error,
            raw=body,
        )

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + (prepared.route or "/generations/video")
        body = await self.call_api("POST", url, key, ctx, json=prepared.body)
        video = self.to_video(body)
        video.model = video.model or prepared.params.model
        video.prompt = video.prompt or prepared.params.prompt
        video.size = (
            prepared.size
            if prepared.params.operation is not Operation.CREATE
            else (video.size or prepared.size)
        )
        video.seconds = video.seconds or prepared.seconds
        return video

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """`assets.video` or, for the thumbnail, `assets.image`, read fresh from the
        generation and fetched without Luma credentials (public CDN URLs)."""
        body = await self._generation(video_id, key, ctx)
        video = self.to_video(body)
        if video.status != "completed":
            raise not_ready(
                self.id, f"Luma generation {video_id!r} is {video.status}; it has no assets yet."
            )
        assets = body.get("assets") if isinstance(body.get("assets"), Mapping) else {}
        url = assets.get("image" if variant == "thumbnail" else "video")
        if not isinstance(url, str) or not url:
            if variant == "video":
                raise self.bad_response(
                    f"Luma generation {video_id!r} completed without a video URL.", body
                )
            raise variant_missing(self.id, f"Luma generation {video_id!r} has no {variant}.")
        return await self.stream_asset(url, FALLBACK_TYPES[variant], ctx=ctx)

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        try:
            await self.request(
                "DELETE",
                f"{self._base(key)}/generations/{video_id}",
                headers=self._headers(key),
                expect_json=False,
                ctx=ctx,
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone at Luma")
            if exc.status in (400, 409):
                # Whether Luma deletes a generation still dreaming is undocumented: if it
                # refuses, wait for the generation to end and try again.
                pending = await pending_while_running(self, video_id, key, ctx, exc)
                if pending is not None:
                    return pending
            raise
        return DeleteResult(deleted=True)


class LumaAgentsProvider(_LumaEndpoint):
    """Agents API: Ray 3.2 video, video_edit and extensions through one generations route.

    The API documents create and get only (no delete or list), and its output is the video
    alone, so neither deletion nor a thumbnail is declared: a delete removes the gateway's
    own copy.
    """

    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.IMAGE_INPUT,
            Capability.EDIT,
            Capability.EXTEND,
        }
    )
    models = AGENTS_MODELS
    default_base_url = AGENTS_BASE_URL

    def prepare(self, params: CreateParams) -> Prepared:
        """`POST /generations` with `type` video (create, extend) or video_edit; output
        settings under `video`, the edit's source under `source`."""
        if params.model not in AGENTS_MODELS:
            raise bad_request(
                "unsupported_model",
                f"The Luma Agents API renders video with {', '.join(AGENTS_MODELS)}, not "
                f"{params.model!r} (Ray 2 and Ray 1.6 are on the Dream Machine API: "
                "options.api dream-machine).",
                "model",
            )
        extra = coerce_extras(params.extra, AGENTS_EXTRA_KINDS)
        refuse_reserved(extra, AGENTS_DERIVED, DERIVED_MESSAGE)
        video: dict[str, Any] = dict(extra.pop("video", None) or {})
        body: dict[str, Any] = {"model": params.model, "prompt": params.prompt}
        shown_video: dict[str, Any] = {}
        size = None
        seconds = None
        if params.operation is Operation.EDIT:
            body["type"] = "video_edit"
            body["source"], shown_source = self._edit_source(params)
            if params.resolution:
                video["resolution"] = params.resolution
            video.setdefault("edit", {"auto_controls": True})
            source = params.source
            size = source.size if source else None
            seconds = f"{source.seconds:g}" if source and source.seconds else None
            shown_body = {**body, "source": shown_source}
        else:
            body["type"] = "video"
            ratio, resolution = self._frame(params)
            body["aspect_ratio"] = ratio
            video["resolution"] = resolution
            length = params.seconds or AGENTS_DURATIONS[0]
            video["duration"] = f"{length}s"
            size, seconds = AGENTS_SIZE_OF[(ratio, resolution)], length
            anchors = self._anchors(params)
            if anchors and length != "5":
                raise bad_request(
                    "invalid_seconds",
                    "Ray 3.2 renders 10 s only without anchor frames; use seconds 5.",
                    "seconds",
                )
            for name, (wire, shown) in anchors.items():
                if name in video:
                    raise bad_request(
                        "invalid_parameter", f"video.{name} is also set by the request.", "video"
                    )
                video[name] = wire
                shown_video[name] = shown
            source = params.source
            if params.operation is Operation.EXTEND and source and source.seconds is not None:
                seconds = f"{source.seconds + int(length):g}"
            shown_body = dict(body)
        body["video"] = video
        shown_body["video"] = {**video, **shown_video}
        return Prepared(params, {**body, **extra}, {**shown_body, **extra}, "/generations",
                        size=size, seconds=seconds)  # fmt: skip

    @staticmethod
    def _frame(params: CreateParams) -> tuple[str, str]:
        if params.size is not None:
            tier = AGENTS_SIZES.get(params.size)
            if tier is None:
                raise bad_request(
                    "invalid_size",
                    f"size {params.size!r} is not available for Luma {params.model}; "
                    f"allowed: {', '.join(AGENTS_SIZES)}.",
                    "size",
                )
            return tier
        return params.aspect_ratio or "16:9", params.resolution or "720p"

    def _anchors(self, params: CreateParams) -> dict[str, tuple[Any, Any]]:
        """`video.start_frame` / `end_frame` as ImageRefs (a URL, or inline `data` +
        `media_type`); an extension's start frame is the source generation."""
        out: dict[str, tuple[Any, Any]] = {}
        if params.operation is Operation.EXTEND:
            ref = {"generation_id": source_job(params, "Luma")}
            out["start_frame"] = (ref, ref)
        elif params.input_reference is not None:
            out["start_frame"] = self._image_ref(params.input_reference, "input_reference")
        if params.last_frame is not None:
            out["end_frame"] = self._image_ref(params.last_frame, "last_frame")
        return out

    @staticmethod
    def _image_ref(ref: InputReference, param: str) -> tuple[dict[str, str], dict[str, str]]:
        """An ImageRef and its `raw_request` form: the Agents API takes inline images."""
        if ref.image_url and ref.image_url.startswith(("http://", "https://")):
            return {"url": ref.image_url}, {"url": ref.image_url}
        data, mime = ref.data, ref.content_type
        if data is None and ref.image_url and ref.image_url.startswith("data:"):
            head, _, payload = ref.image_url.partition(",")
            mime = head[5:].split(";")[0]
            shown = {"data": f"<{len(payload)} chars>", "media_type": mime}
            return {"data": payload, "media_type": mime}, shown
        if data is None:
            raise bad_request(
                "unsupported_input_reference",
                "Luma cannot read file ids; upload the image or give its URL.",
                param,
            )
        encoded = image_data_url(data, mime).partition(",")[2]
        mime = (mime or "image/png").split(";")[0]
        shown = {"data": f"<{len(data)} bytes>", "media_type": mime}
        return {"data": encoded, "media_type": mime}, shown

    @staticmethod
    def _edit_source(params: CreateParams) -> tuple[dict[str, str], dict[str, str]]:
        """`source`: the Luma generation when the source was made here, else its URL, else
        its bytes inline."""
        source = params.source
        if source is not None and source.upstream_id:
            ref = {"generation_id": source.upstream_id}
            return ref, ref
        uri = source_uri(params, "Luma", max_data_url=AGENTS_MAX_VIDEO_DATA_URL, https_only=False)
        if not uri.startswith("data:"):
            return {"url": uri}, {"url": uri}
        head, _, payload = uri.partition(",")
        mime = head[5:].split(";")[0]
        return (
            {"data": payload, "media_type": mime},
            {"data": f"<{len(payload)} chars>", "media_type": mime},
        )

    def to_video(self, body: Any) -> UpstreamVideo:
        body = self.expect_object(body, "answered without a generation object")
        status = STATUS_MAP.get(str(body.get("state")), "in_progress")
        error = None
        if status == "failed":
            code = body.get("failure_code")
            error = {
                "code": AGENTS_FAILURES.get(str(code), Failure.UNKNOWN),
                "message": str(body.get("failure_reason") or code or "Luma reported a failure."),
            }
        return UpstreamVideo(
            id=body["id"],
            status=status,  # type: ignore[arg-type]
            progress=100 if status == "completed" else 0,
            created_at=iso_to_unix(body.get("created_at")) or int(time.time()),
            completed_at=int(time.time()) if status in TERMINAL else None,
            model=body.get("model"),
            error=error,
            raw=body,
        )

    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + "/generations"
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        video = self.to_video(body)
        video.model = video.model or prepared.params.model
        video.prompt = prepared.params.prompt
        video.size, video.seconds = prepared.size, prepared.seconds
        return video

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """`output[0].url`, read fresh (presigned for an hour), fetched without the key."""
        body = await self._generation(video_id, key, ctx)
        video = self.to_video(body)
        if video.status != "completed":
            raise not_ready(
                self.id, f"Luma generation {video_id!r} is {video.status}; it has no output yet."
            )
        output = body.get("output")
        url = None
        if isinstance(output, list):
            url = next(
                (o.get("url") for o in output if isinstance(o, Mapping) and o.get("url")), None
            )
        if not isinstance(url, str):
            raise self.bad_response(f"Luma generation {video_id!r} completed without output.", body)
        return await self.stream_asset(url, FALLBACK_TYPES["video"], ctx=ctx)
