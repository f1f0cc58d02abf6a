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
from dataclasses import dataclass, replace
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
    Operation,
    Prepared,
    SourceVideo,
    Status,
    UpstreamVideo,
    without_normalised,
)
from .convert import iso_to_unix
from .failures import not_ready
from .http import STREAM_CHUNK, HttpProvider
from .media import ImageRules, reference_image
from .params import ExtraKind, coerce_extras
from .specs import ModelSpec, check_spec

# OpenAI `size` -> (aspectRatio, resolution): the frames Veo renders (Gemini API docs,
# Vertex model pages: 16:9 | 9:16 at 720p | 1080p, and 4k on Veo 3.1 and 3.1 Fast).
SIZES: dict[str, tuple[str, str]] = {
    "1280x720": ("16:9", "720p"),
    "720x1280": ("9:16", "720p"),
    "1920x1080": ("16:9", "1080p"),
    "1080x1920": ("9:16", "1080p"),
    "3840x2160": ("16:9", "4k"),
    "2160x3840": ("9:16", "4k"),
}
SIZE_OF: dict[tuple[str, str], str] = {shape: size for size, shape in SIZES.items()}
HD_SIZES = tuple(s for s, (_, res) in SIZES.items() if res != "4k")
DEFAULT_SIZE = "1280x720"
DEFAULT_SECONDS = "8"
# Gemini API docs (durationSeconds): 8 s only at 4k and with reference images (applied on
# Vertex AI too, *inferred*). The docs say the same of 1080p; that is left to Google, as
# clients already send 1080p at 4 and 6 s.
EIGHT_SECONDS_ONLY = frozenset({"4k"})
# Veo 3.1 extension (Gemini API docs, "Extending Veo videos"): the source is an earlier Veo
# video at 720p, each extension adds 7 s, the result is at most 148 s long.
EXTEND_SECONDS = 7
MAX_EXTENDED_SECONDS = 148
EXTEND_RESOLUTION = "720p"
NO_RESOLUTION_PREFIXES = ("veo-2.",)  # Veo 2 takes no `resolution` parameter
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # it becomes a URL path segment
REFERENCE_TYPE = "asset"  # referenceImages[].referenceType; Veo 3.1 takes asset images only


def veo_models(vertex: bool) -> dict[str, ModelSpec]:
    """The Veo models of one surface: Gemini API docs ("Generate videos with Veo 3.1",
    model versions) and the Vertex AI Veo 3.1 model page. Only Vertex AI takes `seed`,
    `fps` and `generateAudio` (python-genai refuses them on the Gemini API). Veo 3.1 Lite
    has no 4k (model pages), and no reference images or extension *(inferred: not listed
    for it)*."""
    common: dict[str, Any] = {
        "aspect_ratios": ("16:9", "9:16"),
        "image_input": True,
        "negative_prompt": True,
        "seed": vertex,
        "fps": (24,) if vertex else (),
    }
    v31 = ModelSpec(
        operations=frozenset({"create", "extend"}),
        seconds=(4, 6, 8),
        sizes=tuple(SIZES),
        resolutions=("720p", "1080p", "4k"),
        audio=True,
        audio_default=True,
        last_frame=True,
        max_reference_images=3,
        max_extend_seconds=EXTEND_SECONDS,
        **common,
    )
    lite = replace(
        v31,
        operations=frozenset({"create"}),
        sizes=HD_SIZES,
        resolutions=("720p", "1080p"),
        max_reference_images=0,
        max_extend_seconds=None,
    )
    v3 = ModelSpec(
        seconds=(4, 6, 8),
        sizes=HD_SIZES,
        resolutions=("720p", "1080p"),
        audio=True,
        audio_default=True,
        **common,
    )
    v2 = ModelSpec(
        seconds=(5, 6, 7, 8),
        sizes=("1280x720", "720x1280"),
        resolutions=("720p",),
        **common,
    )
    return {
        "veo-3.1-generate-*": v31,
        "veo-3.1-fast-generate-*": v31,
        "veo-3.1-lite-generate-*": lite,
        "veo-3.0-*": v3,
        "veo-2.*": v2,
    }


# A Veo model this table does not know is checked as Veo 3 (4, 6 or 8 s, 720p/1080p).
FALLBACK_SPEC = veo_models(vertex=True)["veo-3.0-*"]

