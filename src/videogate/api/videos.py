"""The `/v1/videos` surface: create, list, retrieve, content, remix and delete."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import GatewayError, bad_request, not_found
from ..gateway import Gateway
from ..ids import parse_video_id, public_id
from ..jobs import creation
from ..jobs.deletion import INLINE_GRACE_SECONDS, carry_out
from ..jobs.poller import apply, settle_ended, values_for
from ..providers.base import (
    TERMINAL,
    VARIANT_CAPABILITY,
    VARIANT_TYPES,
    CallContext,
    Capability,
    Content,
    CreateParams,
    Provider,
    UpstreamVideo,
)
from ..store.videos import fields_from_upstream
from ..store.webhooks import WebhookStore
from .auth import LOCAL, Principal, bearer
from .envelope import JSON, new_event_id
from .parsing import parse_create, parse_remix_prompt

Row = dict[str, Any]
CALL = "videogate.call"  # the scope key of the request's Call
TRUE = ("1", "true", "yes")
INLINE_ATTEMPT_SECONDS = 10.0
# A create still marked started after this long was lost with its process.
STARTED_GIVE_UP = 300.0


class Call:
    """One request's bookkeeping: its id, type, timer and what goes into `extra_fields`."""

    __slots__ = (
        "ctx",
        "event_id",
        "gw",
        "model_requested",
        "provider",
        "request",
        "request_type",
        "started",
    )

    def __init__(self, gw: Gateway, request: Request, request_type: str) -> None:
        self.gw = gw
        self.request = request
        self.request_type = request_type
        self.started = time.perf_counter()
        self.event_id = new_event_id()
        self.provider: str | None = None
        self.model_requested: str | None = None
        request.scope[CALL] = self  # for the error handlers; `dispatch` unlinks it
        raw = gw.settings.raw
        headers = request.headers
        self.ctx = CallContext(
            capture_raw=raw.send_back_raw_request
            or raw.send_back_raw_response
            or headers.get("x-bf-send-back-raw-response", "").lower() in TRUE
            or headers.get("x-bf-send-back-raw-request", "").lower() in TRUE
        )

    async def principal(self) -> Principal:
        if not self.gw.settings.auth.enabled:
            return LOCAL
        return await self.gw.auth.from_token(bearer(self.request.headers))

    def extra_fields(self, deployment: str | None = None, **more: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "request_type": self.request_type,
            "provider": self.provider,
            "model_requested": self.model_requested,
            "model_deployment": deployment,
            "latency": int((time.perf_counter() - self.started) * 1000),
        }
        if self.ctx.capture_raw:
            fields["raw_request"] = self.ctx.raw_request
            fields["raw_response"] = self.ctx.raw_response
        fields.update(more)
        return fields

    def respond(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSON:
        return JSON(body, headers={"x-request-id": self.event_id, **(headers or {})})

    async def owned_video(self, principal: Principal) -> Row:
        """The path's video if the caller may see it; tags errors with its provider."""
        raw = self.request.path_params["video_id"]
        _, self.provider = parse_video_id(raw)
        row = await self.gw.owned_video(principal, raw)
        self.model_requested = row["model_requested"]
        return row


def video_object(row: Row) -> dict[str, Any]:
    """OpenAI's Video object: every key present, null where unknown."""
    error = (
        {"code": row["error_code"], "message": row["error_message"] or ""}
        if row["status"] == "failed" or row["error_code"]
        else None
    )
    if error is not None and error["code"] is None:
        error["code"] = "generation_failed"
    return {
        "id": row["id"],
        "object": "video",
        "model": row["model_deployment"] or row["model_requested"],
        "status": row["status"],
        "progress": row["progress"],
        "created_at": row["created_at"],
        "completed_at": row["completed_at"],
        "expires_at": row["expires_at"],
        "prompt": row["prompt"],
        "size": row["size"],
        "seconds": row["seconds"],
        "remixed_from_video_id": row["remixed_from"],
        "error": error,
    }


def new_row(
    up: UpstreamVideo,
    provider: Provider,
    *,
    owner: str,
    model_requested: str,
    deployment: str,
    key_name: str,
    prompt: str,
    size: str | None,
    seconds: str | None,
    remixed_from: str | None = None,
) -> Row:
    return {
        "id": public_id(provider.public_token(up.id), provider.id),
        "provider": provider.id,
        "upstream_id": up.id,
        "model_requested": model_requested,
        "model_deployment": up.model or deployment,
        "provider_key": key_name,
        "owner": owner,
        "prompt": up.prompt if up.prompt is not None else prompt,
        "size": up.size or size,
        "seconds": up.seconds or seconds,
        "created_at": up.created_at or int(time.time()),
        "remixed_from": remixed_from,
        "assets": None,
        "extra": None,
        **fields_from_upstream(up),
    }


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


# -- create ---------------------------------------------------------------------------------
async def create_video(request: Request) -> Response:
    gw = gateway(request)
    call = Call(gw, request, "video_generation")
    principal = await call.principal()
    body = await parse_create(request, gw.settings.limits)
    call.model_requested = body.model or gw.settings.models.default_model
    planned = creation.plan(gw, body)
    subject = await gw.gov.subject(principal.key)
    for provider, params in planned:
        gw.gov.check_access(subject, provider.id, params.model)
    idem = request.headers.get("idempotency-key")
    if idem is not None:
        replay = await _idempotent_replay(gw, call, principal, body, idem, planned)
        if replay is not None:
            return replay
    # -- response cache (docs/cache.md): a hit answers now, with no reservation or cost --
    try:
        cached = await gw.cache.lookup(
            gw, request.headers, principal, subject, planned, call.model_requested or "", idem
        )
    except GatewayError:  # a bad x-bf-cache-* header
        if idem is not None:
            await gw.idempotency.release(principal.owner, idem)
        raise
    if cached is not None and cached.row is not None:
        call.provider = cached.row["provider"]
        if idem is not None:
            await gw.idempotency.set_state(
                principal.owner, idem, "done", video_id=cached.row["id"], provider=call.provider
            )
        hit = video_object(cached.row)
        hit["extra_fields"] = call.extra_fields(
            cached.row["model_deployment"], cache_debug=cached.debug()
        )
        return call.respond(hit)
    # -- end response cache --
    try:
        estimate, seconds = gw.gov.estimate(
            [(p.id, params.model, params.seconds, params.size) for p, params in planned]
        )
        try:
            reservation = await gw.gov.reserve(subject, estimate, seconds)
        except GatewayError:
            if idem is not None:
                await gw.idempotency.release(principal.owner, idem)
            raise
        try:
            started = await creation.start(gw, planned, call.ctx, gw.gov.upstream_keys(subject))
        except GatewayError as exc:
            await gw.gov.release(reservation)
            if idem is not None:
                if exc.code == "upstream_timeout":  # it may exist upstream: reconcile on retry
                    await gw.idempotency.set_state(principal.owner, idem, "unknown")
                else:
                    await gw.idempotency.release(principal.owner, idem)
            raise
        row = await _record(
            gw,
            principal,
            call,
            started.provider,
            started.params,
            started.key,
            started.video,
            idem,
            usage=lambda r: gw.gov.usage_row(
                r["id"],
                subject,
                reservation,
                started.provider.id,
                started.params.model,
                float(r["seconds"] or seconds),
                r["size"],
            ),
        )
        if row["status"] in TERMINAL:  # some providers answer a finished job at once
            await settle_ended(gw, row)
        more: dict[str, Any] = {}
        if cached is not None:  # response cache: remember this job for later creates
            await gw.cache.remember(cached, row)
            more["cache_debug"] = cached.debug()
        if started.fallback_index:
            more["fallback_index"] = started.fallback_index
        if started.notes:
            more["attempts"] = started.notes
        body_out = video_object(row)
        body_out["extra_fields"] = call.extra_fields(row["model_deployment"], **more)
        return call.respond(body_out)
    finally:
        if cached is not None:  # an identical create waiting on this one may go on
            gw.cache.done(cached)


async def _record(
    gw: Gateway,
    principal: Principal,
    call: Call,
    provider: Provider,
    params: CreateParams,
    key: Any,
    up: UpstreamVideo,
    idem: str | None,
    usage: Callable[[Row], Row] | None = None,
) -> Row:
    """Insert the new video (with its usage row, from `usage(row)`, in the same transaction)."""
    call.provider = provider.id
    row = new_row(
        up,
        provider,
        owner=principal.owner,
        model_requested=call.model_requested or "",
        deployment=params.model,
        key_name=key.name,
        prompt=params.prompt,
        size=params.size,
        seconds=params.seconds,
    )
    row.update(values_for(gw, provider, up), idempotency_key=idem)
    await gw.videos.insert(row, usage(row) if usage is not None else None)
    if idem is not None:
        await gw.idempotency.set_state(
            principal.owner, idem, "done", video_id=row["id"], provider=provider.id
        )
    return row


async def _idempotent_replay(
    gw: Gateway,
    call: Call,
    principal: Principal,
    body: Any,
    idem: str,
    planned: list[tuple[Provider, CreateParams]],
) -> Response | None:
    """The earlier create's answer for a retried `Idempotency-Key`, or None to go ahead."""
    if not 0 < len(idem) <= 255:
        raise bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 characters.",
            "Idempotency-Key",
        )
    digest = creation.request_hash(body)
    held = await gw.idempotency.claim(principal.owner, idem, digest)
    if held is None:
        return None
    if held["request_hash"] != digest:
        raise creation.idempotency_conflict(
            "This Idempotency-Key was used with a different request body."
        )
    if held["state"] == "started" and time.time() - held["started_at"] > STARTED_GIVE_UP:
        held["state"] = "unknown"  # its process died mid-create: look the job up instead
    if held["state"] == "started":
        raise creation.idempotency_conflict(
            "A create with this Idempotency-Key is still in progress; retry shortly.",
            "idempotency_in_progress",
        )
    if held["state"] == "unknown":
        found = await creation.reconcile(gw, planned, held["started_at"], call.ctx)
        if found is None:
            await gw.idempotency.set_state(principal.owner, idem, "started")
            return None  # nothing was created upstream: create it now
        provider, params, key, up = found
        row = await _record(gw, principal, call, provider, params, key, up, idem)
        out = video_object(row)
        out["extra_fields"] = call.extra_fields(row["model_deployment"], reconciled=True)
        return call.respond(out)
    replayed = await gw.videos.get(held["video_id"])
    if replayed is None:
        raise not_found(held["video_id"])
    row = replayed
    call.provider = row["provider"]
    out = video_object(row)
    out["extra_fields"] = call.extra_fields(row["model_deployment"], idempotent_replay=True)
    return call.respond(out, {"idempotent-replayed": "true"})


