"""Small helpers several adapters share: provider timestamps, OpenAI `WxH` sizes, request
checks, reference images, error numbers and the create/find/delete steps that are the same
for every job-shaped API.

Keep this module generic (no provider names): each helper exists because more than one
adapter needs the same conversion, and one copy keeps their edge cases identical.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import mimetypes
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from PIL import Image

from ..config import UpstreamKey
from ..errors import GatewayError, UpstreamError, bad_request
from .base import (
    TERMINAL,
    CallContext,
    CreateParams,
    DeleteResult,
    InputReference,
    Provider,
    UpstreamVideo,
)

SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def iso_to_unix(value: Any) -> int | None:
    """ISO-8601 (`2025-11-11T21:48:50.448Z`, offsets, or naive = UTC) -> unix seconds.

    None for a missing or unparseable value, so a provider's odd timestamp never fails a
    poll; callers pick their own fallback.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_size(size: str) -> tuple[int, int] | None:
    """OpenAI's `WIDTHxHEIGHT` -> (width, height); None if it is not of that form."""
    match = SIZE_RE.match(size)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


# Declared kinds of provider-specific create parameters (see `coerce_extras`).
ExtraKind = (
    type[int] | type[float] | type[bool] | type[str] | type[dict[str, Any]] | type[list[Any]]
)
_BRACKETS = re.compile(r"\[([^\]]+)\]")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def coerce_extras(extra: dict[str, Any], kinds: dict[str, ExtraKind]) -> dict[str, Any]:
    """Give known provider parameters their JSON types; pass unknown ones through unchanged.

    The openai SDK sends create as multipart, so `extra_body={"seed": 42, "opts": {"a": 1}}`
    arrives as the strings `seed=42` and `opts[a]=1`; a JSON provider needs `42` and
    `{"a": 1}` back. Objects may also be given as one JSON string. A value that cannot be
    read as its kind is a 400 naming the parameter.
    """
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in extra.items():
        head, bracket, rest = key.partition("[")
        path = _BRACKETS.findall(bracket + rest) if bracket else []
        if head in kinds and path and "".join(f"[{p}]" for p in path) == bracket + rest:
            node = nested.setdefault(head, {})
            for part in path[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise bad_request(
                        "invalid_parameter", f"{key!r} conflicts with another value.", head
                    )
                node = child
            node[path[-1]] = value
        else:
            out[key] = value
    for head, value in nested.items():
        if head in out:
            raise bad_request("invalid_parameter", f"{head!r} is given twice.", head)
        out[head] = value
    for name, kind in kinds.items():
        if name in out:
            out[name] = _coerce(name, out[name], kind)
    return out


def _coerce(name: str, value: Any, kind: ExtraKind) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if kind is bool and text.lower() in _BOOLS:
                return _BOOLS[text.lower()]
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if kind in (dict, list):
                parsed = orjson.loads(text)
                if isinstance(parsed, kind):
                    return parsed
        except (ValueError, orjson.JSONDecodeError):
            pass
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise bad_request(
        "invalid_parameter", f"{name} must be {_KIND_NAMES[kind]}, not {value!r}.", name
    )


_KIND_NAMES: dict[ExtraKind, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    dict: "an object",
    list: "an array",
}


def image_data_url(data: bytes, content_type: str | None) -> str:
    """Uploaded image bytes as `data:<type>;base64,...`: the inline form that providers which
    otherwise fetch images by URL accept, so an upload needs no hosting of our own."""
    mime = (content_type or "image/png").split(";")[0].strip().lower()
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_url_input(ref: InputReference, vendor: str, *, encode_upload: bool = True) -> str:
    """The reference image as a URL for a provider that fetches its inputs: the image_url as
    given (http(s) or data:), or an upload as a data: URL (`encode_upload=False`: "", for a
    validation that need not encode it). A file id is a 400 naming `vendor`."""
    if ref.data is not None:
        return image_data_url(ref.data, ref.content_type) if encode_upload else ""
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


def aspect_ratio(width: int, height: int) -> str:
    """`1280, 720` -> `"16:9"`: the form most video APIs take instead of pixel sizes."""
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def model_options(options: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A provider's `options` with `options["models"][model]` laid over them.

    One provider instance serves many models whose input names and allowed values differ
    (fal apps, Replicate models), so per-model settings override the provider-wide ones.
    """
    merged = {k: v for k, v in options.items() if k != "models"}
    per_model = options.get("models")
    if isinstance(per_model, Mapping) and isinstance(per_model.get(model), Mapping):
        merged.update(per_model[model])
    return merged


def configured_input(name: Any, subject: str, what: str, code: str, param: str) -> str:
    """The provider input a gateway field is sent as, read from `options` (which can rename
    it, or turn it off with null for a model that does not take the field). Off: a 400
    `code` saying "<subject> is configured without <what> input." for `param`."""
    if not name:
        raise bad_request(code, f"{subject} is configured without {what} input.", param)
    return str(name)


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
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(
            "invalid_input_reference", f"{param} data URL is not valid base64.", param
        ) from None
    return data, header[len("data:") : -len(";base64")] or "application/octet-stream"


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


# -- numeric error codes ---------------------------------------------------------------------
# Some providers (MiniMax's `base_resp`, Kling's `code`) report errors as numbers, often
# inside an HTTP 200. Each adapter keeps a table number -> CodedError; these helpers turn a
# number into the relayed UpstreamError so the envelope says the right HTTP status.
@dataclass(frozen=True)
class CodedError:
    """How one provider error number is relayed: HTTP status and `error.code`."""

    status: int
    code: str


def describe_code(
    vendor: str, number: int, message: str, table: Mapping[int, CodedError]
) -> tuple[str, str]:
    """(message naming the provider's number, our `error.code`) for a provider error."""
    known = table.get(number)
    code = known.code if known else f"{vendor.lower()}_error_{number}"
    return f"{message or 'error'} ({vendor} code {number})", code


def coded_error(
    provider: str,
    vendor: str,
    number: int,
    message: str,
    table: Mapping[int, CodedError],
    raw: Any = None,
) -> UpstreamError:
    """The UpstreamError for an error number found in a 2xx body: the table's HTTP status,
    or 502 for a number the table does not know."""
    text, code = describe_code(vendor, number, message, table)
    known = table.get(number)
    return UpstreamError(
        known.status if known else 502, text, code=code, provider=provider, raw_response=raw
    )


def int_or_none(value: Any) -> int | None:
    """An int from a JSON number or numeric string; None otherwise (never raises)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


# -- create requests -------------------------------------------------------------------------
# Messages for `refuse_reserved`: `{name}` is the extra parameter, `{source}` the OpenAI field
# it is derived from (when the reserved names are given as a mapping).
SET_FROM_REQUEST = "{name} is set from the request itself (model, prompt, input_reference)."


def check_prompt_length(prompt: str, limit: int, vendor: str) -> None:
    """A 400 `prompt_too_long` when `prompt` has more than `limit` characters."""
    if len(prompt) > limit:
        raise bad_request(
            "prompt_too_long", f"{vendor} prompts are at most {limit} characters.", "prompt"
        )


def refuse_reserved(
    extra: Mapping[str, Any],
    reserved: Mapping[str, str] | Iterable[str],
    message: str = SET_FROM_REQUEST,
) -> None:
    """A 400 `invalid_parameter` naming the first of `reserved` (in its order) that `extra`
    sets: the adapter derives those body fields from the OpenAI request, so a second value
    would be ambiguous. `message` is formatted with `name` and `source` (the OpenAI field,
    when `reserved` maps names to them)."""
    sources = reserved if isinstance(reserved, Mapping) else {}
    for name in reserved:
        if name in extra:
            text = message.format(name=name, source=sources.get(name, ""))
            raise bad_request("invalid_parameter", text, name)


def accepted(
    video_id: str, params: CreateParams, raw: Any, *, size: str | None, seconds: str | None
) -> UpstreamVideo:
    """A job the provider has just accepted: queued, echoing the request it was made for."""
    return UpstreamVideo(
        id=video_id,
        status="queued",
        model=params.model,
        prompt=params.prompt,
        size=size,
        seconds=seconds,
        raw=raw,
    )


# -- lost creates ----------------------------------------------------------------------------
CREATE_CLOCK_SKEW = 5  # seconds a provider's clock may run behind ours


def created_by(
    videos: Iterable[UpstreamVideo], params: CreateParams, since: float
) -> Iterator[UpstreamVideo]:
    """The jobs among `videos` that a create timed out at `since` may have started: the same
    prompt and model (or no model reported), created no earlier than `since`. Adapters add
    what else their provider reports (size, version) when choosing one."""
    for video in videos:
        if (
            video.prompt == params.prompt
            and video.model in (None, params.model)
            and video.created_at >= int(since) - CREATE_CLOCK_SKEW
        ):
            yield video


# -- content ---------------------------------------------------------------------------------
def not_ready(provider: str, message: str) -> GatewayError:
    """409 `video_not_ready`: the job has no content to download (yet)."""
    return GatewayError(409, "video_not_ready", message, provider=provider)


def variant_missing(provider: str, message: str) -> GatewayError:
    """404 `variant_not_available`: this job has no such asset (e.g. no thumbnail)."""
    return GatewayError(404, "variant_not_available", message, param="variant", provider=provider)


# -- deletes ---------------------------------------------------------------------------------
async def pending_while_running(
    provider: Provider, video_id: str, key: UpstreamKey, ctx: CallContext, refusal: UpstreamError
) -> DeleteResult | None:
    """After the provider refused to delete or cancel a job: a pending result (the outbox
    retries) while the job still runs, None once it has ended (the refusal then stands)."""
    current = await provider.retrieve(video_id, key, ctx)
    if current.status not in TERMINAL:
        return DeleteResult(deleted=False, pending=True, detail=refusal.message)
    return None
