"""The ASGI application: routes under three prefixes, error envelopes, start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from ..config import Settings
from ..errors import GatewayError
from ..gateway import Gateway
from ..jobs.worker import Worker
from ..lifecycle.call import Call
from ..telemetry import logs, metrics, tracing
from ..video import ACTIVE
from . import admin, cache_admin, edits, genai, governance, models, operations, ui, videos
from .context import endpoint, error_for, principal
from .dispatch import CHARACTER_ID, ID, Handler, VideoRoutes
from .envelope import JSON, error_response
from .openapi import openapi_document

log = logging.getLogger("videogate")
# Bifrost's mounts for videos: its own /v1, and its OpenAI integration under /openai with
# /v1, bare and /openai again (transports/bifrost-http/integrations/openai.go); bare
# /videos for clients whose base URL is the host itself.
PREFIXES = ("/v1", "", "/openai", "/openai/v1", "/openai/openai")
HTTP_CODES = {404: "route_not_found", 405: "method_not_allowed"}


# (method, path under <prefix>/videos) → handler; served by `dispatch.VideoRoutes` and, for
# what it passes on (HEAD, wrong methods), by the same routes registered with Starlette.
# Fixed shapes come first, as the direct table tries them first (a video id has a ':').
VIDEO_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "edits"): edits.edit_video,
    ("POST", "extensions"): edits.extend_video,
    ("POST", "characters"): edits.create_character,
    ("GET", f"characters/{CHARACTER_ID}"): edits.get_character,
    ("POST", ""): videos.create_video,
    ("GET", ""): videos.list_videos,
    ("GET", ID): videos.retrieve_video,
    ("DELETE", ID): videos.delete_video,
    ("GET", f"{ID}/content"): videos.video_content,
    ("POST", f"{ID}/remix"): videos.remix_video,
    ("POST", "quote"): models.quote_video,
}


def video_routes(prefix: str) -> list[Route]:
    return [
        Route(f"{prefix}/videos" + (f"/{shape}" if shape else ""), handler, methods=[method])
        for (method, shape), handler in VIDEO_ROUTES.items()
    ]


@endpoint("provider_list")
async def list_providers(request: Request, gw: Gateway, call: Call) -> Response:
    await principal(gw, request)
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
    return JSON(openapi_document(request.app))


async def on_gateway_error(request: Request, exc: Exception) -> Response:
    """A gateway error raised outside a video or admin handler (they envelope their own)."""
    assert isinstance(exc, GatewayError)
    return error_response(exc, None, None)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = (
        f"No route for {request.method} {request.url.path}."
        if exc.status_code in HTTP_CODES
        else str(exc.detail)
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # `Allow` (RFC 9110) names every method some route takes at this path; Starlette's
        # names only the first route's, and each video route takes one method
        path = request.scope.get("path", "")
        allowed = {
            method
            for route in request.app.router.routes
            if isinstance(route, Route) and route.methods and route.path_regex.match(path)
            for method in route.methods
        }
        headers["Allow"] = ", ".join(sorted(allowed))
    return error_response(GatewayError(exc.status_code, code, message, headers=headers), None, None)


async def on_crash(request: Request, exc: Exception) -> Response:
    return error_for(exc, None, request)


EXCEPTION_HANDLERS = {
    GatewayError: on_gateway_error,
    HTTPException: on_http_error,
    Exception: on_crash,
}


async def on_error(request: Request, exc: Exception) -> Response:
    """The envelope for `exc`, by the first of its classes with a handler (as Starlette)."""
    handler = next(EXCEPTION_HANDLERS[c] for c in type(exc).__mro__ if c in EXCEPTION_HANDLERS)
    return await handler(request, exc)


# handler → its route template under a prefix ("{video_id}/content"), for metric labels
VIDEO_SHAPES = {handler: shape for (_, shape), handler in VIDEO_ROUTES.items()}
VIDEO_ROOTS = sorted((p + "/videos" for p in PREFIXES), key=len, reverse=True)
UNMATCHED = "unmatched"  # the route label of a request no route took (a 404)


def video_template(path: str, handler: Handler) -> str:
    root = next(r for r in VIDEO_ROOTS if path.startswith(r))
    shape = VIDEO_SHAPES[handler]
    return f"{root}/{shape}" if shape else root


def _request_id(message: Message) -> str | None:
    for name, value in message.get("headers") or ():
        if name == b"x-request-id":
            return bytes(value).decode("latin-1")
    return None


class GatewayApp(Starlette):
    """Starlette, with the `/v1/videos` routes found by `VideoRoutes` first (the hot path),
    and every HTTP request observed: one `RequestRecord` (telemetry/logs.py) becomes its
    metrics sample, span, access line and request-log row."""

    video_table = VideoRoutes(PREFIXES, VIDEO_ROUTES, on_error)
    request_log: Any = None  # the gateway's RequestLog once started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        rec = logs.RequestRecord(scope["method"], scope["path"])
        token = logs.CURRENT.set(rec)
        span = tracing.start(f"HTTP {rec.method}", tracing.SERVER) if tracing.enabled() else None

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                rec.status = message["status"]
                if rec.call is None:  # no handler's Call (a 404, a probe): the envelope's id
                    rec.request_id = _request_id(message)
            await send(message)

        try:
            with tracing.use(span):
                hit = (
                    None if scope.get("root_path") else self.video_table.match(rec.method, rec.path)
                )
                if hit is not None:
                    rec.route = video_template(rec.path, hit[0])
                    scope["app"] = self
                    await self.video_table.run(hit, scope, receive, observed)
                else:
                    await super().__call__(scope, receive, observed)
        except BaseException:
            rec.status = rec.status or 500
            raise
        finally:
            logs.CURRENT.reset(token)
            self.finish(rec, scope, span)

    def finish(self, rec: logs.RequestRecord, scope: Scope, span: Any) -> None:
        if rec.route is None:
            route = scope.get("route")
            rec.route = getattr(route, "path", None) or UNMATCHED
        seconds = time.perf_counter() - rec.started
        metrics.request_done(rec.method, rec.route, rec.status, seconds)
        fields = rec.fields(round(seconds * 1000, 3))
        if span is not None:
            span.update_name(f"{rec.method} {rec.route}")
            tracing.finish(
                span,
                error=rec.status >= 500,
                attributes={
                    "http.request.method": rec.method,
                    "http.route": rec.route,
                    "http.response.status_code": rec.status,
                    "videogate.request_id": fields["request_id"],
                    "videogate.provider": fields["provider"],
                    "videogate.model": fields["model"],
                    "videogate.key_id": fields["key_id"],
                },
            )
        if rec.route in operations.UNLOGGED:
            return
        logs.access(fields)
        if self.request_log is not None:
            fields["created_at"] = time.time()
            self.request_log.add(fields)


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


def drain_on_sigterm(app: Starlette, delay: float) -> Any:
    """On SIGTERM, /ready answers 503 at once, and the server's own shutdown (uvicorn's or
    granian's handler, chained) starts `delay` seconds later, so a load balancer stops
    sending first. Returns the function that puts the previous handler back. Signals can
    only be handled on the main thread (a server run from another thread keeps its own)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    loop = asyncio.get_running_loop()

    def stop(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # no server handler: the default, i.e. exit
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    def handle(signum: int, frame: Any) -> None:
        app.state.draining = True
        log.warning("SIGTERM: draining (/ready answers 503), stopping in %.1f s", delay)
        loop.call_soon_threadsafe(loop.call_later, delay, stop, signum, frame)

    signal.signal(signal.SIGTERM, handle)
    return lambda: signal.signal(signal.SIGTERM, previous)


def create_app(settings: Settings, *, run_worker: bool | None = None) -> GatewayApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        gw = await Gateway.start(settings)
        app.state.gateway = gw
        app.state.draining = False
        app.state.jobs_snapshot = metrics.JobSnapshot(
            ACTIVE, settings.telemetry.jobs_snapshot_seconds
        )
        assert isinstance(app, GatewayApp)
        if settings.logging.request_log:
            gw.requestlog.start()
            app.request_log = gw.requestlog
        restore = drain_on_sigterm(app, settings.server.drain_seconds)
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
        gw.gov_sync.start()  # stopped by gw.close()
        settle_heap()
        try:
            yield {}
        finally:
            restore()
            app.request_log = None
            if worker:
                await worker.stop()
            await gw.close()

    routes: list[Route] = [
        *operations.routes(settings.telemetry.metrics),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/providers", list_providers, methods=["GET"]),
    ]
    for prefix in PREFIXES:
        routes.extend(video_routes(prefix))
    routes.extend(models.routes(PREFIXES))
    routes.extend(admin.ROUTES)
    routes.extend(governance.ROUTES)
    routes.extend(cache_admin.ROUTES)
    routes.extend(genai.ROUTES)
    routes.extend(ui.ROUTES)
    app = GatewayApp(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)
    app.router.redirect_slashes = False  # an empty id is a 404 envelope, not a redirect
    return app
