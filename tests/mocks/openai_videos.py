"""Loopback mock of the OpenAI Videos API (Sora 2), faithful enough for the official SDK.

The gateway's OpenAI adapter, and the gateway's own OpenAI-shaped surface, are tested against
this instead of api.openai.com: same paths, multipart/JSON bodies, validation errors, error
envelope, headers (`x-request-id`, `openai-poll-after-ms`) and the queued -> in_progress ->
completed|failed lifecycle, driven by wall-clock time so polling code is exercised for real.
Edits and extensions (`POST /videos/edits`, `/videos/extensions`, openai-python @e43b422
`video_edit_params` / `video_extend_params`) take multipart `prompt`, `video` as an upload
or `video[id]` of a completed video, and for extensions `seconds` (4, 8, 12, 16 or 20: the
new segment; the answer reports the stitched total).
Content is genuine media (H.264 MP4, WebP, JPEG) so downstream players/PyAV can read it.

With `prefix="/openai/v1", auth_header="api-key"` it doubles as Azure's Sora 2 v1 surface.
Generic server plumbing and fault injection live in `MockServer` (tests/mocks/base.py).
"""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from PIL import Image

from videogate.providers.simulated_render import render_frames, spritesheet_image, thumbnail_bytes

from .base import ApiError, FormPart, MockServer
from .common import (
    cursor_page,
    data_url_payload,
    list_body,
    render_clip,
    sniff_image,
    stage_at,
    word_pattern,
)

Status = Literal["queued", "in_progress", "completed", "failed"]

DEFAULT_MODELS = frozenset(
    {"sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08"}
)
DEFAULT_SECONDS = frozenset({"4", "8", "12"})
DEFAULT_SIZES = frozenset({"720x1280", "1280x720", "1024x1792", "1792x1024"})
# `POST /videos/extensions` `seconds`: the new segment ("allowed values: 4, 8, 12, 16, 20").
EXTEND_SECONDS = frozenset({"4", "8", "12", "16", "20"})
VIDEO_ID_FIELD = re.compile(r"^video\[([^\]]*)\]$")
CREATE_FIELDS = ("prompt", "model", "seconds", "size")
REFERENCE_KEYS = ("image_url", "file_id")
REFERENCE_TYPES = {"image/jpeg", "image/png", "image/webp"}
VARIANT_TYPES = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
MAX_PROMPT = 32000
BRACKET_FIELD = re.compile(r"^input_reference\[([^\]]*)\]$")