# -- list -------------------------------------------------------------------------------------
async def list_videos(request: Request) -> Response:
    gw = gateway(request)
    call = Call(gw, request, "video_list")
    principal = await call.principal()
    q = request.query_params
    limit_raw = q.get("limit", "20")
    if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 100:
        raise bad_request("invalid_limit", "limit must be a whole number from 1 to 100.", "limit")
    order = q.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request("invalid_order", "order must be 'asc' or 'desc'.", "order")
    provider = q.get("provider") or request.headers.get("x-bf-video-list-provider") or None
    if provider is not None:
        gw.provider(provider)
        call.provider = provider
    after = q.get("after") or None
    page = await gw.videos.page(
        owner=None if principal.is_admin else principal.owner,
        provider=provider,
        after=after,
        limit=int(limit_raw),
        order=order,
    )
    if page is None:
        raise bad_request(
            "invalid_after", f"after={after!r} names no video in this listing.", "after"
        )
    rows, has_more = page
    data = [video_object(r) for r in rows]
    return call.respond(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
            "extra_fields": call.extra_fields(),
        }
    )


# -- retrieve ---------------------------------------------------------------------------------
async def refresh(gw: Gateway, call: Call, row: Row) -> Row:
    """The row, from the store when the job has ended or the poller keeps it fresh;
    otherwise brought up to date from the provider now."""
    if row["status"] in TERMINAL:
        return row
    provider = gw.provider(row["provider"])
    if gw.settings.worker.enabled or gw.settings.worker.external:
        fresh_for = max(gw.settings.worker.stale_after_seconds, 2 * provider.poll_after_ms / 1000)
        if time.time() - row["updated_at"] < fresh_for:
            return row
    up = await provider.retrieve(
        row["upstream_id"], provider.key_named(row["provider_key"]), call.ctx
    )
    return await apply(gw, row, up)


