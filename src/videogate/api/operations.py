"""Operating the gateway: liveness (/health), readiness (/ready), Prometheus (/metrics) and
the request log (GET /api/logs, admin).

/health answers from memory (is the process serving at all); /ready checks what serving
needs — the database, Redis when configured, the asset store, a fresh worker heartbeat —
and answers 503 naming what failed, or while draining after SIGTERM. Bifrost's /health
pings its stores and answers 503 on failure (transports/bifrost-http/handlers/health.go,
read through its tests); LiteLLM serves the same check at /health/readiness, kept here as
an alias.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import bad_request
from ..gateway import Gateway
from ..governance.auth import Principal
from ..lifecycle.call import Call
from ..telemetry import metrics
from .context import admin_endpoint, gateway, respond
from .envelope import JSON
from .pages import limit_of, page, seq_after

log = logging.getLogger("videogate")
CHECK_TIMEOUT = 2.0  # each readiness check; a probe must answer well within its own timeout
PROBE_KEY = ".ready-probe"  # an asset key that is never written: its lookup reaches the store


async def health(request: Request) -> Response:
    return JSON({"status": "ok"})


async def _check(name: str, work: Awaitable[Any], out: dict[str, Any]) -> None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            detail = await work
        out[name] = {"ok": True, **(detail or {})}
    except Exception as exc:  # any failure is the answer, not a 500
        out[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


async def _redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _assets(gw: Gateway) -> None:
    await gw.assets.size(PROBE_KEY)


async def _worker(gw: Gateway) -> dict[str, Any]:
    newest = await gw.liveness.newest_beat()
    if newest is None:
        raise RuntimeError("no worker heartbeat recorded")
    age = time.time() - newest
    if age > gw.settings.worker.heartbeat_stale_seconds:
        raise RuntimeError(f"newest worker heartbeat is {age:.0f} s old")
    return {"heartbeat_age_seconds": round(age, 3)}


async def ready(request: Request) -> Response:
    gw = gateway(request)
    if getattr(request.app.state, "draining", False):
        return JSON({"status": "draining", "failed": ["draining"], "checks": {}}, status_code=503)
    checks: dict[str, Any] = {}
    work = [_check("database", gw.liveness.ping(), checks), _check("assets", _assets(gw), checks)]
    if gw.settings.redis_url:
        work.append(_check("redis", _redis(gw.settings.redis_url), checks))
    if gw.settings.worker.enabled or gw.settings.worker.external:
        work.append(_check("worker", _worker(gw), checks))
    await asyncio.gather(*work)
    failed = sorted(name for name, c in checks.items() if not c["ok"])
    body = {"status": "not_ready" if failed else "ready", "failed": failed, "checks": checks}
    return JSON(body, status_code=503 if failed else 200)


async def scrape(request: Request) -> Response:
    gw = gateway(request)
    snapshot: metrics.JobSnapshot = request.app.state.jobs_snapshot
    if snapshot.stale():
        try:
            snapshot.update(await gw.liveness.job_counts(), await gw.liveness.newest_beat())
        except Exception:  # the scrape still answers with the process's own metrics
            log.warning("reading job counts for /metrics failed", exc_info=True)
    return Response(metrics.render(snapshot), media_type=metrics.CONTENT_TYPE)


LOG_FILTERS = ("key_id", "provider", "model", "route", "status", "since", "until")


@admin_endpoint("request_log")
async def request_log(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    q = request.query_params
    filters: dict[str, Any] = {k: q.get(k) for k in LOG_FILTERS}
    filters["key_id"] = filters["key_id"] or q.get("key")
    for name in ("since", "until"):
        if filters[name] is not None:
            try:
                filters[name] = float(filters[name])
            except ValueError:
                raise bad_request(f"invalid_{name}", f"{name} is a unix time.", name) from None
    status = filters["status"]
    if status is not None and not (
        (len(status) == 3 and status[0] in "12345" and status[1:] in ("xx", "XX"))
        or (len(status) == 3 and status.isascii() and status.isdigit())
    ):
        raise bad_request("invalid_status", "status is a code (404) or a class (4xx).", "status")
    if status is not None:
        filters["status"] = status.lower()
    limit = limit_of(request)
    rows = await gw.requestlog.page(filters, limit + 1, seq_after(request))
    return respond(call, page(rows, limit, lambda r: r["seq"], _public_log))


def _public_log(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["id"] = row.pop("seq")
    return row


def routes(with_metrics: bool) -> list[Route]:
    out = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/health/readiness", ready, methods=["GET"]),
        Route("/api/logs", request_log, methods=["GET"]),
    ]
    if with_metrics:
        out.append(Route("/metrics", scrape, methods=["GET"]))
    return out


# Requests to these are not written to the request log (probes and scrapes would bury it).
UNLOGGED = frozenset({"/health", "/ready", "/health/readiness", "/metrics"})
