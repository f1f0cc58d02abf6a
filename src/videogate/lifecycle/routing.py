"""From a model name to the providers that will serve it, and from a video id to its row.

A public model (`models.routes`, or one set through the admin API) names deployments on
several hosts; the request goes to those that can serve it, ordered by the route's strategy
(`priority`: as listed; `cheapest`: by this request's estimated cost; `fastest`: by the
measured recent time to completion), and a retryable failure moves to the next. Otherwise:
`provider/model`, a configured alias (followed up to three deep), or a bare model on the
provider of the mount it came in on (`/openai/videos`: the openai provider) or else the
default provider. A create is planned against every target (the model, then each fallback)
before any upstream call, so no money is spent on a request some target would refuse.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

from ..config import ModelsConfig, RouteConfig
from ..errors import GatewayError, bad_request
from ..governance.prices import Price, PriceTable, Usage
from ..providers.base import (
    OPERATION_CAPABILITY,
    Capability,
    CreateParams,
    Operation,
    Prepared,
    Provider,
)
from ..providers.specs import spec_problem
from ..store.speeds import Speed, SpeedStore
from .requests import CreateRequest

ESTIMATE_SECONDS = 8.0  # when neither the request nor the provider says how long
SPEED_REFRESH_SECONDS = 5.0


class Target(NamedTuple):
    """One provider a create may go to, with the request it would send there."""

    provider: Provider
    prepared: Prepared

    @property
    def deployment(self) -> str:
        return f"{self.provider.id}/{self.prepared.params.model}"


class Skipped(NamedTuple):
    """A route's deployment left out of a plan, and why (shown by the quote)."""

    deployment: str
    code: str
    message: str
    param: str | None


class Plan(list[Target]):
    """The targets of a create in the order they are tried, with the public model they
    came from (None for a plain model) and the deployments that could not serve it."""

    route: str | None = None
    strategy: str | None = None
    skipped: list[Skipped]

    def __init__(self, targets: list[Target], route: str | None = None) -> None:
        super().__init__(targets)
        self.route = route
        self.skipped = []

    def narrowed(self, targets: list[Target]) -> Plan:
        """The same route and skipped list over fewer targets."""
        out = Plan(targets, self.route)
        out.strategy, out.skipped = self.strategy, list(self.skipped)
        return out


def budget_levels(plan: Plan, costs: list[float]) -> Iterator[tuple[float, Plan]]:
    """The reservations a create may try, dearest first: each distinct estimate (`costs`
    are the plan's, in order) with the targets that cost no more. The create reserves the
    first its budgets admit; the quote reports the same one."""
    for level in sorted(set(costs), reverse=True):
        yield level, plan.narrowed([t for t, c in zip(plan, costs, strict=True) if c <= level])


def usage_of(provider: Provider, prepared: Prepared) -> Usage:
    """The billable dimensions of a prepared create, before it runs. An extension bills its
    new segment as output and the source as input seconds; an edit bills its output (as
    long as the source) and the source it reads."""
    params = prepared.params
    source = params.source
    input_seconds = float(source.seconds or 0.0) if source is not None else 0.0
    seconds = _number(prepared.seconds) or _number(params.seconds)
    if params.operation is Operation.EXTEND:
        added = _number(params.seconds)
        if added is None and seconds is not None:
            added = max(0.0, seconds - input_seconds)
        seconds = added
    spec = provider.spec(params.model)
    audio = params.generate_audio
    if audio is None:
        audio = bool(spec and spec.audio_default)
    return Usage(
        seconds=seconds if seconds is not None else ESTIMATE_SECONDS,
        size=prepared.size or params.size,
        resolution=params.resolution,
        audio=audio,
        input_seconds=input_seconds,
        fps=params.fps,
    )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


class SpeedBook:
    """Each process's copy of the measured speeds, read from the store at most every
    `SPEED_REFRESH_SECONDS` (creates on a `fastest` route, and the catalogue)."""

    def __init__(self, store: SpeedStore | None) -> None:
        self.store = store
        self.speeds: dict[str, Speed] = {}
        self._read_at = -math.inf

    async def fresh(self) -> dict[str, Speed]:
        if self.store is not None and time.monotonic() - self._read_at > SPEED_REFRESH_SECONDS:
            self.speeds = await self.store.all()
            self._read_at = time.monotonic()
        return self.speeds

    async def record(self, deployment: str, seconds: float) -> None:
        if self.store is not None:
            await self.store.record(deployment, seconds)
            self._read_at = -math.inf


