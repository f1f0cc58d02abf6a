"""`luma`: Luma Dream Machine (api.lumalabs.ai/dream-machine/v1, Ray video models).

A job is a Luma generation: `POST /generations/video`, then `GET /generations/{id}` until
`state` is completed or failed. OpenAI's `size` becomes Luma's `aspect_ratio` plus a
`resolution` named by the short edge (1280x720 -> 16:9 at 720p), `seconds` its `duration`
("5s"/"9s"); both are checked before any upstream call. An input image must be a URL Luma
can fetch: Luma's docs say hosting it yourself "is the only way to pass an image", so
uploads and data: URLs are refused with a 400 instead of failing later upstream. Luma lists
generations newest first (read after a lost create), deletes them, and gives each video a
still image (`assets.image`), served as the thumbnail with its real content type.

Sources: lumalabs/lumaai-python @c00ac17 (types/generation.py, generation_list_response.py,
generations/video_create_params.py, resources/generations), the Dream Machine OpenAPI 1.1.0
(Error `{"detail"}`, 201 create, 204 delete, list limit=100/offset=0 defaults) and
docs.lumalabs.ai/docs/video-generation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import UpstreamKey
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
    Prepared,
    UpstreamVideo,
)
from .convert import iso_to_unix, parse_size
from .failures import not_ready, variant_missing
from .http import HttpProvider
from .params import ExtraKind, coerce_extras, refuse_reserved
from .recovery import pending_while_running

DEFAULT_BASE_URL = "https://api.lumalabs.ai/dream-machine/v1"
STATUS_MAP: dict[str, str] = {
    "queued": "queued",
    "dreaming": "in_progress",
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
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
# Resolution label by the short edge in pixels (inferred: 720p = 1280x720 / 720x1280).
RESOLUTIONS: dict[int, str] = {540: "540p", 720: "720p", 1080: "1080p", 2160: "4k"}


def _sizes() -> dict[str, tuple[str, str]]:
    """Every OpenAI `WxH` Luma can render -> (aspect_ratio, resolution)."""
    sizes: dict[str, tuple[str, str]] = {}
    for label in ASPECT_RATIOS:
        a, b = (int(x) for x in label.split(":"))
        for short, resolution in RESOLUTIONS.items():
            w, h = (short * a // b, short) if a >= b else (short, short * b // a)
            sizes[f"{w}x{h}"] = (label, resolution)
    return sizes


SIZES = _sizes()
SIZE_OF = {value: size for size, value in SIZES.items()}
DEFAULT_SIZE = "1280x720"


@dataclass(frozen=True)
class ModelSpec:
    durations: tuple[str, ...]  # OpenAI seconds
    resolutions: tuple[str, ...]
    sends_quality: bool  # False: the model takes neither `duration` nor `resolution`


MODELS: dict[str, ModelSpec] = {
    "ray-2": ModelSpec(("5", "9"), tuple(RESOLUTIONS.values()), True),
    "ray-flash-2": ModelSpec(("5", "9"), tuple(RESOLUTIONS.values()), True),
    # Ray 1.6 predates the duration/resolution parameters (inferred: 5 s at 720p).
    "ray-1-6": ModelSpec(("5",), ("720p",), False),
}
# Body fields the adapter derives from the OpenAI request (checked in this order).
DERIVED = {
    "aspect_ratio": "size",
    "duration": "seconds",
    "generation_type": "endpoint (always 'video')",
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
}
# When the CDN declares only a generic byte type and the URL has no telling extension.
FALLBACK_TYPES = {"video": "video/mp4", "thumbnail": "image/jpeg"}


def failure_code(reason: str | None) -> str:
    text = (reason or "").lower()
    for needle, code in FAILURE_MAP.items():
        if needle in text:
            return code
    return Failure.UNKNOWN


class LumaProvider(HttpProvider):
    type_name = "luma"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.DELETE,
            Capability.IMAGE_INPUT,
            Capability.THUMBNAIL,
        }
    )
    default_poll_after_ms = 3000  # Luma states no rate; its docs' polling loop sleeps 3 s

    default_base_url = DEFAULT_BASE_URL

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

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The JSON body for a create; every check that needs no upstream call."""
        spec = MODELS.get(params.model)
        if spec is None:
            raise bad_request(
                "unsupported_model",
                f"Luma model {params.model!r} is not supported; supported: {', '.join(MODELS)}.",
                "model",
            )
        size = params.size or DEFAULT_SIZE
        dims = parse_size(size)
        found = SIZES.get(f"{dims[0]}x{dims[1]}") if dims else None
        if found is None or found[1] not in spec.resolutions:
            allowed = ", ".join(s for s, (_, res) in SIZES.items() if res in spec.resolutions)
            raise bad_request(
                "invalid_size",
                f"size {size!r} is not available for Luma {params.model}; allowed: {allowed}.",
                "size",
            )
        seconds = params.seconds or spec.durations[0]
        if seconds not in spec.durations:
            raise bad_request(
                "invalid_seconds",
                f"seconds {seconds!r} is not available for Luma {params.model}; "
                f"allowed: {', '.join(spec.durations)}.",
                "seconds",
            )
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        body: dict[str, Any] = {
            "generation_type": "video",
            "model": params.model,
            "prompt": params.prompt,
            "aspect_ratio": found[0],
            **extra,
        }
        if spec.sends_quality:
            body["resolution"] = found[1]
            body["duration"] = f"{seconds}s"
        if params.input_reference is not None:
            keyframes = dict(extra.get("keyframes") or {})
            if "frame0" in keyframes:
                raise bad_request(
                    "invalid_parameter",
                    "keyframes.frame0 and input_reference both set the first frame; give one.",
                    "keyframes",
                )
            keyframes["frame0"] = {"type": "image", "url": self._image_url(params.input_reference)}
            body["keyframes"] = keyframes
        return Prepared(params, body, body, size=SIZE_OF[found], seconds=seconds)

    @staticmethod
    def _image_url(ref: InputReference) -> str:
        url = ref.image_url or ""
        if url.startswith(("http://", "https://")):
            return url
        what = "a file id" if ref.file_id else "an uploaded image" if ref.data else "a data: URL"
        raise bad_request(
            "input_reference_url_required",
            f"Luma cannot take {what}: it fetches keyframe images from a URL (its docs: "
            "'upload and use your own cdn image urls, currently this is the only way to "
            "pass an image'). Host the image and send input_reference={'image_url': "
            "'https://...'}.",
            "input_reference",
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
        url = f"{self._base(key)}/generations/video"
        body = await self.call_api("POST", url, key, ctx, json=prepared.body)
        video = self.to_video(body)
        video.model = video.model or prepared.params.model
        video.prompt = video.prompt or prepared.params.prompt
        video.size = video.size or prepared.size
        video.seconds = video.seconds or prepared.seconds
        return video

    async def _generation(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}/generations/{video_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._generation(video_id, key, ctx))

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
