"""From a model name to the providers that will serve it, and from a video id to its row.

`provider/model`, a configured alias (followed up to three deep), or a bare model on the
provider of the mount it came in on (`/openai/videos`: the openai provider) or else the
default provider. A create is planned against every target (the model, then each fallback)
before any upstream call, so no money is spent on a request some target would refuse.
"""

from __future__ import annotations

from typing import NamedTuple

from ..config import ModelsConfig
from ..errors import bad_request
from ..providers.base import Capability, Prepared, Provider
from ..providers.specs import check_spec
from .requests import CreateRequest


class Target(NamedTuple):
    """One provider a create may go to, with the request it would send there."""

    provider: Provider
    prepared: Prepared


class Routing:
    def __init__(self, providers: dict[str, Provider], models: ModelsConfig) -> None:
        self.providers = providers
        self.models = models

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

    def plan(self, request: CreateRequest, reference: str | None = None) -> list[Target]:
        """Every target, each request prepared (validated and built) once; `reference`
        goes to providers that take a client reference (see `find_created`)."""
        targets = [self.resolve_model(request.model, request.mount)]
        targets += [self.resolve_model(m, request.mount) for m in request.fallbacks]
        planned = []
        for provider, model in targets:
            params = request.params_for(model, reference)
            if params.input_reference is not None and not provider.supports(Capability.IMAGE_INPUT):
                raise bad_request(
                    "unsupported_input_reference",
                    f"Provider {provider.id!r} does not accept an input_reference.",
                    "input_reference",
                )
            check_spec(provider.spec(model), params)
            planned.append(Target(provider, provider.prepare(params)))
        return planned
