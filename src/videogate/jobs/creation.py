"""Starting a job: which provider, which key, what to do when one fails.

Order of attempts: the requested model, then each fallback; within each, the provider's
healthy keys in weighted order. A key answering 401/403 is marked unhealthy and the next
key is tried; a retryable failure (429, 5xx, connect error, timeout) moves on to the next
key, then to the next fallback. A provider whose circuit is open is skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..api.parsing import CreateBody
from ..config import UpstreamKey
from ..errors import GatewayError, UpstreamError, bad_request, is_retryable
from ..gateway import Gateway
from ..providers.base import CallContext, Capability, CreateParams, Provider, UpstreamVideo

AUTH_FAILURES = (401, 403)
# Providers that answer a bad key with another status (Gemini: 400 API_KEY_INVALID).
AUTH_FAILURE_CODES = frozenset({"API_KEY_INVALID", "invalid_api_key"})


@dataclass
class Started:
    provider: Provider
    params: CreateParams
    key: UpstreamKey
    video: UpstreamVideo
    fallback_index: int
    notes: list[str]


def plan(gw: Gateway, body: CreateBody) -> list[tuple[Provider, CreateParams]]:
    """Every target, validated before any upstream call so no money is spent on a
    request some target would refuse."""
    targets = [gw.resolve_model(body.model)] + [gw.resolve_model(m) for m in body.fallbacks]
    planned = []
    for provider, model in targets:
        params = CreateParams(
            model=model,
            prompt=body.prompt,
            seconds=body.seconds,
            size=body.size,
            input_reference=body.input_reference,
            extra=dict(body.extra),
        )
        if params.input_reference is not None and not provider.supports(Capability.IMAGE_INPUT):
            raise bad_request(
                "unsupported_input_reference",
                f"Provider {provider.id!r} does not accept an input_reference.",
                "input_reference",
            )
        provider.validate(params)
        planned.append((provider, params))
    return planned


async def start(
    gw: Gateway,
    planned: list[tuple[Provider, CreateParams]],
    ctx: CallContext,
    allowed_keys: list[str] | None = None,
) -> Started:
    notes: list[str] = []
    last: GatewayError | None = None
    for index, (provider, params) in enumerate(planned):
        if not provider.breaker.allow():
            last = GatewayError(
                503,
                "provider_circuit_open",
                f"Provider {provider.id!r} is failing; its circuit is open.",
                provider=provider.id,
            )
            notes.append(f"{provider.id}: circuit open")
            continue
        for key in provider.candidate_keys(params.model, allowed_keys):
            try:
                video = await provider.create(params, key, ctx)
            except GatewayError as exc:
                exc.provider = exc.provider or provider.id
                last = exc
                if isinstance(exc, UpstreamError) and (
                    exc.status in AUTH_FAILURES or exc.code in AUTH_FAILURE_CODES
                ):
                    provider.keys.mark_unhealthy(key)
                    notes.append(f"{provider.id}/{key.name}: {exc.status}, key marked unhealthy")
                    continue
                if is_retryable(exc):
                    provider.breaker.failure()
                    notes.append(f"{provider.id}/{key.name}: {exc.status} {exc.code}")
                    continue
                raise
            provider.breaker.success()
            return Started(provider, params, key, video, index, notes)
    assert last is not None
    raise last


def request_hash(body: CreateBody) -> str:
    """A digest of everything that defines the job, for Idempotency-Key comparisons."""
    ref = body.input_reference
    ref_part: Any = None
    if ref is not None:
        ref_part = [
            hashlib.sha256(ref.data).hexdigest() if ref.data is not None else None,
            ref.image_url,
            ref.file_id,
        ]
    canonical = {
        "prompt": body.prompt,
        "model": body.model,
        "seconds": body.seconds,
        "size": body.size,
        "fallbacks": body.fallbacks,
        "extra": body.extra,
        "input_reference": ref_part,
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def reconcile(
    gw: Gateway, planned: list[tuple[Provider, CreateParams]], since: float, ctx: CallContext
) -> tuple[Provider, CreateParams, UpstreamKey, UpstreamVideo] | None:
    """After a create whose outcome is unknown (timeout): the job it started, if any."""
    for provider, params in planned:
        for key in provider.candidate_keys(params.model):
            try:
                found = await provider.find_created(params, key, ctx, since)
            except GatewayError:
                continue
            if found is not None:
                return provider, params, key, found
    return None


def idempotency_conflict(message: str, code: str = "idempotency_key_reused") -> GatewayError:
    return GatewayError(409, code, message, param="Idempotency-Key")
