"""The `/v1/videos` surface: create, list, retrieve, content, remix and delete (edits,
extensions and characters: `edits.py`).

Each handler parses the request, calls its service (`lifecycle/`), and presents the answer
(OpenAI's Video object plus Bifrost's `extra_fields`); errors become envelopes in
`context.endpoint`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import GatewayError, bad_request, whole_number
from ..gateway import Gateway
from ..governance.auth import Principal
from ..lifecycle.call import Call
from ..lifecycle.create import Created
from ..lifecycle.reading import Source, Stored
from ..lifecycle.requests import CreateRequest
from ..providers.base import VARIANT_TYPES, Content
from ..video import Video
from .cache_headers import parse_options
from .context import endpoint, principal, respond
from .files import FileAsset, open_asset
from .parsing import parse_create, parse_remix_prompt


def present(video: Video, call: Call, **more: Any) -> dict[str, Any]:
    body = video.openai()
    body["extra_fields"] = call.extra_fields(video.model_deployment, **more)
    return body


# Path prefix -> the provider type of that integration mount (a bare model goes there).
MOUNTS = (("/openai/", "openai"),)


def mount_of(path: str) -> str | None:
    return next((kind for prefix, kind in MOUNTS if path.startswith(prefix)), None)


# -- create ---------------------------------------------------------------------------------
async def run_create(
    gw: Gateway, request: Request, who: Principal, body: CreateRequest, call: Call
) -> Created:
    """The create service with what every create surface reads from its headers: the
    Idempotency-Key and, for a caller who may use it, Bifrost's cache headers."""
    options = (
        parse_options(request.headers, gw.cache.config, gw.cache.semantic_available)
        if gw.cache.serves(who)
        else None
    )
    return await gw.create(
        who,
        body,
        call,
        idempotency_key=request.headers.get("idempotency-key"),
        cache_options=options,
    )