async def retrieve_video(request: Request) -> Response:
    gw = gateway(request)
    call = Call(gw, request, "video_retrieve")
    principal = await call.principal()
    row = await call.owned_video(principal)
    row = await refresh(gw, call, row)
    body = video_object(row)
    body["extra_fields"] = call.extra_fields(
        row["model_deployment"], mirrored=row["mirror_state"] == "done"
    )
    poll_ms = gw.providers[row["provider"]].poll_after_ms if row["provider"] in gw.providers else 0
    return call.respond(body, {"openai-poll-after-ms": str(poll_ms)})


# -- content ----------------------------------------------------------------------------------
async def video_content(request: Request) -> Response:
    gw = gateway(request)
    call = Call(gw, request, "video_download")
    principal = await call.principal()
    variant = request.query_params.get("variant", "video")
    if variant not in VARIANT_TYPES:
        raise bad_request(
            "invalid_variant", "variant must be one of video, thumbnail, spritesheet.", "variant"
        )
    row = await call.owned_video(principal)
    provider = gw.provider(row["provider"])
    if not provider.supports(VARIANT_CAPABILITY[variant]):
        raise GatewayError(
            404,
            "variant_not_available",
            f"Provider {provider.id!r} does not produce a {variant}.",
            param="variant",
            provider=provider.id,
        )
    row = await refresh(gw, call, row)
    if row["status"] != "completed":
        raise GatewayError(
            409,
            "video_not_ready",
            f"Video {row['id']!r} is {row['status']}; content exists only once it is completed.",
            provider=provider.id,
        )
    headers = {
        "x-request-id": call.event_id,
        "x-bf-provider": provider.id,
        "Accept-Ranges": "bytes",
    }
    stored = (row["assets"] or {}).get(variant)
    if stored is not None:
        headers["Content-Disposition"] = _disposition(row, stored["content_type"])
        return await _from_store(gw, request, stored, headers)
    if row["mirror_state"] == "expired":
        raise GatewayError(
            404,
            "video_content_expired",
            f"The content of {row['id']!r} has passed its retention and was removed.",
            param="variant",
            provider=provider.id,
        )
    content = await provider.content(
        row["upstream_id"], variant, provider.key_named(row["provider_key"]), call.ctx
    )
    headers.pop("Accept-Ranges")
    headers["Content-Disposition"] = _disposition(row, content.content_type)
    if content.content_length is not None:
        headers["Content-Length"] = str(content.content_length)
    return StreamingResponse(_drain(content), media_type=content.content_type, headers=headers)


