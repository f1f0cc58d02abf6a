"""Starting a job upstream: which target, which key, what to do when one fails.

Order of attempts: the requested model, then each fallback; within each, the provider's
healthy keys in weighted order. A key answering 401/403 is marked unhealthy and the next
key is tried; a retryable failure (429, 5xx, connect error, timeout) moves on to the next
key, then to the next fallback. A provider whose circuit is open is skipped.
"""

from __future__ import annotations

import hashlib
import time
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
    attempts: list[dict[str, Any]]
    adopted: bool = False  # found by reference after a timed-out create, not created


def attempt(
    target: Target, key: str | None, outcome: str, began: float, **more: Any
) -> dict[str, Any]:
    """One line of `extra_fields.attempts`: which deployment, how it went, how long."""
    return {
        "deployment": target.deployment,
        "provider": target.provider.id,
        "key": key,
        "outcome": outcome,
        "latency_ms": round((time.perf_counter() - began) * 1000, 1),
        **more,
    }


async def start(
    targets: list[Target], ctx: CallContext, allowed_keys: list[str] | None = None
) -> Started:
    """Create the job on the first target (and key) that accepts it.

    A create that timed out may have started a paid job: before moving on, the gateway
    asks that provider for the job by the reference the create sent (`find_created`) and
    adopts it if it exists. A provider that cannot be asked ends the attempt there (the
    timeout is raised, so an Idempotency-Key is kept "unknown" for a retry to look up)
    rather than risk a second paid job on another host.
    """
    attempts: list[dict[str, Any]] = []
    last: GatewayError | None = None
    for index, target in enumerate(targets):
        provider, prepared = target
        began = time.perf_counter()
        if not provider.breaker.allow():
            last = GatewayError(
                503,
                "provider_circuit_open",
                f"Provider {provider.id!r} is failing; its circuit is open.",
                provider=provider.id,
            )
            attempts.append(attempt(target, None, "circuit_open", began))
            continue
        for key in candidate_keys(target, allowed_keys):
            began = time.perf_counter()
            try:
                video = await provider.create(prepared, key, ctx)
            except GatewayError as exc:
                exc.provider = exc.provider or provider.id
                last = exc
                failed = attempt(
                    target, key.name, "failed", began, status=exc.status, code=exc.code
                )
                attempts.append(failed)
                if isinstance(exc, UpstreamError) and (
                    exc.status in AUTH_FAILURES or exc.code in AUTH_FAILURE_CODES
                ):
                    provider.keys.mark_unhealthy(key)
                    failed["outcome"] = "key_refused"
                    continue
                if exc.code == "upstream_timeout":
                    found = await _look_up(target, key, ctx, exc)
                    if found is not None:
                        failed["outcome"] = "timeout_adopted"
                        provider.breaker.success()
                        return Started(provider, prepared, key, found, index, attempts, True)
                if is_retryable(exc):
                    provider.breaker.failure()
                    continue
                exc.extra_fields = {**(exc.extra_fields or {}), "attempts": attempts}
                raise
            provider.breaker.success()
            attempts.append(attempt(target, key.name, "created", began))
            return Started(provider, prepared, key, video, index, attempts)
    assert last is not None
    if len(attempts) > 1:
        last.extra_fields = {**(last.extra_fields or {}), "attempts": attempts}
    raise last


def candidate_keys(target: Target, allowed: list[str] | None) -> list[UpstreamKey]:
    """The keys to try for `target`: an edit or extension that sends the provider its own
    job id goes with the key that made that job (another account cannot see it)."""
    provider, prepared = target
    source = prepared.params.source
    if source is not None and source.upstream_id and source.key_name:
        return [provider.key_named(source.key_name)]
    return provider.candidate_keys(prepared.params.model, allowed)


async def _look_up(
    target: Target, key: UpstreamKey, ctx: CallContext, timed_out: GatewayError
) -> UpstreamVideo | None:
    """After a timed-out create: the job it started (adopt it), or None when the provider
    says there is none (moving on is safe). Raises `timed_out` when it cannot tell."""
    provider, prepared = target
    if not (provider.finds_created and prepared.params.reference):
        raise timed_out
    try:
        return await provider.find_created(prepared, key, ctx)
    except GatewayError:
        raise timed_out from None


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
