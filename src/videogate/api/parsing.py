"""Turning HTTP requests into checked values, cheaply (no Pydantic on the hot path).

Create bodies arrive as multipart (the openai SDK), urlencoded forms or JSON; all three
become one `CreateRequest`. Every rejection is a 4xx `GatewayError` naming the parameter.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from ..config import LimitsConfig
from ..errors import GatewayError, bad_request, whole_number
from ..lifecycle.requests import CreateRequest
from ..providers.base import InputReference

SIZE_RE = re.compile(r"^\d{1,5}x\d{1,5}$")
KNOWN_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference", "fallbacks"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
JSON_TYPES = ("application/json",)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        413, "payload_too_large", f"The request body exceeds the limit of {limit} bytes."
    )


def _check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None:
        number = whole_number(length, 18)
        if number is None:
            raise bad_request("invalid_content_length", "Content-Length is not a number.")
        if number > limit:
            raise _too_large(limit)


def _limited(request: Request, limit: int) -> Request:
    """The same request, failing with 413 once more than `limit` body bytes have arrived
    (Starlette bounds form fields but not uploaded files, and bodies may be chunked)."""
    total = 0

    async def receive() -> Any:
        nonlocal total
        message = await request.receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise _too_large(limit)
        return message

    return Request(request.scope, receive)


async def read_json_object(
    request: Request, limits: LimitsConfig, limit: int | None = None
) -> dict[str, Any]:
    """The body as a JSON object, at most `limit` bytes (default `max_json_bytes`)."""
    limit = limits.max_json_bytes if limit is None else limit
    _check_length(request, limit)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    if not raw:
        raise bad_request("invalid_json", "The request body is empty; send a JSON object.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request("invalid_json", f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise bad_request("invalid_json", "The request body must be a JSON object.")
    return data


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limits: LimitsConfig) -> dict[str, Any]:
    """JSON or form fields as one dict; uploaded files stay `UploadFile`s."""
    ctype = media_type(request)
    if ctype in JSON_TYPES or ctype.endswith("+json"):
        return await read_json_object(request, limits)
    if ctype in FORM_TYPES:
        _check_length(request, limits.max_upload_bytes)
        try:
            form = await _limited(request, limits.max_upload_bytes).form(
                max_files=4, max_fields=200, max_part_size=limits.max_json_bytes
            )
        except MultiPartException as exc:
            if "maximum size" in str(exc).lower():
                raise _too_large(limits.max_upload_bytes) from None
            raise bad_request("invalid_multipart", f"Malformed form body: {exc}.") from None
        out: dict[str, Any] = {}
        for key, value in form.multi_items():
            if key in out:
                prev = out[key]
                out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                out[key] = value
        return out
    raise GatewayError(
        415,
        "unsupported_media_type",
        f"Content-Type {ctype or '(none)'!r} is not accepted; send multipart/form-data or "
        "application/json.",
    )


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"missing_{name}", f"'{name}' is required.", name)
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    if not isinstance(value, str):
        raise bad_request(f"invalid_{name}", f"'{name}' must be a string.", name)
    return value


async def _reference(body: dict[str, Any]) -> InputReference | None:
    value = body.get("input_reference")
    url = body.get("input_reference[image_url]")
    file_id = body.get("input_reference[file_id]")
    if isinstance(value, UploadFile):
        ctype = (value.content_type or "").split(";")[0].lower()
        if ctype not in IMAGE_TYPES:
            raise bad_request(
                "invalid_input_reference",
                f"input_reference must be a JPEG, PNG or WebP image, not {ctype or 'unknown'!r}.",
                "input_reference",
            )
        return InputReference(data=await value.read(), content_type=ctype, filename=value.filename)
    if isinstance(value, dict):
        url, file_id = value.get("image_url"), value.get("file_id")
    elif isinstance(value, str) and value:
        url = value
    elif value not in (None, ""):
        raise bad_request(
            "invalid_input_reference",
            "input_reference must be a file, an image URL or {'image_url'|'file_id': ...}.",
            "input_reference",
        )
    if url and file_id:
        raise bad_request(
            "invalid_input_reference",
            "input_reference takes exactly one of image_url and file_id.",
            "input_reference",
        )
    if url:
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
            raise bad_request(
                "invalid_input_reference",
                "input_reference image_url must be an http(s) URL or a data:image/… URL.",
                "input_reference",
            )
        return InputReference(image_url=url)
    if file_id:
        if not isinstance(file_id, str):
            raise bad_request(
                "invalid_input_reference", "file_id must be a string.", "input_reference"
            )
        return InputReference(file_id=file_id)
    return None


def _fallbacks(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise bad_request(
                    "invalid_fallbacks", "fallbacks is not valid JSON.", "fallbacks"
                ) from None
        else:
            value = [p.strip() for p in text.split(",") if p.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise bad_request(
            "invalid_fallbacks",
            "fallbacks must be a list of 'provider/model' strings.",
            "fallbacks",
        )
    if len(value) > 5:
        raise bad_request("invalid_fallbacks", "At most 5 fallbacks are allowed.", "fallbacks")
    return list(value)


async def parse_create(request: Request, limits: LimitsConfig) -> CreateRequest:
    body = await read_body(request, limits)
    prompt = _string(body, "prompt", required=True)
    assert prompt is not None
    if len(prompt) > limits.max_prompt_chars:
        raise bad_request(
            "prompt_too_long", f"prompt exceeds {limits.max_prompt_chars} characters.", "prompt"
        )
    seconds = _string(body, "seconds")
    if seconds is not None and not (whole_number(seconds, 6) or 0) > 0:
        raise bad_request(
            "invalid_seconds",
            f"seconds must be a positive whole number, not {seconds!r}.",
            "seconds",
        )
    size = _string(body, "size")
    if size is not None and not SIZE_RE.match(size):
        raise bad_request("invalid_size", f"size must look like 1280x720, not {size!r}.", "size")
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in KNOWN_FIELDS or key.startswith(("input_reference[", "fallbacks[")):
            continue
        if isinstance(value, UploadFile):
            raise bad_request("unexpected_file", f"Field {key!r} may not be a file.", key)
        extra[key] = value
    return CreateRequest(
        prompt=prompt,
        model=_string(body, "model"),
        seconds=seconds,
        size=size,
        input_reference=await _reference(body),
        fallbacks=_fallbacks(body.get("fallbacks", body.get("fallbacks[]"))),
        extra=extra,
    )


async def parse_remix_prompt(request: Request, limits: LimitsConfig) -> str:
    body = await read_body(request, limits)
    prompt = _string(body, "prompt", required=True)
    assert prompt is not None
    if len(prompt) > limits.max_prompt_chars:
        raise bad_request(
            "prompt_too_long", f"prompt exceeds {limits.max_prompt_chars} characters.", "prompt"
        )
    return prompt