async def _from_store(
    gw: Gateway, request: Request, stored: dict[str, Any], headers: dict[str, str]
) -> Response:
    """Serve a mirrored asset, honouring a single `Range: bytes=…` for seeking players."""
    size = int(stored["size"])
    span = parse_range(request.headers.get("range"), size)
    start, end = span if span is not None else (0, None)
    body = await gw.assets.open(stored["key"], start, end)
    if body is None:  # purged or deleted between the row read and now
        raise GatewayError(
            404,
            "video_content_expired",
            "The stored content of this video has been removed.",
            param="variant",
        )
    if span is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(body, media_type=stored["content_type"], headers=headers)
    headers["Content-Range"] = f"bytes {start}-{span[1] - 1}/{size}"
    headers["Content-Length"] = str(span[1] - start)
    return StreamingResponse(
        body, status_code=206, media_type=stored["content_type"], headers=headers
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
    if not first:  # suffix: the last N bytes
        if not last.isdigit() or int(last) == 0:
            raise unsatisfiable
        return max(0, size - int(last)), size
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        raise unsatisfiable
    return start, end


SUFFIXES = {"video/mp4": "mp4", "image/webp": "webp", "image/jpeg": "jpg", "image/png": "png"}


def _disposition(row: Row, content_type: str) -> str:
    """`inline; filename=…` named by the public token, suffixed by the real media type."""
    suffix = SUFFIXES.get(content_type, content_type.rsplit("/", 1)[-1])
    return f'inline; filename="{row["id"].rsplit(":", 1)[0]}.{suffix}"'


async def _drain(content: Content) -> AsyncIterator[bytes]:
    try:
        async for chunk in content.chunks:
            yield chunk
    finally:
        await content.close()


# -- remix ------------------------------------------------------------------------------------
async def remix_video(request: Request) -> Response:
    gw = gateway(request)
    call = Call(gw, request, "video_remix")
    principal = await call.principal()
    source = await call.owned_video(principal)
    provider = gw.provider(source["provider"])
    if not provider.supports(Capability.REMIX):
        raise GatewayError(
            400,
            "unsupported_operation",
            f"Provider {provider.id!r} does not support remix.",
            provider=provider.id,
        )
    prompt = await parse_remix_prompt(request, gw.settings.limits)
    model = source["model_deployment"] or ""
    subject = await gw.gov.subject(principal.key)
    gw.gov.check_access(subject, provider.id, model)
    estimate, seconds = gw.gov.estimate([(provider.id, model, source["seconds"], source["size"])])
    reservation = await gw.gov.reserve(subject, estimate, seconds)
    key = provider.key_named(source["provider_key"])
    try:
        up = await provider.remix(source["upstream_id"], prompt, key, call.ctx)
    except GatewayError:
        await gw.gov.release(reservation)
        raise
    row = new_row(
        up,
        provider,
        owner=principal.owner,
        model_requested=source["model_requested"],
        deployment=source["model_deployment"],
        key_name=key.name,
        prompt=prompt,
        size=source["size"],
        seconds=source["seconds"],
        remixed_from=source["id"],
    )
    row.update(values_for(gw, provider, up))  # schedule its polls like any new job
    await gw.videos.insert(
        row,
        gw.gov.usage_row(
            row["id"],
            subject,
            reservation,
            provider.id,
            model,
            float(row["seconds"] or seconds),
            row["size"],
        ),
    )
    body = video_object(row)
    body["extra_fields"] = call.extra_fields(row["model_deployment"])
    return call.respond(body)


# -- delete -----------------------------------------------------------------------------------
async def delete_video(request: Request) -> Response:
    gw = gateway(request)
    call = Call(gw, request, "video_delete")
    principal = await call.principal()
    row = await call.owned_video(principal)

    sharers: list[int | None] = [None]

    async def announce(conn: Any) -> None:
        await WebhookStore.enqueue(conn, row["owner"], "video.deleted", row["id"])
        # response cache: a job (and media) shared with other videos stays until the last goes
        sharers[0] = await gw.cache.release(conn, row)

    outbox_row = await gw.videos.delete_with_outbox(row, INLINE_GRACE_SECONDS, announce)
    if outbox_row is None:  # a concurrent delete of the same video got there first
        raise not_found(row["id"])
    outcome: str = "shared"  # nothing owed upstream while other videos share the job
    if sharers[0] is None:
        try:
            outcome = await asyncio.wait_for(carry_out(gw, outbox_row), INLINE_ATTEMPT_SECONDS)
        except TimeoutError:
            outcome = "pending"  # the worker retries once the outbox row's grace has passed
    if row["status"] not in TERMINAL:
        provider = gw.providers.get(row["provider"])
        cancelled = (
            outcome == "done" and provider is not None and provider.supports(Capability.CANCEL)
        )
        # A job stopped upstream costs nothing; one left running may still be billed.
        await gw.gov.settle(row["id"], "cancelled" if cancelled else "deleted")
    return call.respond(
        {
            "id": row["id"],
            "object": "video.deleted",
            "deleted": True,
            "extra_fields": call.extra_fields(
                row["model_deployment"],
                upstream_deleted=outcome == "done",
                upstream_deletion=outcome,
            ),
        }
    )
