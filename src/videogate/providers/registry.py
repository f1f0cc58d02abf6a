"""Builds the configured providers from their `type` names.

Adding a provider means adding its module and one line to `ADAPTERS`; nothing else in the
gateway names a provider.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ProviderConfig, Settings
from .base import Provider
from .openai import OpenAIProvider
from .simulated import SimulatedProvider

ADAPTERS: dict[str, type[Provider]] = {
    cls.type_name: cls for cls in (SimulatedProvider, OpenAIProvider)
}


def build_provider(provider_id: str, config: ProviderConfig, data_dir: Path) -> Provider:
    type_name = config.type or provider_id
    cls = ADAPTERS.get(type_name)
    if cls is None:
        raise ValueError(
            f"provider {provider_id!r} has unknown type {type_name!r}; known: {sorted(ADAPTERS)}"
        )
    if cls is SimulatedProvider:
        config = config.model_copy(deep=True)
        config.options.setdefault("state_dir", str(data_dir / provider_id))
    return cls(provider_id, config)


def build_providers(settings: Settings) -> dict[str, Provider]:
    return {
        pid: build_provider(pid, cfg, settings.data_dir) for pid, cfg in settings.providers.items()
    }
