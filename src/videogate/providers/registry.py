"""Finds and builds the configured providers from their `type` names.

An adapter lives in `videogate.providers.<type>` and subclasses `Provider` with that
`type_name`; it is imported only when configured, so adding a provider touches no other
module. `KNOWN_TYPES` lists the shipped adapters for `/v1/providers` and the README table.
"""

from __future__ import annotations

import importlib
import inspect

from ..config import ProviderConfig, Settings
from .base import Provider

KNOWN_TYPES: tuple[str, ...] = (
    "simulated",
    "openai",
    "azure",
    "gemini",
    "vertex",
    "runway",
    "luma",
    "fal",
    "replicate",
    "minimax",
    "kling",
    "seedance",
    "dashscope",
    "vidu",
    "minimax_h3",
    "bedrock",
    "xai",
    "openrouter",
    "ltx",
)


def adapter_class(type_name: str) -> type[Provider]:
    if not type_name.isidentifier():
        raise ValueError(f"provider type {type_name!r} is not a module name")
    try:
        module = importlib.import_module(f"{__package__}.{type_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.{type_name}":
            raise
        raise ValueError(
            f"unknown provider type {type_name!r}; known: {', '.join(KNOWN_TYPES)}"
        ) from None
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, Provider) and getattr(cls, "type_name", None) == type_name:
            return cls
    raise ValueError(f"module for provider type {type_name!r} defines no adapter")


def build_provider(provider_id: str, config: ProviderConfig, settings: Settings) -> Provider:
    cls = adapter_class(config.type or provider_id)
    if cls.needs_state_dir:
        config = config.model_copy(deep=True)
        config.options.setdefault("state_dir", str(settings.data_dir / provider_id))
    return cls(provider_id, config)


def build_providers(settings: Settings) -> dict[str, Provider]:
    return {pid: build_provider(pid, cfg, settings) for pid, cfg in settings.providers.items()}


CAPABILITY_COLUMNS = (
    ("create", "create"),
    ("retrieve", "retrieve"),
    ("content", "video"),
    ("thumbnail", "thumbnail"),
    ("spritesheet", "spritesheet"),
    ("remix", "remix"),
    ("delete", "delete"),
    ("cancel", "cancel"),
    ("image_input", "image input"),
    ("edit", "edit"),
    ("extend", "extend"),
    ("audio", "audio"),
    ("references", "references"),
)


def capability_table() -> str:
    """The Markdown capability matrix of every shipped adapter (README and CLI)."""
    header = "| provider | " + " | ".join(label for _, label in CAPABILITY_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(CAPABILITY_COLUMNS) + 1)]
    for type_name in KNOWN_TYPES:
        for label, cls in _variants(type_name):
            caps = {c.value for c in cls.capabilities}
            marks = " | ".join("✓" if cap in caps else "-" for cap, _ in CAPABILITY_COLUMNS)
            lines.append(f"| {label} | {marks} |")
    return "\n".join(lines)


def _variants(type_name: str) -> list[tuple[str, type[Provider]]]:
    """One row per concrete adapter class of a type (Azure has one per API)."""
    module = importlib.import_module(f"{__package__}.{type_name}")
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Provider)
        and cls.__module__ == module.__name__
        and getattr(cls, "type_name", None) == type_name
        and not cls.__name__.startswith("_")
        and not inspect.isabstract(cls)
    ]
    if len(found) <= 1:
        return [(f"`{type_name}`", adapter_class(type_name))]
    return [
        (f"`{type_name}` ({(cls.__doc__ or cls.__name__).split(':')[0].strip()})", cls)
        for cls in found
    ]
