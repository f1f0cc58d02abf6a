"""Admin routes for the cache: `GET /api/cache/stats`, `DELETE /api/cache/namespaces/{ns}`."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..gateway import Gateway
from ..governance.auth import Principal
from ..lifecycle.call import Call
from .context import admin_endpoint, respond


@admin_endpoint("cache_stats")
async def cache_stats(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    """Entries, hits, misses and dollars saved, per namespace and in total
    (`?namespace=` narrows it)."""
    cache = gw.cache
    namespaces = await cache.store.stats(request.query_params.get("namespace"), time.time())
    totals = {
        name: sum(ns[name] for ns in namespaces)
        for name in ("entries", "hits", "direct_hits", "semantic_hits", "misses")
    }
    saved = round(sum(ns["dollars_saved"] for ns in namespaces), 6)
    return respond(
        call,
        {
            "object": "cache.stats",
            **totals,
            "dollars_saved": saved,
            "shared_jobs": await cache.store.shared_jobs(),
            "vector_index": cache.store.index,
            # pgvector's HNSW indexes, one per embedding dimension stored: name, size
            "vector_indexes": await cache.store.index_info(),
            "embedding_model": cache.embedder.label if cache.embedder else None,
            "namespaces": namespaces,
        },
    )


@admin_endpoint("cache_purge")
async def purge_namespace(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    """Forget every entry of a namespace (for all tenants). Videos made from hits keep
    working: they reference jobs and media, not entries."""
    namespace = request.path_params["namespace"]
    removed = await gw.cache.store.purge(namespace)
    return respond(call, {"namespace": namespace, "deleted_entries": removed, "purged": True})


ROUTES = [
    Route("/api/cache/stats", cache_stats, methods=["GET"]),
    Route("/api/cache/namespaces/{namespace:path}", purge_namespace, methods=["DELETE"]),
]
