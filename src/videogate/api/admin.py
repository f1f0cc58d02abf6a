"""Admin routes under `/api/…` (admin JWT, or --no-auth local mode): webhooks for now."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import GatewayError, bad_request
from ..gateway import Gateway
from ..governance.auth import Principal
from ..lifecycle.call import Call
from ..lifecycle.outbound import check_url
from ..lifecycle.webhooks import add_endpoint
from ..store.webhooks import EVENTS
from .context import admin_endpoint, respond
from .pages import id_after, limit_of, page, seq_after
from .parsing import read_json_object


def _public(endpoint: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as the admin API shows it: never its (sealed) secret."""
    return {k: endpoint[k] for k in ("id", "owner", "url", "events", "enabled", "created_at")}


MAX_OWNER = 64  # the owner column's length


@admin_endpoint("webhook_create")
async def create_webhook(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    body = await read_json_object(request, gw.settings.limits)
    url, owner = body.get("url"), body.get("owner")
    url = check_url(url, "url", allow_private=gw.settings.webhooks.allow_private_networks)
    if not isinstance(owner, str) or not 0 < len(owner) <= MAX_OWNER:
        raise bad_request("invalid_owner", "owner must be a virtual key id (vk_…).", "owner")
    if owner.startswith("vk_") and await gw.keys.by_id(owner) is None:
        raise bad_request("invalid_owner", f"No virtual key {owner!r}.", "owner")
    events = body.get("events", list(EVENTS))
    if not isinstance(events, list) or not events or not set(events) <= set(EVENTS):
        raise bad_request("invalid_events", f"events must be a subset of {list(EVENTS)}.", "events")
    endpoint, secret = await add_endpoint(
        gw.webhooks, gw.webhook_delivery.sealer, owner, url, list(events)
    )
    return respond(call, {**_public(endpoint), "secret": secret})


@admin_endpoint("webhook_list")
async def list_webhooks(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    limit = limit_of(request)
    rows = await gw.webhooks.endpoints(
        request.query_params.get("owner"), limit + 1, id_after(request)
    )
    return respond(call, page(rows, limit, lambda r: r["id"], _public))


@admin_endpoint("webhook_delete")
async def delete_webhook(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    if not await gw.webhooks.delete_endpoint(endpoint_id):
        raise GatewayError(404, "webhook_not_found", f"No webhook endpoint {endpoint_id!r}.")
    return respond(call, {"id": endpoint_id, "deleted": True})


@admin_endpoint("webhook_deliveries")
async def list_deliveries(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    q = request.query_params
    limit = limit_of(request)
    rows = await gw.webhooks.deliveries(
        q.get("endpoint_id"), q.get("owner"), limit + 1, seq_after(request)
    )
    return respond(call, page(rows, limit, lambda r: r["seq"], _delivery))


def _delivery(r: dict[str, Any]) -> dict[str, Any]:
    return {
        k: r[k]
        for k in (
            "id",
            "endpoint_id",
            "event_type",
            "video_id",
            "state",
            "attempts",
            "last_status",
            "last_error",
            "created_at",
            "delivered_at",
            "next_attempt_at",
        )
    }


ROUTES = [
    Route("/api/webhooks", create_webhook, methods=["POST"]),
    Route("/api/webhooks", list_webhooks, methods=["GET"]),
    Route("/api/webhooks/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/webhooks/{endpoint_id}", delete_webhook, methods=["DELETE"]),
]