# Parameters the OpenAI fields already set: `extra` may not set them a second way.
DERIVED: dict[str, str] = {
    "prompt": "prompt",
    "image": "input_reference",
    "aspectRatio": "size",
    "resolution": "size",
    "durationSeconds": "seconds",
    "lastFrame": "last_frame",
    "referenceImages": "reference_images",
    "video": "source",
}
# Normalised CreateParams fields -> the `parameters` name they set; an extra may not set
# the same one a second way.
NORMALISED: dict[str, str] = {
    "negative_prompt": "negativePrompt",
    "seed": "seed",
    "fps": "fps",
    "generate_audio": "generateAudio",
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
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.IMAGE_INPUT,
            Capability.EXTEND,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    default_poll_after_ms = 5000  # Veo takes minutes; Google's own samples poll every 10 s
    surface: ClassVar[str]  # how messages name the API
    output_fields: ClassVar[OutputFields]
    extra_kinds: ClassVar[dict[str, ExtraKind]]  # known `parameters`, given JSON types
    refused_extras: ClassVar[dict[str, str]] = {}  # name -> why this surface refuses it
    top_level_extras: ClassVar[frozenset[str]] = frozenset()  # beside instances/parameters
    retention_seconds: ClassVar[int | None] = None  # how long Google keeps the output
    # Whether `seed`, `fps` and `generateAudio` exist on this surface (Vertex AI only).
    takes_vertex_parameters: ClassVar[bool] = False

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
        needs no upstream call. An extension whose source is only an operation id gets its
        `video` in `create`, read from that operation."""
        if not MODEL_NAME.match(params.model):
            raise bad_request(
                "invalid_model", f"{params.model!r} is not a Veo model name.", "model"
            )
        spec = self.spec(params.model) or FALLBACK_SPEC
        check_spec(spec, params)
        extending = params.operation is Operation.EXTEND
        ratio, resolution = self._shape(params, spec)
        parameters: dict[str, Any] = {"aspectRatio": ratio}
        if extending:
            seconds = self._extension(params, resolution)
        else:
            seconds = params.seconds or DEFAULT_SECONDS
            eight_only = resolution in EIGHT_SECONDS_ONLY or params.reference_images
            if eight_only and seconds != "8":
                raise bad_request(
                    "invalid_seconds",
                    f"Veo renders {resolution} and reference-image videos in 8 seconds only, "
                    f"not {seconds}.",
                    "seconds",
                )
            parameters["durationSeconds"] = int(seconds)
        if not params.model.startswith(NO_RESOLUTION_PREFIXES):
            parameters["resolution"] = resolution
        parameters.update(self._normalised(params))
        instance: dict[str, Any] = {"prompt": params.prompt}
        self._frames(params, instance)
        if extending:
            assert params.source is not None
            video = self.video_input(params.source)
            if video is not None:
                instance["video"] = video
        body: dict[str, Any] = {"instances": [instance], "parameters": parameters}
        for name, value in self.extras(without_normalised(params.extra), parameters).items():
            (body if name in self.top_level_extras else parameters)[name] = value
        shown = {**body, "instances": [redact(instance)]}
        route = "extend" if extending else ""
        size = SIZE_OF[(ratio, resolution)]
        return Prepared(params, body, shown, route, size=size, seconds=str(int(seconds)))

    def _shape(self, params: CreateParams, spec: ModelSpec) -> tuple[str, str]:
        """(aspectRatio, resolution) from `size` and/or the normalised fields."""
        if params.size and params.size not in SIZES:
            raise bad_request(
                "invalid_size",
                f"size {params.size!r} is not available for Veo {params.model} on "
                f"{self.surface}; allowed: {', '.join(spec.sizes or HD_SIZES)}.",
                "size",
            )
        ratio, resolution = SIZES[params.size or DEFAULT_SIZE]
        for name, given, derived in (
            ("aspect_ratio", params.aspect_ratio, ratio),
            ("resolution", params.resolution, resolution),
        ):
            if params.size and given and given != derived:
                raise bad_request(
                    "invalid_parameter",
                    f"{name} {given!r} contradicts size {params.size!r} ({derived}).",
                    name,
                )
        ratio = params.aspect_ratio or ratio
        resolution = params.resolution or resolution
        if (ratio, resolution) not in SIZE_OF:
            raise bad_request(
                "invalid_resolution",
                f"Veo renders {', '.join(spec.resolutions)} at 16:9 or 9:16.",
                "resolution",
            )
        return ratio, resolution

    def _extension(self, params: CreateParams, resolution: str) -> str:
        """The checks of a Veo 3.1 extension; its new segment is always 7 s."""
        if params.source is None:
            raise bad_request(
                "missing_source", "An extension needs the source video to continue.", "source"
            )
        for name, value in (
            ("input_reference", params.input_reference),
            ("last_frame", params.last_frame),
            ("reference_images", params.reference_images),
        ):
            if value:
                raise bad_request(
                    "invalid_parameter",
                    f"Veo extends a video from its last second; {name} is not taken then.",
                    name,
                )
        if resolution != EXTEND_RESOLUTION:
            raise bad_request(
                "invalid_resolution",
                f"Veo extends {EXTEND_RESOLUTION} videos only, not {resolution}.",
                "resolution",
            )
        if params.seconds and float(params.seconds) != EXTEND_SECONDS:
            raise bad_request(
                "invalid_seconds",
                f"Veo extends a video by {EXTEND_SECONDS} seconds, not {params.seconds}.",
                "seconds",
            )
        total = (params.source.seconds or 0) + EXTEND_SECONDS
        if total > MAX_EXTENDED_SECONDS:
            raise bad_request(
                "invalid_seconds",
                f"Veo extends videos up to {MAX_EXTENDED_SECONDS} seconds in all; this one "
                f"would be {total:g}.",
                "seconds",
            )
        return str(EXTEND_SECONDS)

    def _normalised(self, params: CreateParams) -> dict[str, Any]:
        """`parameters` set by the normalised fields, refused where this surface has none."""
        out: dict[str, Any] = {}
        if params.negative_prompt:
            out["negativePrompt"] = params.negative_prompt
        vertex_only = {
            "seed": params.seed,
            "fps": params.fps,
            "generate_audio": params.generate_audio,
        }
        for name, value in vertex_only.items():
            if value is None:
                continue
            if self.takes_vertex_parameters:
                out[NORMALISED[name]] = value
            elif name == "generate_audio" and value:
                continue  # Veo 3 on the Gemini API always renders sound: nothing to send
            else:
                raise bad_request(
                    "unsupported_parameter",
                    f"{name} is not accepted by {self.surface}: it exists on Vertex AI only "
                    "(use a `vertex` provider)"
                    + ("; Veo 3 there always renders sound." if name == "generate_audio" else "."),
                    name,
                )
        return out

    def _frames(self, params: CreateParams, instance: dict[str, Any]) -> None:
        """First and last frames and reference images, inline (the only form both take)."""
        if params.last_frame is not None and params.input_reference is None:
            raise bad_request(
                "missing_input_reference",
                "Veo interpolates between a first and a last frame: give input_reference "
                "with last_frame.",
                "input_reference",
            )
        if params.input_reference is not None:
            instance["image"] = self.image(params.input_reference)
        if params.last_frame is not None:
            instance["lastFrame"] = self.image(params.last_frame, "last_frame")
        references = list(params.reference_images) + [
            c.image for c in params.characters if c.image is not None
        ]
        if references:
            instance["referenceImages"] = [
                {"image": self.image(ref, "reference_images"), "referenceType": REFERENCE_TYPE}
                for ref in references
            ]

    def video_input(self, source: SourceVideo) -> dict[str, str] | None:
        """The extension's `video` from bytes or a URL this surface reads; None when only
        the source operation is known (resolved in `create`)."""
        fields = self.output_fields
        if source.data is not None:
            return {
                fields.data: base64.b64encode(source.data).decode(),
                fields.mime_type: source.content_type,
            }
        if source.url:
            self.check_video_url(source.url)
            return {fields.uri: source.url}
        if source.upstream_id:
            return None
        raise bad_request(
            "missing_source",
            "An extension needs the source video: an earlier Veo job, its URL or its bytes.",
            "source",
        )

    def check_video_url(self, url: str) -> None:
        """Refuse a source URL this surface cannot read (each surface overrides)."""

    async def _resolve_source(self, prepared: Prepared, key: UpstreamKey) -> dict[str, Any]:
        """The create body with the extension's `video` read from its source operation."""
        body: dict[str, Any] = prepared.body
        instance = body["instances"][0]
        source = prepared.params.source
        if prepared.route != "extend" or "video" in instance or source is None:
            return body
        assert source.upstream_id is not None
        outputs, _ = self._outputs(await self.fetch_operation(source.upstream_id, key))
        if not outputs:
            raise bad_request(
                "invalid_source",
                f"Veo operation {source.upstream_id!r} has no finished video to extend.",
                "source",
            )
        first, fields = outputs[0], self.output_fields
        video = (
            {fields.uri: first.uri}
            if first.uri is not None
            else {fields.data: first.data or "", fields.mime_type: first.mime_type}
        )
        return {**body, "instances": [{**instance, "video": video}]}

    def extras(self, extra: dict[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
        """Provider parameters from the create body, in Google's names and JSON types; one
        that `derived` (what the request's own fields set) already holds is refused."""
        renamed: dict[str, Any] = {}
        for key, value in extra.items():
            head, bracket, rest = key.partition("[")
            renamed[camel(head) + bracket + rest] = value
        out = coerce_extras(renamed, self.extra_kinds)
        for name in out:
            if name in derived and name not in DERIVED:
                raise bad_request(
                    "invalid_parameter",
                    f"{name!r} is set twice (by a create field and as a parameter).",
                    name,
                )
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

    def image(self, ref: InputReference, param: str = "input_reference") -> dict[str, str]:
        """An image (first or last frame, reference) as inline bytes: the only form both
        surfaces take."""
        if ref.data is None and not (ref.image_url or "").startswith("data:"):
            what = "an uploaded file_id" if ref.file_id else "an image URL"
            raise bad_request(
                "unsupported_input_reference",
                f"Veo on {self.surface} takes the first frame as inline bytes, not {what} "
                "(the gateway does not fetch URLs on your behalf); upload the image or send "
                "it as a data:image/...;base64 URL.",
                param,
            )
        image = reference_image(ref, IMAGE_RULES, param)
        return {"bytesBase64Encoded": image.base64(), "mimeType": image.content_type or ""}

    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self.create_url(key, prepared.params.model)
        body = await self._resolve_source(prepared, key)
        _, op, _ = await self.call("POST", url, key, json=body)
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
