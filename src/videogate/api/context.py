"""What every handler does around its service call: start the `Call`, find the caller, answer
in JSON, and turn whatever was raised into the Bifrost envelope tagged with the call.

The `Call` lives in the handler's frame, not in the ASGI scope: `endpoint` converts errors
itself, so nothing links the request to its bookkeeping (no reference cycle to collect).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import GatewayError
from ..gateway import Gateway
from ..governance.auth import LOCAL, Principal
from ..lifecycle.call import Call
from ..telemetry.logs import note_call, note_key
from .auth import bearer
from .envelope import JSON, error_response

log = logging.getLogger("videogate")
TRUE = ("1", "true", "yes")
Handler = Callable[[Request], Awaitable[Response]]
Body = Callable[[Request, Gateway, Call], Awaitable[Response]]


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


def new_call(gw: Gateway, request: Request, request_type: str) -> Call:
    raw = gw.settings.raw
    headers = request.headers
    return Call(
        request_type,
        capture_raw=raw.send_back_raw_request
        or raw.send_back_raw_response
        or headers.get("x-bf-send-back-raw-response", "").lower() in TRUE
        or headers.get("x-bf-send-back-raw-request", "").lower() in TRUE,
    )


async def principal(gw: Gateway, request: Request) -> Principal:
    """The caller, its request counted against its rpm (every authenticated call counts)."""
    if not gw.settings.auth.enabled:
        return LOCAL
    who = await gw.auth.from_token(bearer(request.headers))
    note_key(who.key_id)
    await gw.gov.meter(who.key)
    return who


async def admin(gw: Gateway, request: Request) -> Principal:
    who = await principal(gw, request)
    if not who.is_admin:
        raise GatewayError(403, "admin_required", "This route needs an admin JWT.")
    return who


def respond(call: Call, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSON:
    return JSON(body, headers={"x-request-id": call.event_id, **(headers or {})})


def error_for(exc: Exception, call: Call | None, request: Request) -> Response:
    """The envelope for anything a handler raised; a non-gateway error is a logged 500."""
    request_type = call.request_type if call is not None else None
    event_id = call.event_id if call is not None else None
    if isinstance(exc, GatewayError):
        if call is not None:
            exc.provider = exc.provider or call.provider
            exc.model_requested = exc.model_requested or call.model_requested
        return error_response(exc, event_id, request_type)
    err = GatewayError(500, "internal_error", "The gateway failed unexpectedly; see its log.")
    response = error_response(err, event_id, request_type)
    log.error(
        "unhandled error on %s %s [%s]",
        request.method,
        request.url.path,
        response.headers["x-request-id"],
        exc_info=exc,
    )
    return response


def _handler(
    request_type: str | Callable[[Request], str],
    run: Callable[[Request, Gateway, Call], Awaitable[Response]],
    named: Callable[..., Any],
) -> Handler:
    """`run` with its Call made (of `request_type`, fixed or by request) and its errors
    enveloped; named after `named` (the route table and its tests know handlers by it)."""

    async def handler(request: Request) -> Response:
        gw = gateway(request)
        kind = request_type if isinstance(request_type, str) else request_type(request)
        call = new_call(gw, request, kind)
        note_call(call)
        try:
            return await run(request, gw, call)
        except Exception as exc:
            return error_for(exc, call, request)

    handler.__name__ = named.__name__
    handler.__qualname__ = named.__qualname__
    handler.__doc__ = named.__doc__
    return handler


def endpoint(request_type: str) -> Callable[[Body], Handler]:
    """A handler `body(request, gw, call)` with its Call made and its errors enveloped."""
    return lambda body: _handler(request_type, body, body)


AdminBody = Callable[[Request, Gateway, Call, Principal], Awaitable[Response]]


def admin_endpoint(request_type: str | Callable[[Request], str]) -> Callable[[AdminBody], Handler]:
    """An admin-only handler `body(request, gw, call, who)`: admin JWT (or --no-auth) first;
    `request_type` may depend on the request (e.g. its method)."""

    def wrap(body: AdminBody) -> Handler:
        async def run(request: Request, gw: Gateway, call: Call) -> Response:
            return await body(request, gw, call, await admin(gw, request))

        return _handler(request_type, run, body)

    return wrap