class Routing:
    def __init__(
        self,
        providers: dict[str, Provider],
        models: ModelsConfig,
        prices: PriceTable | None = None,
        speeds: SpeedStore | None = None,
    ) -> None:
        self.providers = providers
        self.models = models
        self.prices = prices or PriceTable({})
        self.speeds = SpeedBook(speeds)
        self.stored_routes: dict[str, RouteConfig] = {}  # set by GovernanceSync

    # -- public models ------------------------------------------------------------------
    def routes(self) -> dict[str, RouteConfig]:
        """Every public model: the config's, with stored ones taking their names' place."""
        return {**self.models.routes, **self.stored_routes}

    def set_stored_routes(self, routes: dict[str, RouteConfig]) -> None:
        self.stored_routes = routes

    def route(self, model: str | None) -> tuple[str, RouteConfig] | None:
        name = model or self.models.default_model
        found = self.stored_routes.get(name) or self.models.routes.get(name)
        return (name, found) if found is not None else None

    def deployment(self, ref: str) -> tuple[Provider, str] | None:
        """A route's `provider/model` entry, or None when that provider is not configured."""
        pid, _, model = ref.partition("/")
        provider = self.providers.get(pid)
        return (provider, model) if provider is not None else None

    def price(self, provider: Provider, model: str) -> tuple[str, Price]:
        return self.prices.for_deployment(provider.id, provider.type_name, model)

    def estimate(self, target: Target) -> float:
        """Dollars this target would charge for its request."""
        _, price = self.price(target.provider, target.prepared.params.model)
        return price.charge(usage_of(target.provider, target.prepared))

    @staticmethod
    def allowed(plan: Plan, check: Callable[[str, str, str | None], None]) -> Plan:
        """The targets `check` (provider id, model, route) lets through. A public model's
        deployments it refuses are left out (its refusal raised only when none is left);
        any other target must pass."""
        if plan.route is None:
            for provider, prepared in plan:
                check(provider.id, prepared.params.model, None)
            return plan
        kept = plan.narrowed([])
        refused: GatewayError | None = None
        for target in plan:
            try:
                check(target.provider.id, target.prepared.params.model, plan.route)
            except GatewayError as exc:
                refused = refused or exc
                kept.skipped.append(Skipped(target.deployment, exc.code, exc.message, "model"))
                continue
            kept.append(target)
        if not kept:
            assert refused is not None
            raise refused
        return kept

    def provider(self, provider_id: str, param: str = "provider") -> Provider:
        found = self.providers.get(provider_id)
        if found is None:
            raise bad_request(
                "unknown_provider",
                f"Provider {provider_id!r} is not configured; configured: {self.configured()}.",
                param,
            )
        return found

    def configured(self) -> str:
        return ", ".join(sorted(self.providers))

    def poll_after_ms(self, provider_id: str, fallback_ms: int = 5000) -> int:
        """The provider's poll interval; `fallback_ms` for one no longer configured."""
        found = self.providers.get(provider_id)
        return found.poll_after_ms if found is not None else fallback_ms

    def mount_provider(self, mount: str | None) -> Provider | None:
        """The provider a bare model goes to on `mount`'s integration: the one with that id,
        else the only one of that type (None: the mount adds no default)."""
        if mount is None:
            return None
        found = self.providers.get(mount)
        if found is not None:
            return found
        typed = [p for p in self.providers.values() if p.type_name == mount]
        return typed[0] if len(typed) == 1 else None

    def requested_name(self, model: str | None) -> str:
        """The model as Bifrost reports it in `model_requested`: without a `provider/`
        prefix naming a configured provider (core/schemas ParseModelString)."""
        model = model or self.models.default_model
        pid, sep, name = model.partition("/")
        return name if sep and name and pid in self.providers else model

    def resolve_model(
        self, model: str | None, mount: str | None = None, _depth: int = 0
    ) -> tuple[Provider, str]:
        model = model or self.models.default_model
        alias = self.models.aliases.get(model)
        if alias and _depth < 3:
            return self.resolve_model(alias, mount, _depth + 1)
        pid, sep, name = model.partition("/")
        if sep and pid in self.providers and name:
            return self.providers[pid], name
        on_mount = self.mount_provider(mount)
        if on_mount is not None:
            return on_mount, model
        default = self.models.default_provider
        if default and default in self.providers:
            return self.providers[default], model
        if sep:
            raise bad_request(
                "unknown_provider",
                f"Model {model!r} names provider {pid!r}, which is not configured; "
                f"configured: {self.configured()}.",
                "model",
            )
        raise bad_request(
            "unknown_model",
            f"Model {model!r} has no provider: use 'provider/model' (e.g. "
            f"'{self.models.default_model}') or configure an alias.",
            "model",
        )

    def plan(self, request: CreateRequest, reference: str | None = None) -> Plan:
        """Every target, each request prepared (validated and built) once; `reference`
        goes to providers that take a client reference (see `find_created`). A public
        model's deployments that cannot serve this request are left out (`Plan.skipped`);
        a 400 only when none can."""
        found = self.route(request.model)
        if found is not None:
            plan = self._route_plan(request, reference, *found)
        else:
            provider, model = self.resolve_model(request.model, request.mount)
            plan = Plan([self._target(provider, request.params_for(model, reference, provider.id))])
        for fallback in request.fallbacks:
            provider, model = self.resolve_model(fallback, request.mount)
            plan.append(self._target(provider, request.params_for(model, reference, provider.id)))
        return plan

    def _target(self, provider: Provider, params: CreateParams) -> Target:
        problem = self.problem(provider, params)
        if problem is not None:
            code, message, param = problem
            raise bad_request(code, message, param)
        return Target(provider, provider.prepare(params))

    def problem(self, provider: Provider, params: CreateParams) -> tuple[str, str, str] | None:
        """Why `provider` cannot serve `params` (code, message, param), or None."""
        if params.input_reference is not None and not provider.supports(Capability.IMAGE_INPUT):
            return (
                "unsupported_input_reference",
                f"Provider {provider.id!r} does not accept an input_reference.",
                "input_reference",
            )
        needed = OPERATION_CAPABILITY[params.operation]
        if not provider.supports(needed):
            return (
                "unsupported_operation",
                f"Provider {provider.id!r} does not support {params.operation.value}.",
                "model",
            )
        spec = provider.spec(params.model)
        if spec is not None:
            return spec_problem(spec, params)
        # No table for this model: the adapter's declared capabilities decide.
        if params.generate_audio and not provider.supports(Capability.AUDIO):
            return (
                "unsupported_audio",
                f"Provider {provider.id!r} does not generate audio.",
                "generate_audio",
            )
        if (params.reference_images or params.characters) and not provider.supports(
            Capability.REFERENCES
        ):
            return (
                "unsupported_reference_images",
                f"Provider {provider.id!r} does not take reference images or characters.",
                "reference_images",
            )
        return None

    def _route_plan(
        self, request: CreateRequest, reference: str | None, name: str, route: RouteConfig
    ) -> Plan:
        plan = Plan([], name)
        plan.strategy = route.strategy
        for ref in route.deployments:
            resolved = self.deployment(ref)
            if resolved is None:
                plan.skipped.append(
                    Skipped(ref, "unknown_provider", "its provider is not configured", "model")
                )
                continue
            provider, model = resolved
            params = request.params_for(model, reference, provider.id)
            problem = self.problem(provider, params)
            if problem is None:
                try:
                    plan.append(Target(provider, provider.prepare(params)))
                    continue
                except GatewayError as exc:
                    if exc.status != 400:
                        raise
                    problem = (exc.code, exc.message, exc.param or "model")
            plan.skipped.append(Skipped(ref, *problem))
        if not plan:
            raise self.unservable(name, plan.skipped)
        self.order(route, plan)
        return plan

    @staticmethod
    def unservable(name: str, skipped: list[Skipped]) -> GatewayError:
        why = "; ".join(f"{s.deployment}: {s.message}" for s in skipped)
        return bad_request(
            "no_deployment_available",
            f"No deployment of {name!r} can serve this request ({why}).",
            skipped[0].param if skipped else "model",
        )

    def order(self, route: RouteConfig, plan: Plan) -> None:
        """Sort `plan` in place by the route's strategy; ties keep the listed order, and
        a deployment whose circuit is open goes last (it is skipped while open)."""
        listed = {t.deployment: i for i, t in enumerate(plan)}
        if route.strategy == "cheapest":
            costs = {t.deployment: self.estimate(t) for t in plan}

            def key(t: Target) -> tuple[float, ...]:
                return (costs[t.deployment], listed[t.deployment])
        elif route.strategy == "fastest":
            speeds = self.speeds.speeds

            def key(t: Target) -> tuple[float, ...]:
                # unmeasured deployments after measured ones, in listed order
                measured = speeds.get(t.deployment)
                mean = measured.mean_seconds if measured else math.inf
                return (mean, listed[t.deployment])
        else:

            def key(t: Target) -> tuple[float, ...]:
                return (listed[t.deployment],)

        plan.sort(key=lambda t: (1.0 if t.provider.breaker.is_open() else 0.0, *key(t)))
