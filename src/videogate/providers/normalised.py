"""The normalised generation fields of `CreateParams` turned into what providers take: the
reference stills a request carries (images and characters), the source video of an edit or
an extension as a URL, an OpenAI `size` read as a resolution tier and an aspect ratio, a
regional API root, and a field given both as a normalised value and as a provider extra.

Shared because the DashScope, Vidu and MiniMax H3 adapters all meet these; one copy keeps
their refusals (and messages) identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import ConfigError, UpstreamKey
from ..errors import bad_request
from .base import CreateParams, InputReference
from .convert import parse_size
from .media import ImageRules, ReferenceImage, reference_image

# For `refuse_reserved`: body fields an adapter derives from the request's own fields.
DERIVED_MESSAGE = "{name!r} is derived from the request's {source!r}; set that instead."
RATIO_TOLERANCE = 0.02  # 1366x768 is "16:9" although 1366/768 is 1.7786, not 1.7778


def reference_inputs(params: CreateParams) -> list[InputReference]:
    """The stills that guide a render: `reference_images`, then each character's image
    (characters without a still are left to the prompt)."""
    return [*params.reference_images, *(c.image for c in params.characters if c.image)]


def reference_stills(
    params: CreateParams, rules: ImageRules, param: str = "reference_images"
) -> list[ReferenceImage]:
    """`reference_inputs` checked against the provider's image rules, in order."""
    return [reference_image(ref, rules, param) for ref in reference_inputs(params)]


def image_url(image: ReferenceImage) -> str:
    """The form JSON APIs that fetch their inputs take: the http(s) URL, or a data: URL."""
    return image.url or image.data_url()


def source_url(params: CreateParams, vendor: str) -> str:
    """The URL the provider fetches an edit's or an extension's source video from; a 400
    when the gateway only holds its id or bytes (these APIs take no uploads)."""
    source = params.source
    if source is None:
        raise bad_request(
            "missing_source", f"{params.operation.value} needs a source video.", "source"
        )
    if not source.url:
        raise bad_request(
            "unsupported_source",
            f"{vendor} fetches the source video from a URL; this one has no URL the "
            "provider can read (mirror it to public storage first).",
            "source",
        )
    return source.url


def tier_and_ratio(
    params: CreateParams,
    tiers: Mapping[int, str],
    ratios: tuple[str, ...],
    vendor: str,
) -> tuple[str | None, str | None]:
    """(resolution tier, aspect ratio) the provider is asked for, None where not given.

    `size` (`WxH`) is read by its short edge (`tiers`: edge -> the provider's tier name) and
    the nearest of `ratios`; `resolution` ("720p") and `aspect_ratio` may be given instead,
    or as well when they agree. A size the provider cannot render is a 400 listing what is.
    """
    by_name = {name.lower(): name for name in tiers.values()}
    tier = by_name.get(params.resolution.lower()) if params.resolution else None
    if params.resolution and tier is None:
        raise bad_request(
            "invalid_resolution",
            f"{vendor} renders {', '.join(tiers.values())}, not {params.resolution}.",
            "resolution",
        )
    ratio = params.aspect_ratio
    if ratio is not None and ratio not in ratios:
        raise bad_request(
            "invalid_aspect_ratio",
            f"{vendor} takes aspect ratios {', '.join(ratios)}, not {ratio}.",
            "aspect_ratio",
        )
    if params.size is None:
        return tier, ratio
    dims = parse_size(params.size)
    size_tier = tiers.get(min(dims)) if dims else None
    size_ratio = nearest_ratio(dims, ratios) if dims else None
    if size_tier is None or size_ratio is None:
        edges = ", ".join(f"{edge} ({name})" for edge, name in tiers.items())
        raise bad_request(
            "invalid_size",
            f"size {params.size!r} is not supported by {vendor}: its short edge picks the "
            f"resolution ({edges}) and its shape one of the aspect ratios {', '.join(ratios)}.",
            "size",
        )
    return agreeing(params, (tier, ratio), (size_tier, size_ratio))


def agreeing(
    params: CreateParams, given: tuple[str | None, str | None], from_size: tuple[str, str]
) -> tuple[str, str]:
    """`from_size` (the tier and ratio `params.size` means) when the (resolution,
    aspect_ratio) also `given` agree with it; a 400 naming the one that contradicts."""
    for name, value, derived in zip(("resolution", "aspect_ratio"), given, from_size, strict=True):
        if value is not None and value != derived:
            raise bad_request(
                "invalid_parameter", f"{name} {value!r} contradicts size {params.size!r}.", name
            )
    return from_size


def nearest_ratio(dims: tuple[int, int], ratios: tuple[str, ...]) -> str | None:
    """The `W:H` of `ratios` within RATIO_TOLERANCE of `dims`' shape, or None."""
    shape = dims[0] / dims[1]
    for ratio in ratios:
        width, _, height = ratio.partition(":")
        if height and abs(shape / (int(width) / int(height)) - 1) <= RATIO_TOLERANCE:
            return ratio
    return None


def merged(name: str, normalised: Any, extra: dict[str, Any], wire: str | None = None) -> Any:
    """The value of a field given as a normalised parameter and/or as the provider's own
    extra (`wire`, default `name`), which is popped; a 400 when the two disagree."""
    given = extra.pop(wire or name, None)
    if normalised is not None and given is not None and given != normalised:
        raise bad_request(
            "invalid_parameter",
            f"{wire or name} {given!r} contradicts {name} {normalised!r}.",
            name,
        )
    return normalised if normalised is not None else given


def refuse_fps(params: CreateParams, vendor: str) -> None:
    """A 400 for `fps`: the provider renders at a fixed frame rate and takes none."""
    if params.fps is not None:
        raise bad_request("unsupported_fps", f"{vendor} renders at its own frame rate.", "fps")


def regional_base(
    key: UpstreamKey,
    configured: str | None,
    options: Mapping[str, Any],
    regions: Mapping[str, str],
    default: str,
) -> str:
    """The API root for `key`: its own base_url, else its `extra.region`, else the
    provider's base_url, else `options.region`, else `default` (no trailing slash)."""
    if key.base_url:
        return key.base_url.rstrip("/")
    region = key.extra.get("region")
    if region is None and configured:
        return configured.rstrip("/")
    region = region if region is not None else options.get("region")
    if region is None:
        return default
    return region_root(str(region), regions)


def region_root(region: str, regions: Mapping[str, str]) -> str:
    """The API root of a named region; a ConfigError listing the known ones otherwise."""
    root = regions.get(region.lower())
    if root is None:
        raise ConfigError(f"unknown region {region!r}; known: {', '.join(sorted(regions))}")
    return root
