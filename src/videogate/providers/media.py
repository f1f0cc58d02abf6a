"""Reference images and media types: data: URLs in and out, image sniffing and checks
against a provider's documented limits, URLs shortened for `raw_request`, and the content
type of a downloaded asset when the CDN only says "octet-stream".
"""

from __future__ import annotations

import base64
import binascii
import io
import mimetypes
from dataclasses import dataclass
from urllib.parse import urlsplit

from PIL import Image

from ..errors import bad_request
from .base import (
    InputReference,
)


def image_data_url(data: bytes, content_type: str | None) -> str:
    """Uploaded image bytes as `data:<type>;base64,...`: the inline form that providers which
    otherwise fetch images by URL accept, so an upload needs no hosting of our own."""
    mime = (content_type or "image/png").split(";")[0].strip().lower()
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_url_input(ref: InputReference, vendor: str) -> str:
    """The reference image as a URL for a provider that fetches its inputs: the image_url as
    given (http(s) or data:), or an upload as a data: URL. A file id is a 400 naming
    `vendor`."""
    if ref.data is not None:
        return image_data_url(ref.data, ref.content_type)
    if ref.image_url:
        return ref.image_url
    raise bad_request(
        "unsupported_input_reference",
        f"{vendor} takes the reference image as an upload or an image_url (http(s) or "
        "data:), not a file_id.",
        "input_reference",
    )


def display_url(url: str) -> str:
    """A URL fit for `raw_request`: data: URLs are summarised, not echoed (they can be MBs)."""
    if url.startswith("data:"):
        return f"<data: URL, {len(url)} characters>"
    return url


GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", "application/binary"})


def media_type_for(url: str, declared: str | None, fallback: str) -> str:
    """The Content-Type to serve a provider's asset with: the declared one unless it is a
    generic byte type, else a guess from the URL's file extension, else `fallback`."""
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared not in GENERIC_TYPES:
        return declared
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or fallback


# -- reference images ----------------------------------------------------------------------
# Providers that take the first frame inside a JSON body (as a URL, a data: URL or bare
# base64) all need the same steps: turn the gateway's InputReference into bytes or a URL,
# and refuse images the provider documents as unacceptable before any paid call.
IMAGE_MAGIC: dict[bytes, str] = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


def sniff_image(data: bytes) -> str | None:
    """The image MIME type from magic bytes (PNG, JPEG, WebP); None for anything else."""
    for magic, mime in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_data_url(url: str, param: str = "input_reference") -> tuple[bytes, str]:
    """`data:image/png;base64,...` -> (bytes, declared MIME); a 400 naming `param` otherwise."""
    header, sep, payload = url.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise bad_request(
            "invalid_input_reference",
            f"{param} must be a base64 data URL (data:image/png;base64,...).",
            param,
        )
    data = decode_base64(payload, param, f"{param} data URL")
    return data, header[len("data:") : -len(";base64")] or "application/octet-stream"


def decode_base64(payload: str, param: str, what: str) -> bytes:
    """An inline image's bytes; a 400 naming `param` (`what` says which field) if the text
    is not strict base64."""
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(
            "invalid_input_reference", f"{what} is not valid base64.", param
        ) from None


@dataclass(frozen=True)
class ImageRules:
    """What a provider documents it accepts as a first frame; `label` names it in messages."""

    label: str
    types: frozenset[str]
    max_bytes: int
    min_side: int
    max_ratio: float  # longest side / shortest side


@dataclass(frozen=True)
class ReferenceImage:
    """A checked first frame: an http(s) URL the provider fetches, or bytes we send."""

    url: str | None = None
    data: bytes | None = None
    content_type: str | None = None

    def data_url(self) -> str:
        assert self.data is not None
        return image_data_url(self.data, self.content_type)

    def base64(self) -> str:
        assert self.data is not None
        return base64.b64encode(self.data).decode()

    def describe(self) -> str:
        """How the image appears in `raw_request` (never the bytes themselves)."""
        return self.url or f"<{len(self.data or b'')} bytes {self.content_type}>"


def reference_image(
    ref: InputReference, rules: ImageRules, param: str = "input_reference"
) -> ReferenceImage:
    """Resolve an upload, data: URL or http(s) URL into a `ReferenceImage`, checking bytes we
    hold against `rules` (an http URL is the provider's to fetch and judge)."""
    if ref.file_id is not None and ref.data is None and ref.image_url is None:
        raise bad_request(
            "unsupported_input_reference",
            f"{rules.label} cannot use an uploaded file_id; send the image itself or its URL.",
            param,
        )
    if ref.data is not None:
        data = ref.data
    elif ref.image_url and ref.image_url.startswith("data:"):
        data, _ = decode_data_url(ref.image_url, param)
    elif ref.image_url:
        return ReferenceImage(url=ref.image_url)
    else:
        raise bad_request("invalid_input_reference", f"{param} is empty.", param)
    return ReferenceImage(data=data, content_type=check_image(data, rules, param))


def check_image(data: bytes, rules: ImageRules, param: str = "input_reference") -> str:
    """The image's real MIME type if `rules` accept it; a 400 saying what is allowed."""
    allowed = ", ".join(sorted(t.removeprefix("image/").upper() for t in rules.types))
    mime = sniff_image(data)
    if mime not in rules.types:
        raise bad_request(
            "invalid_input_reference",
            f"{rules.label} accepts {allowed} images only, not {mime or 'this file'}.",
            param,
        )
    if len(data) > rules.max_bytes:
        raise bad_request(
            "invalid_input_reference",
            f"{rules.label} accepts images up to {rules.max_bytes // (1024 * 1024)} MB.",
            param,
        )
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise bad_request(
            "invalid_input_reference", f"{param} is not a readable {mime} image.", param
        ) from None
    short, long = min(width, height), max(width, height)
    if short < rules.min_side or long > short * rules.max_ratio:
        raise bad_request(
            "invalid_input_reference",
            f"{rules.label} needs images at least {rules.min_side}px on each side with an "
            f"aspect ratio between 1:{rules.max_ratio:g} and {rules.max_ratio:g}:1, "
            f"not {width}x{height}.",
            param,
        )
    return mime
