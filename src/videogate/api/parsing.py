"""Turning HTTP requests into checked values, cheaply (no Pydantic on the hot path).

Create bodies arrive as multipart (the openai SDK), urlencoded forms or JSON; all three
become one `CreateRequest`. Every rejection is a 4xx `GatewayError` naming the parameter.
Nested values arrive in multipart as the SDK's bracket form (`video[id]`,
`characters[][id]`, `reference_images[]`) and in JSON as objects and arrays; both are read.
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
from ..lifecycle.requests import CreateRequest, SourceRef
from ..providers.base import InputReference, Operation, SourceVideo

SIZE_RE = re.compile(r"^\d{1,5}x\d{1,5}$")
ASPECT_RE = re.compile(r"^\d{1,3}:\d{1,3}$")
RESOLUTION_RE = re.compile(r"^(\d{3,4}p|[248]k)$")
KNOWN_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference", "fallbacks"})
# Read into typed fields and not passed on in `extra` (files and ids the gateway resolves).
RESOLVED_FIELDS = ("last_frame", "reference_images", "characters")
SOURCE_FIELD = "video"
MAX_FILES = 12
MAX_REFERENCE_IMAGES = 8
MAX_CHARACTERS = 8
# Normalised scalar fields: parsed into `CreateRequest` and also left in `extra`, as sent.
# name -> (bounds) for the whole numbers
WHOLE_FIELDS: dict[str, tuple[int, int]] = {
    "seed": (0, 2**63 - 1),
    "fps": (1, 240),
    "n": (1, 16),
}
TRUE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
VIDEO_UPLOAD_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
        "application/octet-stream",
        "",
    }
)
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
                max_files=MAX_FILES, max_fields=200, max_part_size=limits.max_json_bytes
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


async def _image(value: Any, param: str, url: Any = None, file_id: Any = None) -> InputReference:
    """An image given as an upload, a URL (http(s) or data:image/…) or
    `{"image_url"|"file_id": …}`; a 400 naming `param` otherwise."""
    code = f"invalid_{param.split('[')[0]}"
    if isinstance(value, UploadFile):
        ctype = (value.content_type or "").split(";")[0].lower()
        if ctype not in IMAGE_TYPES:
            raise bad_request(
                code,
                f"{param} must be a JPEG, PNG or WebP image, not {ctype or 'unknown'!r}.",
                param,
            )
        return InputReference(data=await value.read(), content_type=ctype, filename=value.filename)
    if isinstance(value, dict):
        url, file_id = value.get("image_url"), value.get("file_id")
    elif isinstance(value, str) and value:
        url = value
    elif value not in (None, ""):
        raise bad_request(
            code, f"{param} must be a file, an image URL or {{'image_url'|'file_id': ...}}.", param
        )
    if url and file_id:
        raise bad_request(code, f"{param} takes exactly one of image_url and file_id.", param)
    if url:
        if not isinstance(url, str) or not url.startswith(("http://", "https://", "data:image/")):
            raise bad_request(
                code, f"{param} image_url must be an http(s) URL or a data:image/… URL.", param
            )
        return InputReference(image_url=url)
    if file_id:
        if not isinstance(file_id, str):
            raise bad_request(code, f"{param} file_id must be a string.", param)
        return InputReference(file_id=file_id)
    raise bad_request(code, f"{param} is empty.", param)


async def _reference(body: dict[str, Any], name: str = "input_reference") -> InputReference | None:
    value = body.get(name)
    url = body.get(f"{name}[image_url]")
    file_id = body.get(f"{name}[file_id]")
    if value in (None, "") and not url and not file_id:
        return None
    return await _image(value, name, url, file_id)


def _items(body: dict[str, Any], name: str, suffix: str = "") -> list[Any]:
    """Every value given for the list `name`: a JSON array (or one value) under `name`, or
    the form's `name[]` / `name[0]` parts; with `suffix` (e.g. `[id]`) only the form's
    `name[]<suffix>` parts."""
    found: list[Any] = []
    if not any(key.startswith(name) for key in body):  # the usual create names none
        return found
    value = None if suffix else body.get(name)
    if value not in (None, ""):
        if isinstance(value, str) and value.lstrip().startswith("["):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise bad_request(f"invalid_{name}", f"{name} is not valid JSON.", name) from None
        found += value if isinstance(value, list) else [value]
    pattern = re.compile(rf"^{re.escape(name)}\[\d*\]{re.escape(suffix)}$")
    for key, item in body.items():
        if pattern.match(key):
            found += item if isinstance(item, list) else [item]
    return found


async def _reference_images(body: dict[str, Any]) -> list[InputReference]:
    values = _items(body, "reference_images")
    values += _items(body, "reference_images", "[image_url]")
    if len(values) > MAX_REFERENCE_IMAGES:
        raise bad_request(
            "invalid_reference_images",
            f"At most {MAX_REFERENCE_IMAGES} reference_images are accepted.",
            "reference_images",
        )
    return [await _image(v, "reference_images") for v in values]


def _character_ids(body: dict[str, Any]) -> list[str]:
    """`characters`: `[{"id": "char_…"}]` (OpenAI's shape), or bare ids; `characters[][id]`
    in multipart."""
    values = _items(body, "characters") + _items(body, "characters", "[id]")
    ids: list[str] = []
    for value in values:
        found = value.get("id") if isinstance(value, dict) else value
        if not isinstance(found, str) or not found:
            raise bad_request(
                "invalid_characters",
                "characters must be a list of {'id': 'char_…'} objects.",
                "characters",
            )
        ids.append(found)
    if len(ids) > MAX_CHARACTERS:
        raise bad_request(
            "invalid_characters", f"At most {MAX_CHARACTERS} characters are accepted.", "characters"
        )
    return list(dict.fromkeys(ids))


def _bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS:
        return TRUE_WORDS[value.lower()]
    raise bad_request(f"invalid_{name}", f"'{name}' must be true or false.", name)


def _whole(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    low, high = WHOLE_FIELDS[name]
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str):
        number = whole_number(value.strip(), 19)
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or not low <= number <= high:
        raise bad_request(
            f"invalid_{name}", f"'{name}' must be a whole number from {low} to {high}.", name
        )
    return number


def _matching(
    body: dict[str, Any], name: str, pattern: re.Pattern[str], example: str
) -> str | None:
    value = _string(body, name)
    if value is not None and not pattern.match(value.lower()):
        raise bad_request(
            f"invalid_{name}", f"{name} must look like {example}, not {value!r}.", name
        )
    return None if value is None else value.lower()


async def _source(body: dict[str, Any]) -> SourceRef:
    """The video an edit or extension starts from: `{"id": …}` (JSON) / `video[id]`
    (multipart) for a completed gateway video, or an uploaded file."""
    value = body.get(SOURCE_FIELD)
    video_id = body.get("video[id]")
    if isinstance(value, dict):
        video_id = value.get("id")
    elif isinstance(value, str) and value:
        video_id = value
    elif isinstance(value, UploadFile):
        ctype = (value.content_type or "").split(";")[0].lower()
        if ctype not in VIDEO_UPLOAD_TYPES:
            raise bad_request(
                "invalid_video", f"video must be an MP4, MOV or WebM file, not {ctype!r}.", "video"
            )
        data = await value.read()
        if not data:
            raise bad_request("invalid_video", "The uploaded video is empty.", "video")
        return SourceRef(upload=SourceVideo(data=data, content_type=ctype or "video/mp4"))
    elif value not in (None, ""):
        raise bad_request("invalid_video", "video must be {'id': '<video id>'} or a file.", "video")
    if not video_id:
        raise bad_request(
            "missing_video", "'video' is required: {'id': '<video id>'} or a file.", "video"
        )
    if not isinstance(video_id, str):
        raise bad_request("invalid_video", "video id must be a string.", "video")
    return SourceRef(video_id=video_id)


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


def _prompt(body: dict[str, Any], limits: LimitsConfig, name: str = "prompt") -> str | None:
    prompt = _string(body, name, required=name == "prompt")
    if prompt is not None and len(prompt) > limits.max_prompt_chars:
        raise bad_request(
            f"{name}_too_long", f"{name} exceeds {limits.max_prompt_chars} characters.", name
        )
    return prompt


async def parse_create(
    request: Request, limits: LimitsConfig, operation: Operation = Operation.CREATE
) -> CreateRequest:
    """A create (or, with `operation`, an edit or extension: a create with a source video)."""
    body = await read_body(request, limits)
    prompt = _prompt(body, limits)
    assert prompt is not None
    seconds = _string(body, "seconds")
    if seconds is not None and not (whole_number(seconds, 6) or 0) > 0:
        raise bad_request(
            "invalid_seconds",
            f"seconds must be a positive whole number, not {seconds!r}.",
            "seconds",
        )
    if operation is Operation.EXTEND and seconds is None:
        raise bad_request(
            "missing_seconds", "'seconds' (the length of the new segment) is required.", "seconds"
        )
    size = _string(body, "size")
    if size is not None and not SIZE_RE.match(size):
        raise bad_request("invalid_size", f"size must look like 1280x720, not {size!r}.", "size")
    source = await _source(body) if operation is not Operation.CREATE else None
    resolved = RESOLVED_FIELDS if source is None else (*RESOLVED_FIELDS, SOURCE_FIELD)
    extra: dict[str, Any] = {}
    for key, value in body.items():
        if key in KNOWN_FIELDS or key.startswith(("input_reference[", "fallbacks[")):
            continue
        if key.split("[")[0] in resolved:
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
        operation=operation,
        source_ref=source,
        generate_audio=_bool(body, "generate_audio"),
        negative_prompt=_prompt(body, limits, "negative_prompt"),
        seed=_whole(body, "seed"),
        aspect_ratio=_matching(body, "aspect_ratio", ASPECT_RE, "16:9"),
        resolution=_matching(body, "resolution", RESOLUTION_RE, "720p"),
        fps=_whole(body, "fps"),
        n=_whole(body, "n"),
        last_frame=await _reference(body, "last_frame"),
        reference_images=await _reference_images(body),
        character_ids=_character_ids(body),
    )


async def parse_character(request: Request, limits: LimitsConfig) -> tuple[str, bytes, str]:
    """`POST /v1/videos/characters`: (name, video bytes, content type)."""
    body = await read_body(request, limits)
    name = _string(body, "name", required=True)
    assert name is not None
    if len(name) > 80:
        raise bad_request("invalid_name", "name is at most 80 characters.", "name")
    ref = await _source(body)
    if ref.upload is None or ref.upload.data is None:
        raise bad_request("invalid_video", "video must be an uploaded video file.", "video")
    return name, ref.upload.data, ref.upload.content_type


async def parse_remix_prompt(request: Request, limits: LimitsConfig) -> str:
    prompt = _prompt(await read_body(request, limits), limits)
    assert prompt is not None
    return prompt
