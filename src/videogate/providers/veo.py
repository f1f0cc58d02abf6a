"""Google Veo, shared by the `gemini` (Gemini Developer API) and `vertex` (Vertex AI) adapters.

Both surfaces run the same model behind the same long-running-operation shape, and differ
only in auth, where an operation is polled and where the finished video lives. This module
holds what is identical: the `predictLongRunning` body built from OpenAI's create fields,
the operation -> `UpstreamVideo` mapping (status, google.rpc failure codes, Responsible-AI
filtering), Google's error envelope and path-safe public ids. `VeoProvider` has no
`type_name`, so the registry never mistakes it for an adapter.

Wire format (googleapis/python-genai @66807187, models.py `_GenerateVideos*_to_mldev|vertex`,
`_GenerateVideosResponse_from_*`, operations.py): body
`{"instances":[{"prompt","image":{"bytesBase64Encoded","mimeType"}}],"parameters":{
"aspectRatio","resolution","durationSeconds",...}}`; an operation is `{"name","done",
"metadata","error":{code,message},"response":{...}}` with `done` absent while running.
A finished operation with no video and `raiMediaFilteredCount`/`raiMediaFilteredReasons`
was refused by the safety filters (python-genai maps both fields; QuantumNous/new-api#6838).
Veo has no progress field: `metadata.progressPercent` is read when present (inferred from
third-party clients), else 0 until done. There is no list, cancel, delete or remix.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..config import UpstreamKey
from ..errors import GatewayError, bad_request
from ..video import Failure
from .base import (
    CallContext,
    Capability,
    Content,
    CreateParams,
    InputReference,
    Prepared,
    Status,
    UpstreamVideo,
)
from .convert import iso_to_unix
from .failures import not_ready
from .http import STREAM_CHUNK, HttpProvider
from .media import ImageRules, reference_image
from .params import ExtraKind, coerce_extras

# OpenAI `size` -> (aspectRatio, resolution): the only frames Veo renders (Gemini API docs,
# Vertex model pages: 16:9 | 9:16 at 720p | 1080p).
SIZES: dict[str, tuple[str, str]] = {
    "1280x720": ("16:9", "720p"),
    "720x1280": ("9:16", "720p"),
    "1920x1080": ("16:9", "1080p"),
    "1080x1920": ("9:16", "1080p"),
}
DEFAULT_SIZE = "1280x720"


@dataclass(frozen=True)
class ModelRules:
    """What one Veo generation accepts; `sends_resolution` False: the model takes none."""

    seconds: tuple[str, ...]
    sizes: tuple[str, ...]
    default_seconds: str
    sends_resolution: bool = True


# Model-name prefix -> rules, first match wins; anything else gets DEFAULT_RULES (Veo 3.x:
# 4, 6 or 8 s, python-genai/Vertex model pages). Veo 2 renders 5-8 s at 720p and has no
# `resolution` parameter (Gemini API docs, recalled: inferred).
MODEL_RULES: dict[str, ModelRules] = {
    "veo-2.": ModelRules(("5", "6", "7", "8"), ("1280x720", "720x1280"), "8", False),
}
DEFAULT_RULES = ModelRules(("4", "6", "8"), tuple(SIZES), "8")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # it becomes a URL path segment

# Parameters the OpenAI fields already set: `extra` may not set them a second way.
DERIVED: dict[str, str] = {
    "prompt": "prompt",
    "image": "input_reference",
    "aspectRatio": "size",
    "resolution": "size",
    "durationSeconds": "seconds",
}
# `parameters` both surfaces take (python-genai `_GenerateVideosConfig_to_mldev|vertex`).
COMMON_EXTRAS: dict[str, ExtraKind] = {
    "negativePrompt": str,
    "personGeneration": str,
    "sampleCount": int,
    "enhancePrompt": bool,
}
# `parameters` python-genai sends only to Vertex AI (and refuses on the Gemini API).
VERTEX_ONLY_EXTRAS: dict[str, ExtraKind] = {
    "storageUri": str,
    "seed": int,
    "fps": int,
    "generateAudio": bool,
    "compressionQuality": str,
    "pubsubTopic": str,
    "resizeMode": str,
}
# The first frame travels inline; Vertex documents JPEG and PNG only (recalled: inferred).
IMAGE_RULES = ImageRules("Veo", frozenset({"image/jpeg", "image/png"}), 20 * 1024 * 1024, 1, 100.0)
INLINE_FIELDS = frozenset({"bytesBase64Encoded", "encodedVideo"})

# The operation's state (see `operation_state`) -> OpenAI status. Google reports no queue.
STATUS_MAP: dict[str, Status] = {
    "running": "in_progress",
    "succeeded": "completed",
    "filtered": "failed",
    "error": "failed",
    "empty": "failed",
}
# google.rpc.Code of a failed operation's `error` -> canonical failure code.
FAILURE_MAP: dict[int, str] = {
    1: Failure.CANCELLED,  # CANCELLED
    2: Failure.UNKNOWN,  # UNKNOWN
    3: Failure.INVALID,  # INVALID_ARGUMENT
    4: Failure.INTERNAL,  # DEADLINE_EXCEEDED
    5: Failure.INVALID,  # NOT_FOUND (e.g. an input gs:// object)
    7: Failure.INVALID,  # PERMISSION_DENIED (e.g. storageUri not writable)
    8: Failure.INTERNAL,  # RESOURCE_EXHAUSTED (capacity ran out mid-job)
    9: Failure.INVALID,  # FAILED_PRECONDITION
    10: Failure.INTERNAL,  # ABORTED
    11: Failure.INVALID,  # OUT_OF_RANGE
    12: Failure.INVALID,  # UNIMPLEMENTED
    13: Failure.INTERNAL,  # INTERNAL
    14: Failure.INTERNAL,  # UNAVAILABLE
    15: Failure.INTERNAL,  # DATA_LOSS
    16: Failure.INVALID,  # UNAUTHENTICATED
}
# Lower-cased phrases that mark an INVALID_ARGUMENT operation error as a safety refusal
# ("...contains sensitive words that violate Google's Responsible AI practices...", as
# users report; inferred, Google documents no vocabulary).
MODERATION_HINTS: tuple[str, ...] = (
    "responsible ai",
    "usage guidelines",
    "sensitive words",
    "safety filter",
    "prohibited content",
)
FILTERED_MESSAGE = "The video was blocked by Google's safety filters."
EMPTY_MESSAGE = "The operation finished without a video."


@dataclass(frozen=True)
class VeoOutput:
    """One generated video: a URI to download, or base64 bytes carried in the operation."""

    uri: str | None
    data: str | None
    mime_type: str = "video/mp4"


@dataclass(frozen=True)
class OutputFields:
    """Where each surface puts a video's URI, inline bytes and MIME type in an item of its
    output list; `wrapper` names the object around them, if any."""

    uri: str
    data: str
    mime_type: str
    wrapper: str | None = None


def parse_outputs(items: Any, fields: OutputFields) -> list[VeoOutput]:
    """The videos in an operation's output list; items with neither URI nor bytes are
    skipped rather than failing the whole job."""
    found: list[VeoOutput] = []
    for item in items if isinstance(items, list) else []:
        video = item.get(fields.wrapper) if fields.wrapper and isinstance(item, Mapping) else item
        if not isinstance(video, Mapping):
            continue
        uri, data = video.get(fields.uri), video.get(fields.data)
        if isinstance(uri, str) or isinstance(data, str):
            found.append(
                VeoOutput(
                    uri if isinstance(uri, str) else None,
                    data if isinstance(data, str) else None,
                    str(video.get(fields.mime_type) or "video/mp4"),
                )
            )
    return found


def camel(name: str) -> str:
    """`negative_prompt` -> `negativePrompt`: Google's JSON names, whichever a client used."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def redact(value: Any) -> Any:
    """A copy fit for `raw_request`/`raw_response`: inline media summarised, not echoed."""
    if isinstance(value, Mapping):
        return {
            k: f"<{len(v)} base64 characters>"
            if k in INLINE_FIELDS and isinstance(v, str)
            else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def rules_for(model: str) -> ModelRules:
    for prefix, rules in MODEL_RULES.items():
        if model.startswith(prefix):
            return rules
    return DEFAULT_RULES


def operation_state(op: Mapping[str, Any], outputs: list[VeoOutput], filtered: bool) -> str:
    """running | error | succeeded | filtered | empty: the key into STATUS_MAP."""
    if not op.get("done"):
        return "running"
    if isinstance(op.get("error"), Mapping):
        return "error"
    if outputs:
        return "succeeded"
    return "filtered" if filtered else "empty"


def rpc_failure(error: Mapping[str, Any]) -> dict[str, str]:
    """A google.rpc.Status from a failed operation -> the video's `error`."""
    message = str(error.get("message") or "Veo generation failed.")
    number = error.get("code")
    code = FAILURE_MAP.get(number, Failure.UNKNOWN) if isinstance(number, int) else Failure.UNKNOWN
    if code == Failure.INVALID and any(h in message.lower() for h in MODERATION_HINTS):
        code = Failure.MODERATION
    return {"code": code, "message": message}


def inline_content(data: str, mime_type: str, provider: str) -> Content:
    """A video carried as base64 in the operation, served without a second request."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise GatewayError(
            502,
            "upstream_bad_response",
            "Veo returned a video that is not valid base64.",
            provider=provider,
        ) from None

    async def chunks() -> AsyncIterator[bytes]:
        view = memoryview(raw)
        for start in range(0, len(raw), STREAM_CHUNK):
            yield bytes(view[start : start + STREAM_CHUNK])

    async def close() -> None:
        return None

    return Content(chunks(), mime_type, len(raw), close)


class VeoProvider(HttpProvider):
    """The Veo mapping; subclasses add auth, URLs, where outputs sit and how to fetch them."""

    capabilities = frozenset(
        {Capability.CREATE, Capability.RETRIEVE, Capability.CONTENT, Capability.IMAGE_INPUT}
    )
    default_poll_after_ms = 5000  # Veo takes minutes; Google's own samples poll every 10 s
    surface: ClassVar[str]  # how messages name the API
    output_fields: ClassVar[OutputFields]
    extra_kinds: ClassVar[dict[str, ExtraKind]]  # known `parameters`, given JSON types
    refused_extras: ClassVar[dict[str, str]] = {}  # name -> why this surface refuses it
    top_level_extras: ClassVar[frozenset[str]] = frozenset()  # beside instances/parameters
    retention_seconds: ClassVar[int | None] = None  # how long Google keeps the output

    # -- hooks ----------------------------------------------------------------------------

    @abstractmethod
    def create_url(self, key: UpstreamKey, model: str) -> str:
        """Where `predictLongRunning` is posted for `model`."""

    @abstractmethod
    async def auth_headers(self, key: UpstreamKey) -> dict[str, str]:
        """The credential headers for one call."""

    @abstractmethod
    async def fetch_operation(self, name: str, key: UpstreamKey) -> Mapping[str, Any]:
        """The operation's current JSON."""

    @abstractmethod
    def samples(self, response: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any]]:
        """(the output list, the object holding `raiMediaFiltered*`) in a done operation's
        `response`; each surface nests them differently."""

    @abstractmethod
    async def download(
        self, output: VeoOutput, key: UpstreamKey, ctx: CallContext | None = None
    ) -> Content:
        """Stream a video that the operation names by URI."""

    async def call(
        self, method: str, url: str, key: UpstreamKey, **kwargs: Any
    ) -> tuple[int, Any, Mapping[str, str]]:
        """`request` with this surface's credential headers."""
        return await self.request(method, url, headers=await self.auth_headers(key), **kwargs)

    # -- ids and errors -------------------------------------------------------------------

    def public_token(self, upstream_id: str) -> str:
        """`models/veo-3.1/operations/abc` -> `veo-3.1~abc`: the resource ids without their
        fixed collection names. Unique (ids are unique within their parents) and path safe."""
        parts = upstream_id.split("/")
        ids = parts[1::2] if len(parts) > 1 else parts
        return "~".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in ids)

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """google.rpc.Status `{"error":{"code","message","status","details"}}`: the code is
        the ErrorInfo `reason` when given (API_KEY_INVALID), else `status` (INVALID_ARGUMENT);
        OAuth's `{"error","error_description"}` keeps its `error`."""
        err = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(err, Mapping) and "message" in err:
            reason = _error_reason(err.get("details"))
            code = reason or (str(err["status"]) if err.get("status") else None)
            return str(err["message"]), code, None, None
        if isinstance(err, str) and isinstance(body, Mapping):
            return str(body.get("error_description") or err), err, None, None
        return super().error_message(status, body)

    # -- create ---------------------------------------------------------------------------

    def prepare(self, params: CreateParams) -> Prepared:
        """The JSON body for `predictLongRunning` and its loggable copy; every check that
        needs no upstream call."""
        if not MODEL_NAME.match(params.model):
            raise bad_request(
                "invalid_model", f"{params.model!r} is not a Veo model name.", "model"
            )
        rules = rules_for(params.model)
        size = params.size or DEFAULT_SIZE
        if size not in rules.sizes:
            raise bad_request(
                "invalid_size",
                f"size {size!r} is not available for Veo {params.model} on {self.surface}; "
                f"allowed: {', '.join(rules.sizes)}.",
                "size",
            )
        seconds = params.seconds or rules.default_seconds
        if seconds not in rules.seconds:
            raise bad_request(
                "invalid_seconds",
                f"seconds {seconds!r} is not available for Veo {params.model}; "
                f"allowed: {', '.join(rules.seconds)}.",
                "seconds",
            )
        ratio, resolution = SIZES[size]
        parameters: dict[str, Any] = {"aspectRatio": ratio, "durationSeconds": int(seconds)}
        if rules.sends_resolution:
            parameters["resolution"] = resolution
        instance: dict[str, Any] = {"prompt": params.prompt}
        shown_instance = dict(instance)
        if params.input_reference is not None:
            image = self.image(params.input_reference)
            instance["image"] = image
            shown_instance["image"] = redact(image)
        body: dict[str, Any] = {"instances": [instance], "parameters": parameters}
        for name, value in self.extras(params.extra).items():
            (body if name in self.top_level_extras else parameters)[name] = value
        shown = {**body, "instances": [shown_instance]}
        return Prepared(params, body, shown, size=size, seconds=str(int(seconds)))

    def extras(self, extra: dict[str, Any]) -> dict[str, Any]:
        """Provider parameters from the create body, in Google's names and JSON types."""
        renamed: dict[str, Any] = {}
        for key, value in extra.items():
            head, bracket, rest = key.partition("[")
            renamed[camel(head) + bracket + rest] = value
        out = coerce_extras(renamed, self.extra_kinds)
        for name in out:
            if name in DERIVED:
                raise bad_request(
                    "invalid_parameter",
                    f"{name!r} is set from the create field {DERIVED[name]!r}; use that.",
                    name,
                )
            if name in self.refused_extras:
                raise bad_request(
                    "unsupported_parameter",
                    f"{name!r} is not accepted by {self.surface}: {self.refused_extras[name]}",
                    name,
                )
        return out

    def image(self, ref: InputReference) -> dict[str, str]:
        """The first frame as inline bytes: the only form both surfaces take."""
        if ref.data is None and not (ref.image_url or "").startswith("data:"):
            what = "an uploaded file_id" if ref.file_id else "an image URL"
            raise bad_request(
                "unsupported_input_reference",
                f"Veo on {self.surface} takes the first frame as inline bytes, not {what} "
                "(the gateway does not fetch URLs on your behalf); upload the image or send "
                "it as a data:image/...;base64 URL.",
                "input_reference",
            )
        image = reference_image(ref, IMAGE_RULES)
        return {"bytesBase64Encoded": image.base64(), "mimeType": image.content_type or ""}

    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self.create_url(key, prepared.params.model)
        _, op, _ = await self.call("POST", url, key, json=prepared.body)
        ctx.record(request=prepared.shown, response=redact(op))
        video = self.to_video(op)
        video.model = prepared.params.model
        video.prompt = prepared.params.prompt
        video.size, video.seconds = prepared.size, prepared.seconds
        return video

    # -- read -----------------------------------------------------------------------------

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        op = await self.fetch_operation(video_id, key)
        ctx.record(response=redact(op))
        return self.to_video(op)

    def to_video(self, op: Any) -> UpstreamVideo:
        if not isinstance(op, Mapping) or not isinstance(op.get("name"), str) or not op["name"]:
            raise self.bad_response(
                f"Provider {self.id!r} answered without an operation name.", redact(op)
            )
        outputs, rai = self._outputs(op)
        reasons = rai.get("raiMediaFilteredReasons")
        filtered = bool(rai.get("raiMediaFilteredCount")) or bool(reasons)
        state = operation_state(op, outputs, filtered)
        status = STATUS_MAP[state]
        metadata = op.get("metadata") if isinstance(op.get("metadata"), Mapping) else {}
        assert isinstance(metadata, Mapping)
        now = int(time.time())
        done = state != "running"
        completed_at = (iso_to_unix(metadata.get("updateTime")) or now) if done else None
        error: dict[str, str] | None = None
        if state == "error":
            error = rpc_failure(op["error"])
        elif state == "filtered":
            detail = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
            error = {
                "code": Failure.MODERATION,
                "message": f"{FILTERED_MESSAGE} {detail}".strip(),
            }
        elif state == "empty":
            error = {"code": Failure.UNKNOWN, "message": EMPTY_MESSAGE}
        progress = metadata.get("progressPercent")
        return UpstreamVideo(
            id=op["name"],
            status=status,
            progress=100 if status == "completed" else _percent(progress),
            created_at=iso_to_unix(metadata.get("createTime")) or now,
            completed_at=completed_at,
            expires_at=(
                completed_at + self.retention_seconds
                if completed_at is not None and status == "completed" and self.retention_seconds
                else None
            ),
            error=error,
            raw=op,
        )

    def _outputs(self, op: Mapping[str, Any]) -> tuple[list[VeoOutput], Mapping[str, Any]]:
        response = op.get("response")
        if not op.get("done") or not isinstance(response, Mapping):
            return [], {}
        items, holder = self.samples(response)
        return parse_outputs(items, self.output_fields), holder

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        op = await self.fetch_operation(video_id, key)
        outputs, _ = self._outputs(op)
        if not outputs:
            raise not_ready(self.id, f"Veo operation {video_id!r} has no video to download.")
        first = outputs[0]
        if first.data is not None:
            return inline_content(first.data, first.mime_type, self.id)
        return await self.download(first, key, ctx)


def _error_reason(details: Any) -> str | None:
    """The `reason` of a google.rpc.ErrorInfo among an error's `details`, if any."""
    if not isinstance(details, list):
        return None
    for item in details:
        if isinstance(item, Mapping) and str(item.get("@type", "")).endswith("ErrorInfo"):
            reason = item.get("reason")
            if isinstance(reason, str) and reason:
                return reason
    return None


def _percent(value: Any) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return 0