@endpoint("video_generation")
async def create_video(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    body = await parse_create(request, gw.settings.limits)
    body.mount = mount_of(request.url.path.removeprefix(request.scope.get("root_path", "")))
    if body.names_inputs:  # stored characters named by id
        await gw.inputs.resolve(who, body, call)
    created = await run_create(gw, request, who, body, call)
    headers = {"idempotent-replayed": "true"} if created.replayed else None
    return respond(call, present(created.video, call, **created.extra), headers)


# -- list -------------------------------------------------------------------------------------
@endpoint("video_list")
async def list_videos(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    q = request.query_params
    limit_raw = q.get("limit", "20")
    limit = whole_number(limit_raw, 3)
    if limit is None or not 1 <= limit <= 100:
        raise bad_request("invalid_limit", "limit must be a whole number from 1 to 100.", "limit")
    order = q.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("invalid_order", "order must be 'asc' or 'desc'.", "order")
    provider = q.get("provider") or request.headers.get("x-bf-video-list-provider") or None
    page = await gw.reader.page(
        who,
        provider=provider,
        after=q.get("after") or None,
        limit=limit,
        order=order,
        call=call,
    )
    # the Video objects arrive as JSON from the store (`store/listing.py`): no per-row work
    return respond(
        call,
        {
            "object": "list",
            "data": orjson.Fragment(page.data),
            "first_id": page.first_id,
            "last_id": page.last_id,
            "has_more": page.has_more,
            "extra_fields": call.extra_fields(),
        },
    )


# -- retrieve ---------------------------------------------------------------------------------
@endpoint("video_retrieve")
async def retrieve_video(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    video = await gw.reader.retrieve(who, request.path_params["video_id"], call)
    body = present(video, call, mirrored=video.mirror_state == "done")
    poll_ms = gw.routing.poll_after_ms(video.provider, 0)
    return respond(call, body, {"openai-poll-after-ms": str(poll_ms)})


# -- content ----------------------------------------------------------------------------------
@endpoint("video_download")
async def video_content(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    return await content_for(gw, request, who, request.path_params["video_id"], call)


async def content_for(
    gw: Gateway, request: Request, who: Principal, video_id: str, call: Call
) -> Response:
    """The bytes of `video_id`'s `?variant=` for `who` (also the UI's ticketed player URL)."""
    variant = request.query_params.get("variant", "video")
    if variant not in VARIANT_TYPES:
        raise bad_request(
            "invalid_variant", "variant must be one of video, thumbnail, spritesheet.", "variant"
        )
    wanted = request.headers.get("range", "")
    if SINGLE_RANGE.fullmatch(wanted) and wanted != "bytes=-":
        call.ctx.byte_range = wanted  # passed on if the bytes come from the provider
    source = await gw.reader.content(who, video_id, variant, call)
    return await serve_content(gw, request, source, call)


async def serve_content(gw: Gateway, request: Request, source: Source, call: Call) -> Response:
    """The bytes of `source`: from the asset store (ranges honoured) or streamed upstream."""
    headers = {
        "x-request-id": call.event_id,
        "x-bf-provider": source.provider.id,
        "Accept-Ranges": "bytes",
    }
    if source.stored is not None:
        headers["Content-Disposition"] = _disposition(source.video, source.stored.content_type)
        return await _from_store(gw, request, source.stored, headers)
    content = source.upstream
    assert content is not None
    headers["Content-Disposition"] = _disposition(source.video, content.content_type)
    if content.content_length is not None:
        headers["Content-Length"] = str(content.content_length)
    if content.content_range is not None:  # the provider honoured the Range: seeking works
        headers["Content-Range"] = content.content_range
        return StreamingResponse(
            _drain(content), status_code=206, media_type=content.content_type, headers=headers
        )
    headers.pop("Accept-Ranges")
    return StreamingResponse(_drain(content), media_type=content.content_type, headers=headers)


async def _from_store(
    gw: Gateway, request: Request, stored: Stored, headers: dict[str, str]
) -> Response:
    """Serve a mirrored asset, honouring a single `Range: bytes=…` for seeking players.

    Ownership was checked before this is reached. An S3 store set to redirect answers 307
    to a presigned GET (the client repeats its Range there); a local file is sent by the
    server itself where it can (`files.FileAsset`); anything else streams through obstore.
    """
    signed = gw.assets.signed_url(stored.key)
    if signed is not None:
        return Response(
            status_code=307,
            headers={
                "Location": signed,
                "Cache-Control": "no-store",  # the URL expires: never reuse the answer
                "x-request-id": headers["x-request-id"],
                "x-bf-provider": headers["x-bf-provider"],
            },
        )
    size = stored.size
    span = parse_range(request.headers.get("range"), size)
    start, end = span if span is not None else (0, size)
    path = gw.assets.local_path(stored.key)
    if path is not None:
        fd = open_asset(path)
        if fd is None:
            raise _gone()
        status = 200 if span is None else 206
        _span_headers(headers, span, size)
        return FileAsset(
            fd,
            path,
            start,
            end,
            whole=span is None,
            status_code=status,
            media_type=stored.content_type,
            headers=headers,
        )
    body = await gw.assets.open(stored.key, start, None if span is None else end)
    if body is None:  # purged or deleted between the row read and now
        raise _gone()
    _span_headers(headers, span, size)
    return StreamingResponse(
        body,
        status_code=200 if span is None else 206,
        media_type=stored.content_type,
        headers=headers,
    )


def _span_headers(headers: dict[str, str], span: tuple[int, int] | None, size: int) -> None:
    if span is None:
        headers["Content-Length"] = str(size)
        return
    headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{size}"
    headers["Content-Length"] = str(span[1] - span[0])


def _gone() -> GatewayError:
    return GatewayError(
        404,
        "video_content_expired",
        "The stored content of this video has been removed.",
        param="variant",
    )


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """(start, end-exclusive) of a single byte range; None to send the whole body.

    Multiple ranges are answered with the whole body (allowed by RFC 9110); a range that
    cannot be satisfied is a 416 in the envelope.
    """
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    first, sep, last = value[6:].strip().partition("-")
    if not sep:
        return None
    unsatisfiable = GatewayError(
        416,
        "range_not_satisfiable",
        f"Range {value!r} is outside 0-{size - 1}.",
        param="Range",
        headers={"Content-Range": f"bytes */{size}"},
    )
    first_n, last_n = whole_number(first, 18), whole_number(last, 18)
    if not first:  # suffix: the last N bytes
        if not last_n:
            raise unsatisfiable
        return max(0, size - last_n), size
    if first_n is None or (last and last_n is None):
        return None
    start = first_n
    end = min(last_n + 1, size) if last_n is not None else size
    if start >= size or end <= start:
        raise unsatisfiable
    return start, end


SINGLE_RANGE = re.compile(r"bytes=\d{0,18}-\d{0,18}")  # one range, the only kind passed on
SUFFIXES = {"video/mp4": "mp4", "image/webp": "webp", "image/jpeg": "jpg", "image/png": "png"}


def _disposition(video: Video, content_type: str) -> str:
    """`inline; filename=…` named by the public token, suffixed by the real media type."""
    suffix = SUFFIXES.get(content_type, content_type.rsplit("/", 1)[-1])
    return f'inline; filename="{video.id.rsplit(":", 1)[0]}.{suffix}"'


async def _drain(content: Content) -> AsyncIterator[bytes]:
    try:
        async for chunk in content.chunks:
            yield chunk
    finally:
        await content.close()


# -- remix ------------------------------------------------------------------------------------
@endpoint("video_remix")
async def remix_video(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)

    async def read_prompt() -> str:
        return await parse_remix_prompt(request, gw.settings.limits)

    video = await gw.remix(who, request.path_params["video_id"], read_prompt, call)
    return respond(call, present(video, call))


# -- delete -----------------------------------------------------------------------------------
@endpoint("video_delete")
async def delete_video(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    deleted = await gw.delete(who, request.path_params["video_id"], call)
    return respond(
        call,
        {
            "id": deleted.video.id,
            "object": "video.deleted",
            "deleted": True,
            "extra_fields": call.extra_fields(
                deleted.video.model_deployment,
                upstream_deleted=deleted.outcome == "done",
                upstream_deletion=deleted.outcome,
            ),
        },
    )
