"""What each provider model accepts, in one table per adapter: the catalogue at `/v1/models`
shows it and `check_spec` enforces it, so the two cannot disagree.

An adapter declares `models = {pattern: ModelSpec(...)}` (fnmatch patterns; the most
specific match wins) and `Provider.spec(model)` finds the entry. A model no entry matches
has no declared limits: the gateway passes it through and lets the provider decide, as
before, and the catalogue lists it as "undeclared".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Protocol

from ..errors import bad_request


class _Named(Protocol):
    @property
    def value(self) -> str: ...


class _Character(Protocol):
    @property
    def image(self) -> object | None: ...


class Checked(Protocol):
    """The fields of `base.CreateParams` a spec checks (a Protocol, so this module does
    not import the one that imports it)."""

    @property
    def model(self) -> str: ...
    @property
    def operation(self) -> _Named: ...
    @property
    def seconds(self) -> str | None: ...
    @property
    def size(self) -> str | None: ...
    @property
    def resolution(self) -> str | None: ...
    @property
    def aspect_ratio(self) -> str | None: ...
    @property
    def fps(self) -> int | None: ...
    @property
    def generate_audio(self) -> bool | None: ...
    @property
    def input_reference(self) -> object | None: ...
    @property
    def last_frame(self) -> object | None: ...
    @property
    def reference_images(self) -> Sequence[object]: ...
    @property
    def characters(self) -> Sequence[_Character]: ...
    @property
    def n(self) -> int | None: ...
    @property
    def negative_prompt(self) -> str | None: ...
    @property
    def seed(self) -> int | None: ...


def _all_operations() -> frozenset[str]:
    return frozenset({"create"})


@dataclass(frozen=True)
class ModelSpec:
    """The limits of one provider model. Empty tuples mean "not restricted here".

    `operations` holds `Operation` values ("create", "edit", "extend"). `seconds` lists
    allowed whole durations; `min_seconds`/`max_seconds` bound any duration instead (either
    may be used). `sizes` are `WxH`; `resolutions` tiers such as "720p"; `aspect_ratios`
    such as "16:9". `audio`: `generate_audio: true` is possible; `audio_default`: the
    provider adds sound unless told not to. `image_input`: a first frame may be given;
    `last_frame`: a last frame too. `max_reference_images` 0 means none accepted.
    `max_extend_seconds` bounds an extension's new segment.
    """

    operations: frozenset[str] = field(default_factory=_all_operations)
    seconds: tuple[int, ...] = ()
    min_seconds: float | None = None
    max_seconds: float | None = None
    sizes: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    fps: tuple[int, ...] = ()
    audio: bool = False
    audio_default: bool = False
    image_input: bool = False
    last_frame: bool = False
    max_reference_images: int = 0
    max_extend_seconds: float | None = None
    max_clips: int = 1
    negative_prompt: bool = False
    seed: bool = False

    def describe(self) -> dict[str, Any]:
        """The catalogue's `accepts` object."""
        return {
            "operations": sorted(self.operations),
            "seconds": list(self.seconds),
            "min_seconds": self.min_seconds,
            "max_seconds": self.max_seconds,
            "sizes": list(self.sizes),
            "resolutions": list(self.resolutions),
            "aspect_ratios": list(self.aspect_ratios),
            "fps": list(self.fps),
            "audio": self.audio,
            "audio_default": self.audio_default,
            "image_input": self.image_input,
            "last_frame": self.last_frame,
            "max_reference_images": self.max_reference_images,
            "max_extend_seconds": self.max_extend_seconds,
            "max_clips": self.max_clips,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
        }


def find_spec(table: Mapping[str, ModelSpec], model: str) -> ModelSpec | None:
    """The entry of `table` whose pattern matches `model` most specifically (fewest
    wildcards, then longest), or None."""
    if model in table:
        return table[model]
    hits = [p for p in table if fnmatchcase(model, p)]
    if not hits:
        return None
    best = max(hits, key=lambda p: (-p.count("*") - p.count("?"), len(p)))
    return table[best]


