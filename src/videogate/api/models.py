"""The model catalogue (`GET /v1/models`, `GET /v1/models/{id}`), the quote
(`POST /v1/videos/quote`) and the admin API for public-model routes
(`/api/governance/routes`).

The catalogue is OpenAI's list format (`object: list`, `data: [{id, object: model,
created, owned_by}]`) with what each model accepts, its price, its deployments and their
health and measured speed added to every entry. The quote takes a create's body as the
create would read it and answers without any upstream call or reservation.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config import RouteConfig
from ..errors import GatewayError, bad_request
from ..gateway import Gateway
from ..governance.auth import Principal
from ..lifecycle.call import Call
from .context import admin_endpoint, endpoint, principal, respond
from .parsing import parse_create, read_json_object
from .videos import mount_of

ROUTE_NAME_MAX = 200


@endpoint("model_list")
async def list_models(request: Request, gw: Gateway, call: Call) -> Response:
    await principal(gw, request)
    data = await gw.catalogue.models()
    return respond(call, {"object": "list", "data": data, "extra_fields": call.extra_fields()})


@endpoint("model_retrieve")
async def get_model(request: Request, gw: Gateway, call: Call) -> Response:
    await principal(gw, request)
    model_id = request.path_params["model_id"]
    found = await gw.catalogue.model(model_id)
    if found is None:
        raise GatewayError(
            404, "model_not_found", f"No model {model_id!r} in the catalogue.", param="model"
        )
    return respond(call, {**found, "extra_fields": call.extra_fields()})


@endpoint("video_quote")
async def quote_video(request: Request, gw: Gateway, call: Call) -> Response:
    who = await principal(gw, request)
    body = await parse_create(request, gw.settings.limits)
    body.mount = mount_of(request.url.path.removeprefix(request.scope.get("root_path", "")))
    call.model_requested = gw.routing.requested_name(body.model)
    quote = await gw.catalogue.quote(who, body)
    call.provider = quote["provider"]
    model = quote["candidates"][0]["model"]
    return respond(call, {**quote, "extra_fields": call.extra_fields(model)})


# -- admin: public-model routes -----------------------------------------------------------------
def _route_body(body: dict[str, Any]) -> RouteConfig:
    try:
        return RouteConfig.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise bad_request("invalid_route", f"{where}: {first.get('msg')}", where) from None


def _route_name(request: Request) -> str:
    name = request.path_params["name"]
    if not name or len(name) > ROUTE_NAME_MAX or "/" in name:
        raise bad_request(
            "invalid_route_name",
            f"A public model's name is 1-{ROUTE_NAME_MAX} characters without '/' "
            "('provider/model' names a deployment).",
            "name",
        )
    return str(name)


@admin_endpoint("route_list")
async def list_routes(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    routes = gw.routing.routes()
    data = [
        {
            "name": name,
            **route.model_dump(),
            "source": "admin" if name in gw.routing.stored_routes else "config",
        }
        for name, route in sorted(routes.items())
    ]
    return respond(call, {"object": "list", "data": data})


@admin_endpoint(lambda request: f"route_{request.method.lower()}")
async def one_route(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    name = _route_name(request)
    actor = f"admin:{who.name or 'admin'}"
    if request.method == "PUT":
        route = _route_body(await read_json_object(request, gw.settings.limits))
        unknown = [d for d in route.deployments if gw.routing.deployment(d) is None]
        if unknown:
            raise bad_request(
                "unknown_provider",
                f"Deployments {', '.join(unknown)} name providers that are not configured; "
                f"configured: {gw.routing.configured()}.",
                "deployments",
            )
        await gw.registry.set_route(name, route, actor)
        await gw.gov_sync.reload()
    elif request.method == "DELETE":
        if not await gw.registry.delete_route(name, actor):
            raise GatewayError(404, "route_not_found", f"No stored route {name!r}.", param="name")
        await gw.gov_sync.reload()
        return respond(call, {"name": name, "object": "route.deleted", "deleted": True})
    found = gw.routing.route(name)
    if found is None:
        raise GatewayError(404, "route_not_found", f"No route {name!r}.", param="name")
    return respond(call, {"name": name, **found[1].model_dump()})


def routes(prefixes: tuple[str, ...]) -> list[Route]:
    out = [
        Route("/api/governance/routes", list_routes, methods=["GET"]),
        Route("/api/governance/routes/{name}", one_route, methods=["GET", "PUT", "DELETE"]),
    ]
    for prefix in prefixes:
        out.append(Route(f"{prefix}/models", list_models, methods=["GET"]))
        out.append(Route(f"{prefix}/models/{{model_id:path}}", get_model, methods=["GET"]))
    return out
