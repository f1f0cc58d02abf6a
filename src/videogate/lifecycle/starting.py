"""Starting a job upstream: which target, which key, what to do when one fails.

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

from ..config import UpstreamKey
from ..errors import GatewayError, UpstreamError, is_retryable
from ..providers.base import CallContext, Prepared, Provider
from ..video import UpstreamVideo
from .requests import CreateRequest
from .routing import Target

AUTH_FAILURES = (401, 403)
# Providers that answer a bad key with another status (Gemini: 400 API_KEY_INVALID).
AUTH_FAILURE_CODES = frozenset({"API_KEY_INVALID", "invalid_api_key"})


@dataclass
class Started:
    provider: Provider
    prepared: Prepared
    key: UpstreamKey
    video: UpstreamVideo
    fallback_index: int
    notes: list[str]


async def start(
    targets: list[Target], ctx: CallContext, allowed_keys: list[str] | None = None
) -> Started:
    notes: list[str] = []
    last: GatewayError | None = None
    for index, (provider, prepared) in enumerate(targets):
        if not provider.breaker.allow():
            last = GatewayError(
                503,
                "provider_circuit_open",
                f"Provider {provider.id!r} is failing; its circuit is open.",
                provider=provider.id,
            )
            notes.append(f"{provider.id}: circuit open")
            continue
        for key in provider.candidate_keys(prepared.params.model, allowed_keys):
            try:
                video = await provider.create(prepared, key, ctx)
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
            return Started(provider, prepared, key, video, index, notes)
    assert last is not None
    raise last


def request_hash(request: CreateRequest) -> str:
    """A digest of everything that defines the job, for Idempotency-Key comparisons."""
    ref = request.input_reference
    ref_part: Any = None
    if ref is not None:
        ref_part = [
            hashlib.sha256(ref.data).hexdigest() if ref.data is not None else None,
            ref.image_url,
            ref.file_id,
        ]
    canonical = {
        "prompt": request.prompt,
        "model": request.model,
        "seconds": request.seconds,
        "size": request.size,
        "fallbacks": request.fallbacks,
        "extra": request.extra,
        "input_reference": ref_part,
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