def spec_problem(spec: ModelSpec, params: Checked) -> tuple[str, str, str] | None:
    """Why `params` cannot be served by a model with `spec`, as (code, message, param), or
    None when it can. Routing uses this to drop candidates; `check_spec` to refuse."""
    op = params.operation
    if op.value not in spec.operations:
        return (
            "unsupported_operation",
            f"{params.model} does not support {op.value}; it supports "
            f"{', '.join(sorted(spec.operations))}.",
            "model",
        )
    seconds = _seconds(params.seconds)
    if seconds is not None:
        if spec.seconds and op.value != "extend" and int(seconds) not in spec.seconds:
            allowed = ", ".join(str(s) for s in spec.seconds)
            return ("invalid_seconds", f"{params.model} renders {allowed} seconds.", "seconds")
        low, high = spec.min_seconds, spec.max_seconds
        if op.value == "extend" and spec.max_extend_seconds is not None:
            low, high = None, spec.max_extend_seconds
        if (low is not None and seconds < low) or (high is not None and seconds > high):
            return (
                "invalid_seconds",
                f"{params.model} takes seconds from {low or 1:g} to {high:g}."
                if high is not None
                else f"{params.model} takes at least {low:g} seconds.",
                "seconds",
            )
    if params.size and spec.sizes and params.size not in spec.sizes:
        return (
            "invalid_size",
            f"{params.model} renders sizes {', '.join(spec.sizes)}, not {params.size}.",
            "size",
        )
    if params.resolution and spec.resolutions and params.resolution not in spec.resolutions:
        return (
            "invalid_resolution",
            f"{params.model} renders {', '.join(spec.resolutions)}, not {params.resolution}.",
            "resolution",
        )
    if params.aspect_ratio and spec.aspect_ratios and params.aspect_ratio not in spec.aspect_ratios:
        return (
            "invalid_aspect_ratio",
            f"{params.model} takes aspect ratios {', '.join(spec.aspect_ratios)}.",
            "aspect_ratio",
        )
    if params.fps is not None and spec.fps and params.fps not in spec.fps:
        allowed = ", ".join(str(f) for f in spec.fps)
        return ("invalid_fps", f"{params.model} renders at {allowed} fps.", "fps")
    if params.generate_audio and not spec.audio:
        return ("unsupported_audio", f"{params.model} does not generate audio.", "generate_audio")
    if params.input_reference is not None and not spec.image_input:
        return (
            "unsupported_input_reference",
            f"{params.model} does not take an input image.",
            "input_reference",
        )
    if params.last_frame is not None and not spec.last_frame:
        return (
            "unsupported_last_frame",
            f"{params.model} does not take a last frame.",
            "last_frame",
        )
    refs = len(params.reference_images) + sum(1 for c in params.characters if c.image)
    if refs > spec.max_reference_images:
        return (
            "too_many_reference_images",
            f"{params.model} takes at most {spec.max_reference_images} reference images "
            f"(characters count as one each); got {refs}.",
            "reference_images",
        )
    if params.n is not None and params.n > spec.max_clips:
        return ("invalid_n", f"{params.model} renders at most {spec.max_clips} clips.", "n")
    if params.negative_prompt and not spec.negative_prompt:
        return (
            "unsupported_negative_prompt",
            f"{params.model} does not take a negative_prompt.",
            "negative_prompt",
        )
    if params.seed is not None and not spec.seed:
        return ("unsupported_seed", f"{params.model} does not take a seed.", "seed")
    return None


def check_spec(spec: ModelSpec | None, params: Checked) -> None:
    """A 400 for the first thing `spec` does not accept (nothing when undeclared)."""
    if spec is None:
        return
    problem = spec_problem(spec, params)
    if problem is not None:
        code, message, param = problem
        raise bad_request(code, message, param)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
