"""The model catalogue (`GET /v1/models`) and the quote (`POST /v1/videos/quote`).

Both read the tables the create path enforces: each adapter's `ModelSpec` (what a model
accepts), the price table, the routes and the measured speeds. So the catalogue cannot
promise what a create would refuse, and a quote is the create's own plan, stopped before
anything is reserved or sent upstream.
"""

from __future__ import annotations

import time
from typing import Any

from ..config import RouteConfig
from ..governance.auth import Principal
from ..governance.policy import Governance
from ..providers.base import Provider
from ..store.speeds import Speed
from .requests import CreateRequest
from .routing import Routing, Target, budget_levels, usage_of

CREATED = int(time.time())  # OpenAI's model objects carry a creation time


class Catalogue:
    def __init__(self, routing: Routing, gov: Governance) -> None:
        self.routing = routing
        self.gov = gov

    # -- /v1/models -----------------------------------------------------------------------
    async def models(self) -> list[dict[str, Any]]:
        """Public models first (by name), then every provider's declared models."""
        speeds = await self.routing.speeds.fresh()
        routes = self.routing.routes()
        out = [self._route(name, routes[name], speeds) for name in sorted(routes)]
        for provider in self.routing.providers.values():
            for model in _declared(provider):
                out.append(self._deployment(provider, model, speeds, owned=True))
        return out

    async def model(self, model_id: str) -> dict[str, Any] | None:
        speeds = await self.routing.speeds.fresh()
        route = self.routing.route(model_id)
        if route is not None:
            return self._route(route[0], route[1], speeds)
        found = self.routing.deployment(model_id)
        if found is None:
            return None
        provider, model = found
        return self._deployment(provider, model, speeds, owned=True)

    def _route(self, name: str, route: RouteConfig, speeds: dict[str, Speed]) -> dict[str, Any]:
        deployments: list[dict[str, Any]] = []
        for ref in route.deployments:
            found = self.routing.deployment(ref)
            if found is None:
                deployments.append({"id": ref, "configured": False})
                continue
            deployments.append(self._deployment(found[0], found[1], speeds, owned=False))
        accepts = merge_accepts([d["accepts"] for d in deployments if d.get("accepts")])
        return {
            "id": name,
            "object": "model",
            "created": CREATED,
            "owned_by": "videogate",
            "kind": "route",
            "strategy": route.strategy,
            "description": route.description,
            "source": "admin" if name in self.routing.stored_routes else "config",
            "accepts": accepts,
            "deployments": deployments,
        }

    def _deployment(
        self, provider: Provider, model: str, speeds: dict[str, Speed], *, owned: bool
    ) -> dict[str, Any]:
        ref = f"{provider.id}/{model}"
        spec = provider.spec(model)
        pattern, price = self.routing.price(provider, model)
        measured = speeds.get(ref)
        healthy_keys = sum(1 for k in provider.keys.keys if provider.keys.is_healthy(k))
        entry: dict[str, Any] = {
            "id": ref,
            "provider": provider.id,
            "provider_type": provider.type_name,
            "model": model,
            "accepts": spec.describe() if spec is not None else None,
            "price": {"pattern": pattern, **price.describe()},
            "health": {
                "circuit": provider.breaker.state(),
                "keys": len(provider.keys.keys),
                "healthy_keys": healthy_keys,
                "healthy": not provider.breaker.is_open()
                and (healthy_keys > 0 or not provider.needs_key),
            },
            "speed": None
            if measured is None
            else {
                "mean_seconds": round(measured.mean_seconds, 3),
                "last_seconds": round(measured.last_seconds, 3),
                "samples": measured.samples,
                "updated_at": measured.updated_at,
            },
        }
        if owned:
            entry = {
                "object": "model",
                "created": CREATED,
                "owned_by": provider.id,
                "kind": "deployment",
                **entry,
            }
        return entry

    # -- /v1/videos/quote -----------------------------------------------------------------
    async def quote(self, principal: Principal, request: CreateRequest) -> dict[str, Any]:
        """The deployment a create of `request` would go to first, what it would cost,
        every candidate in order, and whether the caller's budgets admit it; no upstream
        call and nothing reserved."""
        route = self.routing.route(request.model)
        if route is not None and route[1].strategy == "fastest":
            await self.routing.speeds.fresh()
        plan = self.routing.plan(request, None)
        subject = await self.gov.subject(principal.key)

        def check(provider_id: str, model: str, route_name: str | None) -> None:
            self.gov.check_access(subject, provider_id, model, route_name)

        plan = self.routing.allowed(plan, check)
        every = [self._candidate(i, t) for i, t in enumerate(plan)]
        # As the create reserves (`budget_levels`): the first level the budgets admit,
        # else the cheapest (whose budgets are then reported as refusing).
        costs = [c["estimated_cost_usd"] for c in every]
        for reserved, kept in budget_levels(plan, costs):
            names = {t.deployment for t in kept}
            candidates = [c for c in every if c["deployment"] in names]
            seconds = max(c["seconds"] for c in candidates)
            budgets = await self.gov.admits(subject, reserved, seconds)
            if all(b["admitted"] for b in budgets):
                break
        over = [c for c in every if c not in candidates]
        first = candidates[0]
        return {
            "object": "video.quote",
            "model": request.model or self.routing.models.default_model,
            "route": plan.route,
            "strategy": plan.strategy,
            "deployment": first["deployment"],
            "provider": first["provider"],
            "estimated_cost_usd": first["estimated_cost_usd"],
            "reserved_usd": reserved,
            "currency": "USD",
            "seconds": first["seconds"],
            "admitted": all(b["admitted"] for b in budgets),
            "budgets": budgets,
            "candidates": candidates,
            "skipped": [
                {"deployment": s.deployment, "code": s.code, "message": s.message}
                for s in plan.skipped
            ]
            + [
                {
                    "deployment": c["deployment"],
                    "code": "budget_exceeded",
                    "message": f"${c['estimated_cost_usd']:g} does not fit the budgets",
                }
                for c in over
            ],
        }

    def _candidate(self, index: int, target: Target) -> dict[str, Any]:
        use = usage_of(target.provider, target.prepared)
        pattern, _ = self.routing.price(target.provider, target.prepared.params.model)
        speed = self.routing.speeds.speeds.get(target.deployment)
        return {
            "order": index,
            "deployment": target.deployment,
            "provider": target.provider.id,
            "model": target.prepared.params.model,
            "estimated_cost_usd": self.routing.estimate(target),
            "price_pattern": pattern,
            "seconds": use.seconds,
            "resolution": use.tier(),
            "audio": use.audio,
            "circuit": target.provider.breaker.state(),
            "mean_seconds_to_complete": round(speed.mean_seconds, 3) if speed else None,
        }


def _declared(provider: Provider) -> list[str]:
    """The models a provider lists: its spec table's names (patterns included, as the
    family they stand for) and the config's advertised `models`."""
    names = list(provider.models)
    names += [m for m in provider.config.models if m not in provider.models]
    return names


def merge_accepts(specs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What a route accepts: what at least one of its deployments does (the request goes
    to those that can serve it)."""
    if not specs:
        return None
    out: dict[str, Any] = {}
    for spec in specs:
        for name, value in spec.items():
            have = out.get(name)
            if isinstance(value, list):
                out[name] = sorted({*(have or []), *value}, key=str)
            elif isinstance(value, bool):
                out[name] = bool(have) or value
            elif isinstance(value, int | float):
                out[name] = value if have is None else max(have, value)
            elif name not in out:
                out[name] = value
    lows = [s["min_seconds"] for s in specs if s.get("min_seconds") is not None]
    out["min_seconds"] = min(lows) if lows else None
    return out
