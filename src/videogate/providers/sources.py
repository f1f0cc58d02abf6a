"""The source video of an edit or an extension, in the forms provider APIs take it.

Native edit and extend APIs want one of three things: their own job id (Luma's keyframes,
OpenAI-shaped `video: {id}`), a URL they fetch (Runway `videoUri`, Ark `video_url`), or the
bytes inline as a data: URL within a size limit. These helpers turn a `SourceVideo` into the
one a provider needs, with a 400 naming what is missing before anything is spent, so
several adapters share one set of messages and edge cases.
"""

from __future__ import annotations

import base64

from ..errors import GatewayError, bad_request
from .base import CreateParams, SourceVideo


def require_source(params: CreateParams, vendor: str) -> SourceVideo:
    """The request's source video, or a 400 for an edit/extend that names none."""
    if params.source is None:
        raise bad_request(
            "source_required",
            f"A {params.operation.value} on {vendor} needs a source video.",
            "video",
        )
    return params.source


def source_job(params: CreateParams, vendor: str) -> str:
    """The provider's own id of the source job: APIs that edit or extend only their own
    generations take nothing else."""
    source = require_source(params, vendor)
    if not source.upstream_id:
        raise bad_request(
            "source_not_on_provider",
            f"{vendor} {params.operation.value}s only videos it generated itself; this "
            "source is not a job of this provider (pick a video created through it).",
            "video",
        )
    return source.upstream_id


def video_data_url(data: bytes, content_type: str | None) -> str:
    """Video bytes as `data:<type>;base64,...`."""
    mime = (content_type or "video/mp4").split(";")[0].strip().lower() or "video/mp4"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def source_uri(
    params: CreateParams, vendor: str, *, max_data_url: int | None, https_only: bool = True
) -> str:
    """A URL `vendor` can fetch the source from, or its bytes as a data: URL.

    `max_data_url` is the provider's limit on the encoded data: URL (None: it takes none,
    the source must be hosted). `https_only`: plain http URLs are refused, as most
    providers fetch only https.
    """
    source = require_source(params, vendor)
    url = source.url or ""
    if url.startswith("https://") or (url.startswith("http://") and not https_only):
        return url
    if url.startswith("data:"):
        return _checked_data_url(url, vendor, max_data_url)
    if source.data is not None:
        encoded_size = 4 * ((len(source.data) + 2) // 3) + len(source.content_type) + 13
        if max_data_url is not None and encoded_size < max_data_url:
            return video_data_url(source.data, source.content_type)
        raise _too_large(vendor, encoded_size, max_data_url)
    if url:
        raise bad_request(
            "invalid_source",
            f"{vendor} fetches source videos only from https:// URLs; "
            f"{url.split(':', 1)[0]}: is not accepted.",
            "video",
        )
    raise bad_request(
        "source_url_required",
        f"{vendor} needs the source video as an https URL"
        + (" or uploaded bytes" if max_data_url else "")
        + "; this source has neither (mirror it first, or give its URL).",
        "video",
    )


def _checked_data_url(url: str, vendor: str, limit: int | None) -> str:
    if limit is None or len(url) >= limit:
        raise _too_large(vendor, len(url), limit)
    return url


def _too_large(vendor: str, size: int, limit: int | None) -> GatewayError:
    if limit is None:
        return bad_request(
            "source_url_required",
            f"{vendor} takes no inline video; host the source and give its https URL.",
            "video",
        )
    return bad_request(
        "source_too_large",
        f"{vendor} takes inline source videos under {limit} bytes once base64-encoded "
        f"(this one is about {size}); host it and give an https URL.",
        "video",
    )
