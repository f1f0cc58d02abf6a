"""`openai`: the OpenAI Videos API, and anything that speaks it (Azure v1, resellers).

This is the reference adapter: the gateway's public surface has the same shape, so mapping
is mostly a matter of ids and credentials. Options: `auth: bearer` (default) or `api-key`
(Azure's header), `extra_headers` for fixed headers such as `OpenAI-Organization`.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    Prepared,
    UpstreamVideo,
)
from .http import HttpProvider
from .media import decode_data_url
from .multipart import Multipart
from .recovery import pending_while_running

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
        }
    )
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

    def prepare(self, params: CreateParams) -> Prepared:
        """The multipart create form: size and seconds checked against what the API takes,
        the rest passed through as the caller sent it (the upstream checks it itself)."""
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
        return Prepared(params, form, shown, size=params.size, seconds=params.seconds)

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
        url = f"{self._base(key)}/videos"
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