def _json_type(value: Any) -> str:
    """How OpenAI names a JSON value's type in "Invalid type" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _supported(values: Iterable[str]) -> str:
    quoted = [f"'{v}'" for v in sorted(values, key=lambda v: (len(v), v))]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else quoted[0]


@dataclass(frozen=True)
class MockMedia:
    """The three content variants, rendered once per mock (tiny, but real, media)."""

    video: bytes
    thumbnail: bytes
    spritesheet: bytes

    def variant(self, name: str) -> bytes:
        return {"video": self.video, "thumbnail": self.thumbnail, "spritesheet": self.spritesheet}[
            name
        ]


@dataclass
class VideoState:
    """One job. Status is derived from the clock, not stored, so it advances by itself."""

    id: str
    model: str
    prompt: str
    size: str
    seconds: str
    created: float
    started: float
    queued_seconds: float
    run_seconds: float
    expires_after: float
    remixed_from_video_id: str | None = None
    input_reference: dict[str, Any] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    failure: dict[str, str] | None = None
    seq: int = 0

    def status_at(self, now: float) -> tuple[Status, int]:
        elapsed = now - self.started
        stage = stage_at(elapsed, self.queued_seconds, self.run_seconds)
        if stage == 0:
            return "queued", 0
        if stage == 1:
            running = elapsed - self.queued_seconds
            return "in_progress", min(99, int(100 * running / self.run_seconds))
        return ("failed", 0) if self.failure else ("completed", 100)

    @property
    def finished_at(self) -> float:
        return self.started + self.queued_seconds + self.run_seconds

    def expires_at(self) -> int | None:
        if self.failure:
            return None
        return int(self.finished_at) + int(self.expires_after)

    def to_json(self, now: float) -> dict[str, Any]:
        """The wire object: every key present, nullable ones null."""
        status, progress = self.status_at(now)
        terminal = status in ("completed", "failed")
        return {
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": status,
            "progress": progress,
            "created_at": int(self.created),
            "completed_at": int(self.finished_at) if terminal else None,
            "expires_at": self.expires_at() if status == "completed" else None,
            "prompt": self.prompt,
            "size": self.size,
            "seconds": self.seconds,
            "remixed_from_video_id": self.remixed_from_video_id,
            "error": dict(self.failure) if status == "failed" and self.failure else None,
        }


class OpenAIVideosMock(MockServer):
    """`/videos` create/retrieve/list/content/remix/delete, as api.openai.com serves them."""

    def __init__(
        self,
        api_key: str = "sk-mock",
        auth_header: str = "authorization",
        prefix: str = "/v1",
        queued_seconds: float = 0.3,
        run_seconds: float = 1.0,
        *,
        poll_after_ms: int = 100,
        models: Iterable[str] | None = DEFAULT_MODELS,
        seconds_options: Iterable[str] | None = DEFAULT_SECONDS,
        sizes: Iterable[str] | None = DEFAULT_SIZES,
        accept_extra: Iterable[str] = (),
        moderation_word: str = "moderation",
        expires_after: float = 3600.0,
        strict_reference_size: bool = False,
        media_size: tuple[int, int] = (64, 64),
        media_seconds: float = 1.0,
        media_fps: int = 8,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`models`/`seconds_options`/`sizes` = None accepts any string (newer API values).
        `strict_reference_size` enforces the real API's "image must match `size`" rule."""
        super().__init__(
            api_key=api_key, auth_header=auth_header, prefix=prefix, host=host, clock=clock
        )
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.poll_after_ms = poll_after_ms
        self.models = frozenset(models) if models is not None else None
        self.seconds_options = frozenset(seconds_options) if seconds_options is not None else None
        self.sizes = frozenset(sizes) if sizes is not None else None
        self.accept_extra = frozenset(accept_extra)
        self.moderation = word_pattern(moderation_word)
        self.expires_after = expires_after
        self.strict_reference_size = strict_reference_size
        self.media_size = media_size
        self.media_seconds = media_seconds
        self.media_fps = media_fps
        self.videos: dict[str, VideoState] = {}
        self.deleted: set[str] = set()
        self.expired: set[str] = set()
        self._seq = 0

    # -- test-side controls ---------------------------------------------------------------

    def expire_content(self, video_id: str) -> None:
        """Content for `video_id` answers 404 from now on (download URL expiry)."""
        with self.lock:
            self.expired.add(video_id)

    def complete_now(self, video_id: str) -> None:
        """Jump a job to its terminal state (completed, or failed for moderated prompts)."""
        with self.lock:
            state = self.videos[video_id]
            state.started = self.clock() - state.queued_seconds - state.run_seconds

    def video_json(self, video_id: str) -> dict[str, Any]:
        """The object a retrieve would return right now."""
        with self.lock:
            return self.videos[video_id].to_json(self.clock())

    def media(self) -> MockMedia:
        """Render the content variants on first use; shared by every video of this mock."""
        return self.rendered("media", self._render_media)

    def _render_media(self) -> MockMedia:
        w, h = self.media_size
        text = "videogate openai mock"
        frames = render_frames(w, h, self.media_seconds, self.media_fps, text)
        sheet = io.BytesIO()
        spritesheet_image(frames).save(sheet, format="JPEG", quality=80)
        return MockMedia(
            video=render_clip(self.media_size, text, self.media_seconds, self.media_fps),
            thumbnail=thumbnail_bytes(frames[len(frames) // 2], "WEBP"),
            spritesheet=sheet.getvalue(),
        )

    # -- routes ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path("/videos"), self.create)
        app.router.add_get(self.path("/videos"), self.list_videos)
        app.router.add_get(self.path("/videos/{video_id}"), self.retrieve)
        app.router.add_delete(self.path("/videos/{video_id}"), self.delete)
        app.router.add_get(self.path("/videos/{video_id}/content"), self.content)
        app.router.add_post(self.path("/videos/{video_id}/remix"), self.remix)
        app.router.add_post(self.path("/videos/edits"), self.edit)
        app.router.add_post(self.path("/videos/extensions"), self.extend)

    async def create(self, request: web.Request) -> web.Response:
        fields, reference, extra = await self._create_input(request)
        prompt = self._check_prompt(fields.get("prompt"))
        model = self._check_choice("model", fields.get("model", "sora-2"), self.models)
        seconds = self._check_choice("seconds", fields.get("seconds", "4"), self.seconds_options)
        size = self._check_choice("size", fields.get("size", "720x1280"), self.sizes)
        if reference is not None:
            self._check_reference_size(reference, size)
        state = self._new_state(prompt, model, size, seconds, extra=extra, reference=reference)
        return self.json_response(state.to_json(self.clock()))

    async def retrieve(self, request: web.Request) -> web.Response:
        state = self._lookup(request.match_info["video_id"])
        return self.json_response(
            state.to_json(self.clock()), headers={"openai-poll-after-ms": str(self.poll_after_ms)}
        )

    async def list_videos(self, request: web.Request) -> web.Response:
        query = request.query
        limit = self._check_limit(query.get("limit", "20"))
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(
                400,
                f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                param="order",
                code="invalid_value",
            )
        now = self.clock()
        with self.lock:
            live = [s for s in self.videos.values() if s.id not in self.deleted]
            live.sort(key=lambda s: (s.created, s.seq), reverse=order == "desc")
            # An unknown cursor yields an empty page (inferred; the API docs are silent).
            page, has_more = cursor_page(live, query.get("after"), limit, lambda s: s.id)
            data = [s.to_json(now) for s in page]
        return self.json_response(list_body(data, has_more))

    async def content(self, request: web.Request) -> web.Response:
        video_id = request.match_info["video_id"]
        state = self._lookup(video_id)
        variant = request.query.get("variant", "video")
        if variant not in VARIANT_TYPES:
            raise ApiError(
                400,
                f"Invalid value: '{variant}'. Supported values are: {_supported(VARIANT_TYPES)}.",
                param="variant",
                code="invalid_value",
            )
        now = self.clock()
        status, _ = state.status_at(now)
        if status != "completed":
            raise ApiError(
                400,
                f"Video '{video_id}' is {status}; content is only available for completed videos.",
            )
        expires_at = state.expires_at()
        with self.lock:
            expired = video_id in self.expired
        if expired or (expires_at is not None and now >= expires_at):
            raise ApiError(404, f"The content for video '{video_id}' has expired.")
        body = self.media().variant(variant)
        headers = {"Content-Type": VARIANT_TYPES[variant], "Accept-Ranges": "bytes"}
        # A single byte range, as a CDN-backed download answers (inferred: OpenAI documents
        # no Range support either way).
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes=") and "," not in wanted:
            first, _, last = wanted[6:].partition("-")
            if first.isdigit():
                start = int(first)
                end = min(int(last) + 1, len(body)) if last.isdigit() else len(body)
                if start < end:
                    headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(body)}"
                    return web.Response(status=206, body=body[start:end], headers=headers)
        return web.Response(body=body, headers=headers)

    async def remix(self, request: web.Request) -> web.Response:
        video_id = request.match_info["video_id"]
        fields: dict[str, Any] = {}
        extra: dict[str, str] = {}
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            for part in await self.read_form(request):
                self._take_field(part.name, part.text, fields, extra, allowed=("prompt",))
        else:
            body = await self._json_object(request)
            for name, value in body.items():
                self._take_field(name, value, fields, extra, allowed=("prompt",))
        prompt = self._check_prompt(fields.get("prompt"))
        source = self._lookup(video_id)
        status, _ = source.status_at(self.clock())
        if status != "completed":
            raise ApiError(
                400,
                f"Video '{video_id}' is {status}; only completed videos can be remixed.",
                param="video_id",
            )
        state = self._new_state(
            prompt, source.model, source.size, source.seconds, extra=extra, remixed_from=video_id
        )
        return self.json_response(state.to_json(self.clock()))

    async def edit(self, request: web.Request) -> web.Response:
        """`POST /videos/edits`: multipart `prompt` + `video` (an upload, or `video[id]` of a
        completed video); the new job keeps the source's model, size and length."""
        fields, source, upload = await self._source_input(request, ("prompt",))
        prompt = self._check_prompt(fields.get("prompt"))
        model, size, seconds = self._source_shape(source, upload)
        state = self._new_state(prompt, model, size, seconds, extra={})
        state.extra["source"] = source.id if source else "upload"
        return self.json_response(state.to_json(self.clock()))

    async def extend(self, request: web.Request) -> web.Response:
        """`POST /videos/extensions`: `prompt`, `seconds` (the new segment) and `video`; the
        answer's `seconds` is the stitched total."""
        fields, source, upload = await self._source_input(request, ("prompt", "seconds"))
        prompt = self._check_prompt(fields.get("prompt"))
        if "seconds" not in fields:
            raise ApiError(
                400, "Missing required parameter: 'seconds'.", param="seconds", code="missing"
            )
        added = self._check_choice("seconds", fields["seconds"], EXTEND_SECONDS)
        model, size, seconds = self._source_shape(source, upload)
        state = self._new_state(prompt, model, size, str(int(seconds) + int(added)), extra={})
        state.extra["source"] = source.id if source else "upload"
        return self.json_response(state.to_json(self.clock()))

    async def _source_input(
        self, request: web.Request, allowed: tuple[str, ...]
    ) -> tuple[dict[str, Any], VideoState | None, FormPart | None]:
        if request.content_type != "multipart/form-data":
            raise ApiError(
                400,
                f"Invalid Content-Type header ({request.content_type}), expected "
                "multipart/form-data.",
            )
        fields: dict[str, Any] = {}
        video_id: str | None = None
        upload: FormPart | None = None
        for part in await self.read_form(request):
            bracket = VIDEO_ID_FIELD.match(part.name)
            if part.name == "video" and part.is_file:
                upload = part
            elif bracket:
                if bracket.group(1) != "id":
                    raise ApiError(
                        400,
                        f"Unknown parameter: 'video.{bracket.group(1)}'.",
                        param=f"video.{bracket.group(1)}",
                        code="unknown_parameter",
                    )
                video_id = part.text
            else:
                self._take_field(part.name, part.text, fields, {}, allowed=allowed)
        if (upload is None) == (video_id is None):
            raise ApiError(
                400,
                "Provide exactly one of a 'video' file or 'video[id]'.",
                param="video",
                code="invalid_value",
            )
        if upload is not None:
            if upload.data[4:8] != b"ftyp":
                raise ApiError(400, "The video file is not a valid MP4.", param="video")
            return fields, None, upload
        assert video_id is not None
        source = self._lookup(video_id)
        status, _ = source.status_at(self.clock())
        if status != "completed":
            raise ApiError(
                400,
                f"Video '{video_id}' is {status}; only completed videos can be used.",
                param="video",
            )
        return fields, source, None

    @staticmethod
    def _source_shape(source: VideoState | None, upload: FormPart | None) -> tuple[str, str, str]:
        """(model, size, seconds) of the job made from a source (an upload: inferred as
        sora-2 720x1280 4 s, as the mock's media cannot be probed cheaply)."""
        if source is not None:
            return source.model, source.size, source.seconds
        return "sora-2", "720x1280", "4"

    async def delete(self, request: web.Request) -> web.Response:
        video_id = request.match_info["video_id"]
        state = self._lookup(video_id)
        status, _ = state.status_at(self.clock())
        if status not in ("completed", "failed"):
            raise ApiError(
                400,
                f"Video '{video_id}' is {status}; only completed or failed videos can be deleted.",
            )
        with self.lock:
            self.deleted.add(video_id)
        return self.json_response({"id": video_id, "object": "video.deleted", "deleted": True})

    # -- request parsing and validation ---------------------------------------------------

    async def _create_input(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, str]]:
        """(scalar fields, input_reference, accepted extras) from multipart or JSON."""
        fields: dict[str, Any] = {}
        extra: dict[str, str] = {}
        file_ref: FormPart | None = None
        ref_fields: dict[str, Any] = {}
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            for part in await self.read_form(request):
                bracket = BRACKET_FIELD.match(part.name)
                if part.name == "input_reference":
                    if not part.is_file:
                        raise ApiError(
                            400,
                            "Invalid type for 'input_reference': expected a file or an "
                            "object, but got a string instead.",
                            param="input_reference",
                            code="invalid_type",
                        )
                    file_ref = part
                elif bracket:
                    self._take_reference_key(bracket.group(1), part.text, ref_fields)
                else:
                    if part.is_file and part.name in CREATE_FIELDS:
                        raise ApiError(
                            400,
                            f"Invalid type for '{part.name}': expected a string, but got "
                            "a file instead.",
                            param=part.name,
                            code="invalid_type",
                        )
                    self._take_field(part.name, part.text, fields, extra, allowed=CREATE_FIELDS)
        elif request.content_type == "application/json":
            body = await self._json_object(request)
            for name, value in body.items():
                if name == "input_reference":
                    if not isinstance(value, dict):
                        raise ApiError(
                            400,
                            "Invalid type for 'input_reference': expected an object, but "
                            f"got {_json_type(value)} instead.",
                            param="input_reference",
                            code="invalid_type",
                        )
                    for key, sub in value.items():
                        self._take_reference_key(key, sub, ref_fields)
                else:
                    self._take_field(name, value, fields, extra, allowed=CREATE_FIELDS)
        else:
            raise ApiError(
                400,
                f"Invalid Content-Type header ({request.content_type}), expected "
                "multipart/form-data or application/json.",
            )
        if file_ref is not None and ref_fields:
            raise ApiError(
                400,
                "input_reference must be either a file upload or an object, not both.",
                param="input_reference",
                code="invalid_value",
            )
        if file_ref is not None:
            return fields, self._check_file_reference(file_ref), extra
        if ref_fields:
            return fields, self._check_reference_object(ref_fields), extra
        return fields, None, extra

    async def _json_object(self, request: web.Request) -> dict[str, Any]:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(
                400,
                f"Invalid type for body: expected an object, but got {_json_type(body)} instead.",
                code="invalid_type",
            )
        return body

    def _take_field(
        self,
        name: str,
        value: Any,
        fields: dict[str, Any],
        extra: dict[str, str],
        *,
        allowed: tuple[str, ...],
    ) -> None:
        if name in allowed:
            if not isinstance(value, str):
                raise ApiError(
                    400,
                    f"Invalid type for '{name}': expected a string, but got "
                    f"{_json_type(value)} instead.",
                    param=name,
                    code="invalid_type",
                )
            fields[name] = value
        elif name in self.accept_extra:
            extra[name] = value if isinstance(value, str) else repr(value)
        else:
            raise ApiError(
                400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
            )

    @staticmethod
    def _take_reference_key(key: str, value: Any, ref: dict[str, Any]) -> None:
        param = f"input_reference.{key}"
        if key not in REFERENCE_KEYS:
            raise ApiError(
                400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
            )
        if not isinstance(value, str):
            raise ApiError(
                400,
                f"Invalid type for '{param}': expected a string, but got "
                f"{_json_type(value)} instead.",
                param=param,
                code="invalid_type",
            )
        ref[key] = value

    def _check_prompt(self, prompt: str | None) -> str:
        if prompt is None:
            raise ApiError(
                400,
                "Missing required parameter: 'prompt'.",
                param="prompt",
                code="missing_required_parameter",
            )
        if not prompt:
            raise ApiError(
                400,
                "Invalid 'prompt': string too short. Expected a string with minimum "
                "length 1, but got an empty string instead.",
                param="prompt",
                code="string_below_min_length",
            )
        if len(prompt) > MAX_PROMPT:
            raise ApiError(
                400,
                f"Invalid 'prompt': string too long. Expected a string with maximum "
                f"length {MAX_PROMPT}, but got a string with length {len(prompt)} instead.",
                param="prompt",
                code="string_above_max_length",
            )
        return prompt

    @staticmethod
    def _check_choice(name: str, value: str, allowed: frozenset[str] | None) -> str:
        if allowed is not None and value not in allowed:
            raise ApiError(
                400,
                f"Invalid value: '{value}'. Supported values are: {_supported(allowed)}.",
                param=name,
                code="invalid_value",
            )
        return value

    @staticmethod
    def _check_limit(raw: str) -> int:
        try:
            limit = int(raw)
        except ValueError:
            raise ApiError(
                400,
                f"Invalid 'limit': expected an integer, but got '{raw}' instead.",
                param="limit",
                code="invalid_type",
            ) from None
        if limit < 0:
            raise ApiError(
                400,
                f"Invalid 'limit': integer below minimum value. Expected a value >= 0, "
                f"but got {limit} instead.",
                param="limit",
                code="integer_below_min_value",
            )
        if limit > 100:
            raise ApiError(
                400,
                f"Invalid 'limit': integer above maximum value. Expected a value <= 100, "
                f"but got {limit} instead.",
                param="limit",
                code="integer_above_max_value",
            )
        return limit

    @staticmethod
    def _bad_image(param: str, declared: str | None) -> ApiError:
        return ApiError(
            400,
            f"Invalid image for '{param}' (declared type: {declared or 'none'}): expected "
            "JPEG, PNG or WebP image data (image/jpeg, image/png, image/webp).",
            param=param,
            code="invalid_value",
        )

    def _check_file_reference(self, part: FormPart) -> dict[str, Any]:
        declared = (part.content_type or "").split(";")[0].strip().lower() or None
        sniffed = sniff_image(part.data)
        labelled_ok = declared in (None, "application/octet-stream") or declared in REFERENCE_TYPES
        if sniffed is None or not labelled_ok:
            raise self._bad_image("input_reference", declared)
        return {
            "type": "file",
            "filename": part.filename,
            "content_type": sniffed,
            "data": part.data,
        }

    def _check_reference_object(self, ref: dict[str, Any]) -> dict[str, Any]:
        if len(ref) != 1:
            raise ApiError(
                400,
                "input_reference must contain exactly one of 'image_url' or 'file_id'.",
                param="input_reference",
                code="invalid_value",
            )
        if "file_id" in ref:
            if not ref["file_id"]:
                raise ApiError(
                    400,
                    "Invalid 'input_reference.file_id': empty string.",
                    param="input_reference.file_id",
                    code="invalid_value",
                )
            return {"type": "file_id", "file_id": ref["file_id"]}
        url: str = ref["image_url"]
        if url.startswith("data:"):
            declared, data = data_url_payload(url)
            if sniff_image(data) is None:
                raise self._bad_image("input_reference.image_url", declared)
            return {"type": "image_url", "image_url": url, "data": data}
        if not url.startswith(("http://", "https://")):
            raise ApiError(
                400,
                "Invalid 'input_reference.image_url': expected a fully qualified URL or a "
                "base64-encoded data URL.",
                param="input_reference.image_url",
                code="invalid_value",
            )
        return {"type": "image_url", "image_url": url}  # never fetched: tests stay offline

    def _check_reference_size(self, reference: dict[str, Any], size: str) -> None:
        data = reference.get("data")
        if not self.strict_reference_size or not isinstance(data, bytes):
            return
        with Image.open(io.BytesIO(data)) as img:
            actual = f"{img.width}x{img.height}"
        if actual != size:
            raise ApiError(
                400,
                f"Inpaint image must match the requested width and height ({size}), got {actual}.",
                param="input_reference",
                code="invalid_value",
            )

    # -- state ----------------------------------------------------------------------------

    def _lookup(self, video_id: str) -> VideoState:
        with self.lock:
            state = self.videos.get(video_id)
            if state is None or video_id in self.deleted:
                raise ApiError(
                    404,
                    f"Video with id '{video_id}' not found.",
                    param=None,
                    code="video_not_found",
                )
            return state

    def _new_state(
        self,
        prompt: str,
        model: str,
        size: str,
        seconds: str,
        *,
        extra: dict[str, str],
        reference: dict[str, Any] | None = None,
        remixed_from: str | None = None,
    ) -> VideoState:
        now = self.clock()
        failure = None
        if self.moderation.search(prompt):
            failure = {
                "code": "moderation_blocked",
                "message": "Your request was blocked by our moderation system.",
            }
        with self.lock:
            self._seq += 1
            state = VideoState(
                id="video_" + uuid.uuid4().hex,
                model=model,
                prompt=prompt,
                size=size,
                seconds=seconds,
                created=now,
                started=now,
                queued_seconds=self.queued_seconds,
                run_seconds=self.run_seconds,
                expires_after=self.expires_after,
                remixed_from_video_id=remixed_from,
                input_reference=reference,
                extra=extra,
                failure=failure,
                seq=self._seq,
            )
            self.videos[state.id] = state
        return state
