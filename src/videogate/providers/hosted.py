"""Model tables and normalised fields for hosts of many models (fal apps, Replicate models).

A host runs hundreds of models whose inputs differ, so the gateway cannot know them all:
an adapter ships a few `ModelSpec`s it can vouch for, and a deployment declares the rest
under `options.models.<model>` — `aspect_ratios` and `durations` (which the adapters
already read), and `spec` for any other `ModelSpec` field (`audio`, `last_frame`,
`max_reference_images`, `resolutions`...). The normalised create fields go to the input
names in `inputs` (the same per-model renaming table), each off unless named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from ..errors import bad_request
from .base import CreateParams
from .media import image_url_input
from .params import configured_input
from .specs import ModelSpec, find_spec

# A model known only by its options: everything the options do not restrict is allowed,
# and the input-name table turns off what the model does not take (with a clear 400).
OPEN_SPEC = ModelSpec(
    audio=True,
    image_input=True,
    last_frame=True,
    max_reference_images=16,
    negative_prompt=True,
    seed=True,
)
SPEC_FIELDS = {f.name for f in fields(ModelSpec)}
TUPLE_FIELDS = {"seconds", "sizes", "resolutions", "aspect_ratios", "fps"}
# Normalised CreateParams field -> its usual input name on hosted video models; None: not
# sent unless `options.models.<model>.inputs` names it (models disagree on these names).
NORMALISED_INPUTS: dict[str, str | None] = {
    "generate_audio": "generate_audio",
    "negative_prompt": "negative_prompt",
    "seed": "seed",
    "resolution": "resolution",
    "fps": None,
    "last_frame": None,  # e.g. "end_image_url" (fal Kling), "last_frame_image" (Replicate)
    "reference_images": None,  # e.g. "image_urls" (fal Veo 3.1 reference-to-video)
}


def declared_spec(
    table: Mapping[str, ModelSpec], options: Mapping[str, Any], model: str
) -> ModelSpec | None:
    """`model`'s built-in entry with its per-model options laid over it; None when neither
    exists (the model is undeclared and passes through)."""
    base = find_spec(table, model)
    over: dict[str, Any] = {}
    if options.get("aspect_ratios") is not None:
        over["aspect_ratios"] = tuple(str(r) for r in options["aspect_ratios"])
    if options.get("durations") is not None:
        over["seconds"] = tuple(int(d) for d in options["durations"])
    declared = options.get("spec")
    if isinstance(declared, Mapping):
        for name, value in declared.items():
            if name not in SPEC_FIELDS:
                raise ValueError(f"options spec field {name!r} is not a ModelSpec field")
            if name in TUPLE_FIELDS:
                value = tuple(value)
            elif name == "operations":
                value = frozenset(value)
            over[name] = value
    if base is None and not over:
        return None
    return replace(base or OPEN_SPEC, **over)


def normalised_inputs(
    params: CreateParams, names: Mapping[str, str | None], subject: str, vendor: str
) -> dict[str, Any]:
    """The normalised fields the request sets, under the model's input names; a 400 for a
    field the model is configured without."""
    out: dict[str, Any] = {}
    values: dict[str, Any] = {
        "generate_audio": params.generate_audio,
        "negative_prompt": params.negative_prompt,
        "seed": params.seed,
        "resolution": params.resolution,
        "fps": params.fps,
    }
    if params.last_frame is not None:
        values["last_frame"] = image_url_input(params.last_frame, vendor)
    images = list(params.reference_images) + [c.image for c in params.characters if c.image]
    if images:
        values["reference_images"] = [image_url_input(ref, vendor) for ref in images]
    for field, value in values.items():
        if value is None:
            continue
        name = configured_input(
            names.get(field, NORMALISED_INPUTS.get(field)),
            subject,
            f"a {field}",
            f"unsupported_{field}",
            field,
        )
        out[name] = value
    return out


def check_aspect(ratio: str, allowed: Any, subject: str) -> None:
    """A 400 when `ratio` is not one the model's options list."""
    if allowed is not None and ratio not in allowed:
        raise bad_request(
            "invalid_aspect_ratio",
            f"{subject} takes aspect ratios {', '.join(allowed)}, not {ratio}.",
            "aspect_ratio",
        )
