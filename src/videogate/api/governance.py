"""Admin API for governance (`/api/governance/…`) and upstream keys (`/api/providers`).

Admin JWT (or --no-auth local mode) only. Every change is written to the audit log by the
registry; secrets are write-only: virtual-key secrets are shown once, provider secrets never.
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import GatewayError, bad_request
from ..gateway import Gateway
from ..governance.auth import Principal
from ..governance.crypto import encrypt
from ..governance.prices import PRICE_FIELDS, parse_price
from ..governance.registry import Conflict
from ..lifecycle.call import Call
from ..lifecycle.outbound import check_url
from ..store.keys import public_key
from .context import admin_endpoint, respond
from .pages import id_after, limit_of, page, seq_after
from .parsing import read_json_object


def _not_found(kind: str, ref: str) -> GatewayError:
    return GatewayError(404, f"{kind}_not_found", f"No {kind.replace('_', ' ')} {ref!r}.")


def _invalid(exc: ValueError) -> GatewayError:
    if isinstance(exc, Conflict):
        return GatewayError(409, "name_taken", str(exc), param="name")
    return bad_request("invalid_settings", str(exc))


def _actor(principal_name: str | None) -> str:
    return f"admin:{principal_name or 'admin'}"


async def _body(gw: Gateway, request: Request) -> dict[str, Any]:
    return await read_json_object(request, gw.settings.limits)


def entity_routes(kind: str, plural: str) -> list[Route]:
    @admin_endpoint(f"{kind}_create")
    async def create(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
        actor = _actor(who.name)
        body = await _body(gw, request)
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise bad_request("missing_name", "name is required.", "name")
        try:
            row = await gw.registry.create_entity(kind, body, actor)
        except ValueError as exc:
            raise _invalid(exc) from None
        return respond(call, row)

    @admin_endpoint(f"{kind}_list")
    async def listing(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
        limit = limit_of(request)
        rows = await gw.registry.entities(kind, limit + 1, id_after(request))
        return respond(call, page(rows, limit, lambda r: r["id"]))

    @admin_endpoint(lambda request: f"{kind}_{request.method.lower()}")
    async def one(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
        actor = _actor(who.name)
        ref = request.path_params["ref"]
        if request.method == "GET":
            row = await gw.registry.get(kind, ref)
        elif request.method == "PATCH":
            found = await gw.registry.get(kind, ref)
            body = await _body(gw, request)
            try:
                row = (
                    await gw.registry.update_entity(kind, found["id"], body, actor)
                    if found
                    else None
                )
            except ValueError as exc:
                raise _invalid(exc) from None
        else:
            found = await gw.registry.get(kind, ref)
            if found is None or not await gw.registry.delete_entity(kind, found["id"], actor):
                raise _not_found(kind, ref)
            return respond(call, {"id": found["id"], "deleted": True})
        if row is None:
            raise _not_found(kind, ref)
        return respond(call, row)

    base = f"/api/governance/{plural}"
    return [
        Route(base, create, methods=["POST"]),
        Route(base, listing, methods=["GET"]),
        Route(base + "/{ref}", one, methods=["GET", "PATCH", "DELETE"]),
    ]


@admin_endpoint("virtual_key_create")
async def create_key(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    actor = _actor(who.name)
    body = await _body(gw, request)
    name = body.pop("name", None)
    if not isinstance(name, str) or not name:
        raise bad_request("missing_name", "name is required.", "name")
    try:
        row, secret = await gw.registry.create_key(name, body, actor)
    except ValueError as exc:
        raise _invalid(exc) from None
    return respond(call, {**public_key(row), "key": secret})


@admin_endpoint("virtual_key_list")
async def list_keys(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    limit = limit_of(request)
    rows = await gw.keys.page(limit + 1, id_after(request))
    return respond(call, page(rows, limit, lambda r: r["id"], public_key))


@admin_endpoint(lambda request: f"virtual_key_{request.method.lower()}")
async def one_key(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    actor = _actor(who.name)
    ref = request.path_params["ref"]
    found = await gw.keys.find(ref)
    if found is None:
        raise _not_found("virtual_key", ref)
    if request.method == "GET":
        return respond(call, public_key(found))
    if request.method == "DELETE":
        await gw.registry.revoke_key(found["id"], actor)
        gw.auth.forget()
        return respond(call, {"id": found["id"], "revoked": True})
    body = await _body(gw, request)
    try:
        row = await gw.registry.update_key(found["id"], body, actor)
    except ValueError as exc:
        raise _invalid(exc) from None
    gw.auth.forget()
    return respond(call, public_key(row or found))


@admin_endpoint("virtual_key_rotate")
async def rotate_key(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    actor = _actor(who.name)
    body = await _body(gw, request) if request.headers.get("content-length", "0") != "0" else {}
    grace = body.get("grace_seconds", gw.settings.governance.rotation_grace_seconds)
    if not isinstance(grace, int | float) or grace < 0:
        raise bad_request("invalid_grace", "grace_seconds must be a non-negative number.")
    rotated = await gw.registry.rotate_key(request.path_params["ref"], float(grace), actor)
    if rotated is None:
        raise _not_found("virtual_key", request.path_params["ref"])
    row, secret = rotated
    gw.auth.forget()
    return respond(
        call, {**public_key(row), "key": secret, "old_key_valid_until": time.time() + float(grace)}
    )


@admin_endpoint("usage")
async def usage(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    q = request.query_params
    filters = {
        k: q.get(k)
        for k in (
            "key_id",
            "team_id",
            "customer_id",
            "provider",
            "model",
            "status",
            "since",
            "until",
        )
    }
    for name in ("since", "until"):
        if filters[name] is not None:
            try:
                float(filters[name])  # type: ignore[arg-type]
            except ValueError:
                raise bad_request(f"invalid_{name}", f"{name} is a unix time.", name) from None
    limit = limit_of(request)
    rows, totals = await gw.registry.usage(filters, limit + 1, seq_after(request))
    return respond(call, {**page(rows, limit, lambda r: r["seq"]), "totals": totals})


@admin_endpoint(lambda request: f"price_{request.method.lower()}")
async def prices(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    actor = _actor(who.name)
    if request.method == "PUT":
        body = await _body(gw, request)
        pattern = body.pop("pattern", None)
        if not isinstance(pattern, str) or "/" not in pattern or len(pattern) > 300:
            raise bad_request("invalid_pattern", "pattern is 'provider/model' (wildcards ok).")
        try:
            price = parse_price(body)
        except ValueError as exc:
            raise bad_request(
                "invalid_price",
                f"{exc} (fields: per_second, tiers, {', '.join(PRICE_FIELDS[1:])}, bill_failures).",
            ) from None
        await gw.registry.set_price(pattern, price, actor)
        await gw.gov_sync.reload()
    return respond(call, {"object": "price_table", "data": gw.gov.prices.effective()})


@admin_endpoint("audit")
async def audit(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    limit = limit_of(request)
    rows = await gw.registry.audit_entries(limit + 1, seq_after(request))
    return respond(call, page(rows, limit, lambda r: r["seq"]))


@admin_endpoint("provider_keys")
async def providers(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    stored = {(r["provider"], r["name"]) for r in await gw.registry.upstream_keys()}
    data = [
        {
            "id": p.id,
            "type": p.type_name,
            "capabilities": sorted(c.value for c in p.capabilities),
            "keys": [
                {
                    "name": k.name,
                    "weight": k.weight,
                    "models": k.models,
                    "healthy": p.keys.is_healthy(k),
                    "source": "admin" if (p.id, k.name) in stored else "config",
                }
                for k in p.keys.keys
            ],
        }
        for p in gw.providers.values()
    ]
    return respond(call, {"object": "list", "data": data})


KEY_FIELDS = frozenset({"name", "value", "weight", "models", "base_url"})
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def upstream_key_fields(
    body: dict[str, Any], *, allow_private: bool = False
) -> tuple[str, str, float, list[str], str | None]:
    """An upstream key's fields, each checked for type before anything is stored: a stored
    row the gateway cannot load would otherwise fail every reload (and the next start)."""
    unknown = sorted(set(body) - KEY_FIELDS)
    if unknown:
        raise bad_request("invalid_key", f"Unknown field(s): {', '.join(unknown)}.", unknown[0])
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str) or not KEY_NAME.match(name):
        raise bad_request(
            "invalid_key", "name is required: 1-100 of letters, digits, '.', '_', '-'.", "name"
        )
    if not isinstance(value, str) or not value:
        raise bad_request("invalid_key", "value (the secret) is required.", "value")
    weight = body.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < 1e6:
        raise bad_request("invalid_weight", "weight must be a positive number.", "weight")
    models = body.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise bad_request("invalid_models", "models must be a list of patterns.", "models")
    base_url = body.get("base_url")
    if base_url is not None:  # the provider's secret will be sent there
        base_url = check_url(base_url, "base_url", allow_private=allow_private)
    return name, value, float(weight), list(models), base_url


@admin_endpoint("provider_key_put")
async def put_provider_key(request: Request, gw: Gateway, call: Call, who: Principal) -> Response:
    actor = _actor(who.name)
    provider = gw.routing.provider(request.path_params["provider"])
    body = await _body(gw, request)
    name, value, weight, models, base_url = upstream_key_fields(
        body, allow_private=gw.settings.governance.allow_private_base_urls
    )
    await gw.registry.put_upstream_key(
        {
            "provider": provider.id,
            "name": name,
            "secret_encrypted": encrypt(value),
            "weight": float(weight),
            "models": models,
            "base_url": base_url,
            "created_at": time.time(),
        },
        actor,
    )
    await gw.gov_sync.reload()
    return respond(
        call, {"provider": provider.id, "name": name, "weight": weight, "models": models}
    )


@admin_endpoint("provider_key_delete")
async def delete_provider_key(
    request: Request, gw: Gateway, call: Call, who: Principal
) -> Response:
    actor = _actor(who.name)
    pid, name = request.path_params["provider"], request.path_params["name"]
    if not await gw.registry.delete_upstream_key(pid, name, actor):
        raise _not_found("provider_key", f"{pid}/{name}")
    await gw.gov_sync.reload()
    return respond(call, {"provider": pid, "name": name, "deleted": True})


ROUTES = [
    *entity_routes("customer", "customers"),
    *entity_routes("team", "teams"),
    Route("/api/governance/virtual-keys", create_key, methods=["POST"]),
    Route("/api/governance/virtual-keys", list_keys, methods=["GET"]),
    Route("/api/governance/virtual-keys/{ref}", one_key, methods=["GET", "PATCH", "DELETE"]),
    Route("/api/governance/virtual-keys/{ref}/rotate", rotate_key, methods=["POST"]),
    Route("/api/governance/usage", usage, methods=["GET"]),
    Route("/api/governance/prices", prices, methods=["GET", "PUT"]),
    Route("/api/governance/audit", audit, methods=["GET"]),
    Route("/api/providers", providers, methods=["GET"]),
    Route("/api/providers/{provider}/keys", put_provider_key, methods=["POST"]),
    Route("/api/providers/{provider}/keys/{name}", delete_provider_key, methods=["DELETE"]),
]
