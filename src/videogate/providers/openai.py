"""`openai`: the OpenAI Videos API contract, as OpenAI-compatible resellers and Azure serve it.

OpenAI itself stopped serving video on 2026-09-24 (openai-python @e43b422 marks the Sora
methods "scheduled to permanently shut down on September 24, 2026"); the wire format lives
on wherever a provider mirrors it: Azure's v1 API (the `azure` adapter is this one with
Azure's endpoint and auth), and resellers that expose `/v1/videos`. Point `base_url` at
one of those. This is the reference adapter: the gateway's public surface has the same
shape, so mapping is mostly a matter of ids and credentials.

Edits and extensions are the API's own: `POST /videos/edits` (`prompt`, `video`) and
`POST /videos/extensions` (`prompt`, `seconds` of the new segment, `video`), multipart,
where `video` is `video[id]` of the upstream job when the source was made here, or the
source's bytes as an upload. An extension's answer reports the stitched total `seconds`.

Options: `auth: bearer` (default) or `api-key` (Azure's header), `extra_headers` for fixed
headers such as `OpenAI-Organization`, and `sizes` / `seconds` / `extend_seconds` for a
deployment that takes other values than OpenAI's (the model table follows them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from ..config import UpstreamKey
from ..errors import UpstreamError, bad_request
from .base import (
    TERMINAL,
    VARIANT_TYPES,
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
from .convert import aspect_ratio, parse_size
from .http import HttpProvider
from .media import decode_data_url
from .multipart import Multipart
from .recovery import pending_while_running
from .sources import require_source
from .specs import ModelSpec, find_spec

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Upstream status -> OpenAI public status. OpenAI's own are the identity; the rest appear on
# OpenAI-compatible resellers and are mapped rather than leaked (the SDK rejects others).
STATUS_MAP: dict[str, str] = {
    "queued": "queued",
    "pending": "queued",
    "in_progress": "in_progress",
    "processing": "in_progress",
    "running": "in_progress",
    "completed": "completed",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "canceled": "failed",
}
DATA_URL_PREFIX = "data:"
# What OpenAI's Videos API takes (API reference: `seconds` "4" | "8" | "12", `size` one of
# four); resellers and Azure deployments that take others set `options.sizes` / `seconds`.
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
SECONDS = ("4", "8", "12")
# `/videos/extensions` `seconds`: "Length of the newly generated extension segment in
# seconds (allowed values: 4, 8, 12, 16, 20)."
EXTEND_SECONDS = ("4", "8", "12", "16", "20")
ROUTES: dict[Operation, str] = {
    Operation.CREATE: "/videos",
    Operation.EDIT: "/videos/edits",
    Operation.EXTEND: "/videos/extensions",
}
_SORA = ModelSpec(
    operations=frozenset({"create", "edit", "extend"}),
    seconds=(4, 8, 12),
    sizes=SIZES[:2],
    aspect_ratios=("9:16", "16:9"),
    audio=True,
    audio_default=True,  # Sora renders a sound track with every clip; it cannot be off
    image_input=True,
    max_extend_seconds=20,
)
# Sora 2 renders 720p portrait/landscape; Pro adds 1024x1792 / 1792x1024 (OpenAI's video
# generation guide). Other models (a reseller's own) are undeclared: they pass through.
MODELS: dict[str, ModelSpec] = {
    "sora-2": _SORA,
    "sora-2-20*": _SORA,
    "sora-2-pro*": replace(_SORA, sizes=SIZES, aspect_ratios=("9:16", "16:9", "4:7", "7:4")),
}


def form_value(value: Any) -> str:
    """Extra parameters travel as multipart strings; structures are JSON-encoded."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class OpenAIProvider(HttpProvider):
    type_name = "openai"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.REMIX,
            Capability.DELETE,
            Capability.IMAGE_INPUT,
            Capability.THUMBNAIL,
            Capability.SPRITESHEET,
            Capability.EDIT,
            Capability.EXTEND,
        }
    )
    models = MODELS
    default_poll_after_ms = 2000

    default_base_url = DEFAULT_BASE_URL

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        headers = dict(self.config.options.get("extra_headers", {}))
        if self.config.options.get("auth", "bearer") == "api-key":
            headers["api-key"] = key.value
        else:
            headers["Authorization"] = f"Bearer {key.value}"
        return headers

    def to_video(self, body: Any) -> UpstreamVideo:
        body = self.expect_object(body, "answered without a video object")
        status = STATUS_MAP.get(str(body.get("status")), "in_progress")
        err = body.get("error")
        return UpstreamVideo(
            id=body["id"],
            status=status,  # type: ignore[arg-type]
            progress=int(body.get("progress") or (100 if status in TERMINAL else 0)),
            created_at=int(body.get("created_at") or 0),
            completed_at=body.get("completed_at"),
            expires_at=body.get("expires_at"),
            model=body.get("model"),
            prompt=body.get("prompt"),
            size=body.get("size"),
            seconds=None if body.get("seconds") is None else str(body["seconds"]),
            remixed_from=body.get("remixed_from_video_id"),
            error=(
                {
                    "code": str(err.get("code") or "upstream_failed"),
                    "message": str(err.get("message") or ""),
                }
                if isinstance(err, Mapping)
                else None
            ),
            raw=body,
        )

    def spec(self, model: str) -> ModelSpec | None:
        """The model's table entry, with `options.sizes` / `seconds` / `extend_seconds` laid
        over it: a deployment that takes other values says so once, and both the catalogue
        and the check follow."""
        found = find_spec(self.models, model)
        if found is None:
            return None
        options = self.config.options
        if "sizes" in options:
            found = replace(found, sizes=tuple(str(v) for v in options["sizes"]))
        if "seconds" in options:
            found = replace(found, seconds=tuple(int(v) for v in options["seconds"]))
        if "extend_seconds" in options:
            longest = max(int(v) for v in options["extend_seconds"])
            found = replace(found, max_extend_seconds=longest)
        return found

    def prepare(self, params: CreateParams) -> Prepared:
        """The multipart form for a create, an edit or an extension: size and seconds
        checked against what the API takes, the rest passed through as the caller sent it
        (the upstream checks it itself)."""
        if params.generate_audio is False:
            raise bad_request(
                "unsupported_audio",
                f"{params.model} always renders sound; generate_audio cannot be false.",
                "generate_audio",
            )
        if params.operation is not Operation.CREATE:
            return self._prepare_from_source(params)
        if params.size is None and params.aspect_ratio is not None:
            params = replace(params, size=self._size_for(params.aspect_ratio))
        for name, option, default in (("size", "sizes", SIZES), ("seconds", "seconds", SECONDS)):
            value = getattr(params, name)
            allowed = [str(v) for v in self.config.options.get(option, default)]
            if value is not None and value not in allowed:
                raise bad_request(
                    f"invalid_{name}",
                    f"{name} {value!r} is not one {self.id!r} takes; allowed: "
                    f"{', '.join(allowed)} (options.{option} to change).",
                    name,
                )
        form = Multipart()
        shown: dict[str, Any] = {"prompt": params.prompt, "model": params.model}
        form.add_field("prompt", params.prompt)
        form.add_field("model", params.model)
        for name in ("seconds", "size"):
            value = getattr(params, name)
            if value is not None:
                form.add_field(name, value)
                shown[name] = value
        ref = params.input_reference
        if ref is not None:
            self._add_reference(form, ref, shown)
        for name, value in params.extra.items():
            form.add_field(name, form_value(value))
            shown[name] = value
        return Prepared(
            params, form, shown, ROUTES[Operation.CREATE], size=params.size, seconds=params.seconds
        )

    def _size_for(self, ratio: str) -> str:
        """The first size this deployment takes whose shape is `ratio` (the API has no
        aspect-ratio field, only `size`)."""
        allowed = [str(v) for v in self.config.options.get("sizes", SIZES)]
        for size in allowed:
            dims = parse_size(size)
            if dims and aspect_ratio(*dims) == ratio:
                return size
        raise bad_request(
            "invalid_aspect_ratio",
            f"{self.id!r} renders no size of aspect ratio {ratio}; sizes: {', '.join(allowed)}.",
            "aspect_ratio",
        )

    def _prepare_from_source(self, params: CreateParams) -> Prepared:
        """`/videos/edits` or `/videos/extensions`: the source as `video[id]` (a job of
        this upstream) or as uploaded bytes; the model, size and length follow the source."""
        source = require_source(params, self.id)
        extend = params.operation is Operation.EXTEND
        if params.size is not None or params.input_reference is not None:
            what = "size" if params.size is not None else "input_reference"
            raise bad_request(
                f"invalid_{what}",
                f"An {params.operation.value} keeps the source video's frame; omit {what}.",
                what,
            )
        form = Multipart()
        form.add_field("prompt", params.prompt)
        shown: dict[str, Any] = {"prompt": params.prompt}
        seconds = None
        if extend:
            allowed = [str(v) for v in self.config.options.get("extend_seconds", EXTEND_SECONDS)]
            if params.seconds not in allowed:
                raise bad_request(
                    "invalid_seconds",
                    f"An extension on {self.id!r} adds {', '.join(allowed)} seconds "
                    f"(seconds is the new segment); got {params.seconds!r}.",
                    "seconds",
                )
            form.add_field("seconds", params.seconds)
            shown["seconds"] = params.seconds
            if source.seconds is not None:
                seconds = f"{source.seconds + int(params.seconds):g}"
        elif params.seconds is not None:
            raise bad_request(
                "invalid_seconds",
                "An edit keeps the source video's length; omit seconds.",
                "seconds",
            )
        else:
            seconds = None if source.seconds is None else f"{source.seconds:g}"
        if source.upstream_id:
            form.add_field("video[id]", source.upstream_id)
            shown["video"] = {"id": source.upstream_id}
        elif source.data is not None:
            form.add_file(
                "video", source.data, filename="source.mp4", content_type=source.content_type
            )
            shown["video"] = f"<{len(source.data)} bytes {source.content_type}>"
        else:
            raise bad_request(
                "source_not_on_provider",
                f"{self.id!r} {params.operation.value}s a video by its id there or from its "
                "bytes; this source is neither (mirror it to the gateway first).",
                "video",
            )
        for name, value in params.extra.items():
            form.add_field(name, form_value(value))
            shown[name] = value
        return Prepared(
            params, form, shown, ROUTES[params.operation], size=source.size, seconds=seconds
        )

    @staticmethod
    def _add_reference(form: Multipart, ref: InputReference, shown: dict[str, Any]) -> None:
        data, mime, filename = ref.data, ref.content_type, ref.filename
        if data is None and ref.image_url and ref.image_url.startswith(DATA_URL_PREFIX):
            data, mime = decode_data_url(ref.image_url)
            filename = "input_reference." + mime.rsplit("/", 1)[-1]
        if data is not None:
            form.add_file(
                "input_reference",
                data,
                filename=filename or "input_reference",
                content_type=mime or "application/octet-stream",
            )
            shown["input_reference"] = f"<{len(data)} bytes {mime}>"
        elif ref.image_url:
            form.add_field("input_reference[image_url]", ref.image_url)
            shown["input_reference"] = {"image_url": ref.image_url}
        elif ref.file_id:
            form.add_field("input_reference[file_id]", ref.file_id)
            shown["input_reference"] = {"file_id": ref.file_id}

    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + (prepared.route or ROUTES[Operation.CREATE])
        body = await self.call_api("POST", url, key, ctx, data=prepared.body, shown=prepared.shown)
        return self.to_video(body)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = f"{self._base(key)}/videos/{video_id}"
        return self.to_video(await self.call_api("GET", url, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        headers = {**self._headers(key), "Accept": "application/binary"}
        result = await self.stream(
            f"{self._base(key)}/videos/{video_id}/content",
            headers=headers,
            params={"variant": variant},
            ctx=ctx,
        )
        if result.content_type in ("application/binary", "application/octet-stream"):
            result.content_type = VARIANT_TYPES[variant]
        return result

    async def remix(
        self, video_id: str, prompt: str, key: UpstreamKey, ctx: CallContext
    ) -> UpstreamVideo:
        url = f"{self._base(key)}/videos/{video_id}/remix"
        return self.to_video(await self.call_api("POST", url, key, ctx, json={"prompt": prompt}))

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        try:
            _, body, _ = await self.request(
                "DELETE",
                f"{self._base(key)}/videos/{video_id}",
                headers=self._headers(key),
                ctx=ctx,
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone upstream")
            if exc.status in (400, 409):
                # OpenAI deletes only completed or failed videos: wait for the job to end.
                pending = await pending_while_running(self, video_id, key, ctx, exc)
                if pending is not None:
                    return pending
            raise
        ctx.record(response=body)
        return DeleteResult(deleted=bool(isinstance(body, Mapping) and body.get("deleted", True)))
