"""A create's cache switches: Bifrost's `x-bf-cache-*` headers over the configured defaults.

Reading headers is the API layer's job; the cache itself only sees `CacheOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..cache.options import DIRECT, SEMANTIC, CacheOptions, parse_duration
from ..config import CacheConfig
from ..errors import GatewayError, bad_request

KEY_HEADER = "x-bf-cache-key"
TTL_HEADER = "x-bf-cache-ttl"
THRESHOLD_HEADER = "x-bf-cache-threshold"
TYPE_HEADER = "x-bf-cache-type"
NO_STORE_HEADER = "x-bf-cache-no-store"
MAX_NAMESPACE = 255
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


def _invalid(header: str, message: str) -> GatewayError:
    return bad_request("invalid_cache_header", message, header)


def parse_options(
    headers: Mapping[str, str], config: CacheConfig, semantic_available: bool
) -> CacheOptions | None:
    """The request's cache options, or None when it did not opt in (no namespace)."""
    namespace = headers.get(KEY_HEADER)
    if namespace is None:
        return None
    namespace = namespace.strip()
    if not 0 < len(namespace) <= MAX_NAMESPACE:
        raise _invalid(KEY_HEADER, f"{KEY_HEADER} must be 1-{MAX_NAMESPACE} characters.")
    ttl = config.default_ttl_seconds
    if (raw := headers.get(TTL_HEADER)) is not None:
        parsed = parse_duration(raw)
        if parsed is None or parsed <= 0:
            raise _invalid(
                TTL_HEADER,
                f"{TTL_HEADER} must be a positive number of seconds or a duration such as "
                f"'5m' or '1h30m', not {raw!r}.",
            )
        ttl = parsed
    threshold = config.default_threshold
    if (raw := headers.get(THRESHOLD_HEADER)) is not None:
        try:
            threshold = float(raw)
        except ValueError:
            threshold = -1.0
        if not 0.0 <= threshold <= 1.0:
            raise _invalid(THRESHOLD_HEADER, f"{THRESHOLD_HEADER} must be 0-1, not {raw!r}.")
    types: tuple[str, ...] = (DIRECT, SEMANTIC) if semantic_available else (DIRECT,)
    if (raw := headers.get(TYPE_HEADER)) is not None:
        kind = raw.strip().lower()
        if kind not in (DIRECT, SEMANTIC):
            raise _invalid(TYPE_HEADER, f"{TYPE_HEADER} must be 'direct' or 'semantic'.")
        if kind == SEMANTIC and not semantic_available:
            raise bad_request(
                "cache_semantic_unavailable",
                "Semantic caching needs an embedding backend (cache.embedding.backend).",
                TYPE_HEADER,
            )
        types = (kind,)
    no_store = False
    if (raw := headers.get(NO_STORE_HEADER)) is not None:
        flag = raw.strip().lower()
        if flag not in TRUE | FALSE:
            raise _invalid(NO_STORE_HEADER, f"{NO_STORE_HEADER} must be true or false.")
        no_store = flag in TRUE
    return CacheOptions(namespace, ttl, threshold, types, no_store)
