"""The ASGI application: routes under three prefixes, error envelopes, start-up and shutdown."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..cache import api as cache_api
from ..config import Settings
from ..errors import GatewayError
from ..gateway import Gateway
from ..jobs.worker import Worker
from . import admin, governance, videos
from .envelope import JSON, error_response
from .openapi import openapi_document

log = logging.getLogger("videogate")
PREFIXES = ("/v1", "", "/openai/v1")
HTTP_CODES = {404: "route_not_found", 405: "method_not_allowed"}


def video_routes(prefix: str) -> list[Route]:
    base = f"{prefix}/videos"
    return [
        Route(base, videos.create_video, methods=["POST"]),
        Route(base, videos.list_videos, methods=["GET"]),
        Route(base + "/{video_id}", videos.retrieve_video, methods=["GET"]),
        Route(base + "/{video_id}", videos.delete_video, methods=["DELETE"]),
        Route(base + "/{video_id}/content", videos.video_content, methods=["GET"]),
        Route(base + "/{video_id}/remix", videos.remix_video, methods=["POST"]),
    ]


async def health(request: Request) -> Response:
    return JSON({"status": "ok"})


async def list_providers(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    call = videos.Call(gw, request, "provider_list")
    await call.principal()
    return JSON(
        {
            "object": "list",
            "data": [
                {
                    "id": p.id,
                    "type": p.type_name,
                    "capabilities": sorted(c.value for c in p.capabilities),
                    "models": p.config.models,
                    "poll_after_ms": p.poll_after_ms,
                }
                for p in gw.providers.values()
            ],
        }
    )


async def openapi(request: Request) -> Response:
    return JSON(openapi_document())


def _request_type(request: Request) -> str | None:
    call = getattr(request.state, "call", None)
    return call.request_type if call is not None else None


async def on_gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    call = getattr(request.state, "call", None)
    if call is not None:
        exc.provider = exc.provider or call.provider
        exc.model_requested = exc.model_requested or call.model_requested
    return error_response(exc, call.event_id if call else None, _request_type(request))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = (
        f"No route for {request.method} {request.url.path}."
        if exc.status_code in HTTP_CODES
        else str(exc.detail)
    )
    return error_response(GatewayError(exc.status_code, code, message), None, None)


async def on_crash(request: Request, exc: Exception) -> Response:
    err = GatewayError(500, "internal_error", "The gateway failed unexpectedly; see its log.")
    response = error_response(err, None, _request_type(request))
    log.error(
        "unhandled error on %s %s [%s]",
        request.method,
        request.url.path,
        response.headers["x-request-id"],
        exc_info=exc,
    )
    return response


async def ensure_first_key(gw: Gateway) -> None:
    """On a fresh data dir with auth on, mint one key so a newcomer can start at once."""
    if not gw.settings.auth.enabled or await gw.keys.count():
        return
    _, secret = await gw.keys.create("default", "created at first start")
    path: Path = gw.settings.data_dir / "default-key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    log.warning(
        "first start: created virtual key 'default' (also saved in %s):\n\n    %s\n", path, secret
    )


def settle_heap() -> None:
    """Move everything start-up made (modules, tables, providers, keys) out of the collector's
    reach: a full collection over those ~120k objects takes 20-30 ms here, and under load one
    runs every few seconds, which is a 20-30 ms stall for every request in flight (the p99)."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings, *, run_worker: bool | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        gw = await Gateway.start(settings)
        app.state.gateway = gw
        if not settings.auth.enabled:
            log.warning(
                "\n%s\n  AUTH IS OFF (--no-auth): anyone who can reach %s:%s may create, read "
                "and delete every video.\n%s",
                "!" * 78,
                settings.host,
                settings.port,
                "!" * 78,
            )
        await ensure_first_key(gw)
        worker = (
            Worker(gw)
            if (run_worker if run_worker is not None else settings.worker.enabled)
            else None
        )
        if worker:
            worker.start()
        settle_heap()
        try:
            yield {}
        finally:
            if worker:
                await worker.stop()
            await gw.close()

    routes: list[Route] = [
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/providers", list_providers, methods=["GET"]),
    ]
    for prefix in PREFIXES:
        routes.extend(video_routes(prefix))
    routes.extend(admin.ROUTES)
    routes.extend(governance.ROUTES)
    routes.extend(cache_api.ROUTES)
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            GatewayError: on_gateway_error,
            HTTPException: on_http_error,
            Exception: on_crash,
        },
    )
    app.router.redirect_slashes = False  # an empty id is a 404 envelope, not a redirect
    return app
