"""`runway`: Runway's developer API (api.dev.runwayml.com, `X-Runway-Version: 2024-11-06`).

A job is a Runway task: `POST /v1/image_to_video` when a first or last frame is given,
`POST /v1/text_to_video` otherwise, `POST /v1/video_to_video` for an edit (Aleph 2, the
legacy `gen4_aleph`, Gemini Omni Flash and Seedance 2.0 restyle a source video), then
`GET /v1/tasks/{id}`. OpenAI's `size` becomes Runway's `ratio` (1280x720 -> "1280:720"),
or `aspect_ratio` + `resolution` pick one of the model's ratios; `seconds` is its integer
`duration`; all are checked against the model's table before any upstream call, because
Runway bills per task. Images and source videos travel as https URLs or data: URLs
(Runway takes images up to 5 MB and videos up to 16 MB inline); output URLs expire after
24-48 h, so `content` re-reads the task for a fresh one every time. `DELETE` cancels a
task that is still running and deletes a finished one.

Besides its own Gen-4 models Runway hosts Google's Veo 3 / 3.1 and Gemini Omni Flash and
ByteDance's Seedance 2.0 (`seedance2`, `_fast`, `_mini`) behind the same endpoints; each
model's wire facts are one `Wire` row below, and the shared `ModelSpec` catalogue entry is
derived from it, so the two cannot disagree.

Sources: runwayml/sdk-python @c604e0e (2026-07-27: types/{image,text,video}_to_video_create_
params.py, task_retrieve_response.py, resources/tasks.py, _client.py; `gen4_aleph` left the
SDK's video_to_video union in d106617, 2026-06-10, and is kept here for accounts that still
use it) and docs.dev.runwayml.com (api-details/errors, assets/inputs). Options:
`api_version` (the X-Runway-Version header).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..config import UpstreamKey
from ..errors import UpstreamError, bad_request, whole_number
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    InputReference,
    Operation,
    Prepared,
    UpstreamVideo,
    without_normalised,
)
from .convert import iso_to_unix, parse_size
from .failures import not_ready
from .http import HttpProvider
from .media import display_url, image_data_url
from .params import ExtraKind, coerce_extras, refuse_reserved
from .sources import source_uri
from .specs import ModelSpec

DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"
# Runway task status -> OpenAI status (THROTTLED: waiting for a free slot in the org's quota).
STATUS_MAP: dict[str, str] = {
    "PENDING": "queued",
    "THROTTLED": "queued",
    "RUNNING": "in_progress",
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "CANCELLED": "failed",
}
ACTIVE = frozenset({"PENDING", "THROTTLED", "RUNNING"})
# `failureCode` family -> canonical failure code; the longest matching dotted prefix wins.
# Families from docs.dev.runwayml.com/errors/task-failures as cited by integrators (SAFETY.*,
# INPUT_PREPROCESSING.*, INTERNAL*, ASSET.INVALID, THIRD_PARTY.UNAVAILABLE); anything else
# is generation_failed.
FAILURE_MAP: dict[str, str] = {
    "SAFETY": Failure.MODERATION,  # SAFETY.INPUT.TEXT|IMAGE, SAFETY.OUTPUT.VIDEO|IMAGE
    "INPUT_PREPROCESSING.SAFETY": Failure.MODERATION,
    "INTERNAL": Failure.INTERNAL,  # INTERNAL, INTERNAL.BAD_OUTPUT.CODE01
    "INPUT_PREPROCESSING.INTERNAL": Failure.INTERNAL,
    "THIRD_PARTY": Failure.INTERNAL,
    "ASSET": Failure.INVALID,  # ASSET.INVALID: the input image was unusable
}

GEN4_RATIOS = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
VEO_RATIOS = ("1280:720", "720:1280", "1080:1920", "1920:1080")
OMNI_RATIOS = ("1280:720", "720:1280")
# Seedance 2.0 Fast and Mini: 480p and 720p; Seedance 2.0 adds 1080p and 4K (the SDK's
# `ratio` literals, which are ByteDance's output pixels).
SEEDANCE_RATIOS = (
    "992:432", "864:496", "752:560", "640:640", "560:752", "496:864",
    "1470:630", "1280:720", "1112:834", "960:960", "834:1112", "720:1280",
)  # fmt: skip
SEEDANCE_FULL_RATIOS = (
    *SEEDANCE_RATIOS,
    "2206:946", "1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920",
    "3840:1646", "3840:2160", "3840:2880", "3840:3840", "2880:3840", "2160:3840",
)  # fmt: skip
# Aleph 2's `targetAspectRatio` (expand/outpaint the input to this frame).
ALEPH_TARGETS = ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9")
DEFAULT_RATIO = "1280:720"  # accepted by every create mode below
MAX_DATA_URI = 5 * 1024 * 1024  # images: "the encoded data URI must be under 5MB"
MAX_VIDEO_DATA_URI = 16 * 1024 * 1024  # videos: "base64 data URI ... up to 16MB"
# Resolution tier of a ratio by its pixel count (Runway names none; ByteDance's tiers:
# 480p ~0.42 MP, 720p ~0.92 MP, 1080p ~2.07 MP, 4K 6-15 MP).
TIERS: tuple[tuple[int, str], ...] = (
    (650_000, "480p"),
    (1_500_000, "720p"),
    (4_000_000, "1080p"),
    (1 << 62, "4k"),
)


@dataclass(frozen=True)
class Wire:
    """What one Runway model takes on the wire, per the SDK's per-model create params.

    `text_ratios`/`image_ratios` empty: no text-to-video / image-to-video. `edit_field`:
    the body field carrying the source video of an edit (None: no video_to_video);
    `edit_ratios`: ratios an edit may ask for (empty: the output follows the input).
    `default_duration` None: the field is omitted unless asked for. `prompt_limit` counts
    UTF-16 code units (`utf16`) or characters.
    """

    text_ratios: tuple[str, ...] = ()
    image_ratios: tuple[str, ...] = ()
    durations: tuple[int, ...] = ()
    default_duration: int | None = None
    edit_field: str | None = None
    edit_ratios: tuple[str, ...] = ()
    edit_data_uri: bool = True  # the edit source may be a data: URI (else https only)
    edit_prompt_required: bool = False
    text_prompt_required: bool = True
    prompt_limit: int = 1000
    utf16: bool = True
    audio: bool = False
    negative_prompt: bool = False
    seed: bool = False
    last_frame: bool = False
    references: int = 0  # `references: [{uri}]` in text-to-video and edits
    aspect_targets: tuple[str, ...] = ()  # `targetAspectRatio` (Aleph 2)


SEEDANCE2 = Wire(
    SEEDANCE_FULL_RATIOS,
    SEEDANCE_FULL_RATIOS,
    tuple(range(4, 16)),  # inferred: ByteDance's 4-15 s (the SDK says only "int")
    edit_field="promptVideo",
    edit_ratios=SEEDANCE_FULL_RATIOS,
    prompt_limit=3500,
    utf16=False,
    audio=True,
    last_frame=True,
    references=9,  # "An optional array of image references (up to 9)."
)
SEEDANCE2_720 = replace(
    SEEDANCE2,
    text_ratios=SEEDANCE_RATIOS,
    image_ratios=SEEDANCE_RATIOS,
    edit_ratios=SEEDANCE_RATIOS,
)
WIRES: dict[str, Wire] = {
    "gen4.5": Wire(("1280:720", "720:1280"), GEN4_RATIOS, tuple(range(2, 11)), 5, seed=True),
    "gen4_turbo": Wire((), GEN4_RATIOS, tuple(range(2, 11)), 5, seed=True),
    "veo3": Wire(VEO_RATIOS, VEO_RATIOS, (8,), 8, negative_prompt=True),
    "veo3.1": Wire(
        VEO_RATIOS, VEO_RATIOS, (4, 6, 8), 8, audio=True, negative_prompt=True, last_frame=True
    ),
    "veo3.1_fast": Wire(
        VEO_RATIOS, VEO_RATIOS, (4, 6, 8), 8, audio=True, negative_prompt=True, last_frame=True
    ),
    "seedance2": SEEDANCE2,
    "seedance2_fast": SEEDANCE2_720,
    "seedance2_mini": SEEDANCE2_720,
    # Edits take `references` with no documented maximum (inferred: 9, as Seedance's).
    "gemini_omni_flash": Wire(
        OMNI_RATIOS,
        OMNI_RATIOS,
        tuple(range(3, 11)),
        edit_field="videoUri",
        edit_prompt_required=True,
        utf16=False,
        prompt_limit=3500,  # inferred: the SDK states no limit; Seedance's on Runway
        references=9,
    ),
    "aleph2": Wire(edit_field="videoUri", seed=True, aspect_targets=ALEPH_TARGETS),
    "gen4_aleph": Wire(
        edit_field="videoUri",
        edit_data_uri=False,  # "A HTTPS URL."
        edit_prompt_required=True,
        seed=True,
        references=1,  # "Currently up to one reference is supported."
    ),
}


def tier_of(ratio: str) -> str:
    """ "1280:720" -> "720p", by pixel count."""
    width, height = (int(x) for x in ratio.split(":"))
    return next(label for bound, label in TIERS if width * height < bound)


def aspect_of(ratio: str) -> float:
    width, height = (int(x) for x in ratio.split(":"))
    return width / height


def _label(value: float) -> str | None:
    """The named aspect ratio within 3% of `value` (ByteDance's 864:496 is 16:9)."""
    for name in ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9", "9:21", "3:2", "2:3"):
        a, b = (int(x) for x in name.split(":"))
        if abs(value / (a / b) - 1) < 0.03:
            return name
    return None


def _spec(wire: Wire) -> ModelSpec:
    """The catalogue entry of one model, derived from its wire facts."""
    ratios = tuple(dict.fromkeys(wire.text_ratios + wire.image_ratios + wire.edit_ratios))
    operations = set()
    if wire.text_ratios or wire.image_ratios:
        operations.add("create")
    if wire.edit_field:
        operations.add("edit")
    labels = [_label(aspect_of(r)) for r in ratios]
    return ModelSpec(
        operations=frozenset(operations),
        seconds=wire.durations if len(set(wire.durations)) < 4 else (),
        min_seconds=wire.durations[0] if len(wire.durations) >= 4 else None,
        max_seconds=wire.durations[-1] if len(wire.durations) >= 4 else None,
        sizes=tuple(r.replace(":", "x") for r in ratios),
        resolutions=tuple(dict.fromkeys(tier_of(r) for r in ratios)),
        aspect_ratios=tuple(dict.fromkeys(x for x in labels if x)) + wire.aspect_targets,
        audio=wire.audio,
        image_input=bool(wire.image_ratios),
        last_frame=wire.last_frame,
        max_reference_images=wire.references,
        negative_prompt=wire.negative_prompt,
        seed=wire.seed,
    )


MODELS: dict[str, ModelSpec] = {name: _spec(wire) for name, wire in WIRES.items()}
# Body fields the adapter derives from the OpenAI request; an extra may not override them
# (checked in this order).
DERIVED = {
    "duration": "seconds",
    "model": "model",
    "promptImage": "input_reference",
    "promptText": "prompt",
    "promptVideo": "video",
    "ratio": "size",
    "videoUri": "video",
}
DERIVED_MESSAGE = "{name!r} is derived from the request's {source!r}; set that instead."
# Optional Runway parameters with non-string JSON types (multipart sends them as strings).
EXTRA_KINDS: dict[str, ExtraKind] = {
    "seed": int,
    "audio": bool,
    "contentModeration": dict,
    "negativePrompt": str,
    "references": list,
    "keyframes": list,
    "referenceAudio": list,
    "referenceVideos": list,
    "targetAspectRatio": str,
}
# Wire field -> the normalised CreateParams field that sets it: giving both is ambiguous.
NORMALISED: dict[str, str] = {
    "seed": "seed",
    "audio": "generate_audio",
    "negativePrompt": "negative_prompt",
    "references": "reference_images",
    "targetAspectRatio": "aspect_ratio",
}
ENDPOINTS: dict[str, str] = {
    "text": "/v1/text_to_video",
    "image": "/v1/image_to_video",
    "edit": "/v1/video_to_video",
}


def failure_code(code: str | None) -> str:
    """The canonical code for a Runway `failureCode` (longest matching family)."""
    best: str = Failure.UNKNOWN
    matched = -1
    for family, canonical in FAILURE_MAP.items():
        if code and (code == family or code.startswith(family + ".")) and len(family) > matched:
            best, matched = canonical, len(family)
    return best


def _allowed(values: tuple[int, ...]) -> str:
    if len(values) > 2 and values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]}"
    return ", ".join(str(v) for v in values)


def _shown_frames(frames: str | list[dict[str, str]]) -> Any:
    if isinstance(frames, str):
        return display_url(frames)
    return [{**f, "uri": display_url(f["uri"])} for f in frames]


class RunwayProvider(HttpProvider):
    type_name = "runway"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.DELETE,
            Capability.CANCEL,
            Capability.IMAGE_INPUT,
            Capability.EDIT,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    models = MODELS
    default_poll_after_ms = 5000  # Runway: "should not expect updates more than every 5 s"

    default_base_url = DEFAULT_BASE_URL

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        return {
            **super()._headers(key),
            "X-Runway-Version": str(self.config.options.get("api_version", API_VERSION)),
        }

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The path and JSON body for a create or an edit; every check that needs no
        upstream call."""
        model = params.model
        wire = WIRES.get(model)
        if wire is None:
            raise bad_request(
                "unsupported_model",
                f"Runway model {model!r} is not supported; supported: {', '.join(WIRES)}.",
                "model",
            )
        if params.operation is Operation.EXTEND:
            raise bad_request("unsupported_operation", "Runway has no extension endpoint.", "model")
        if params.fps is not None:
            raise bad_request(
                "unsupported_fps", f"Runway {model} does not take a frame rate.", "fps"
            )
        extra = coerce_extras(without_normalised(params.extra), EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        for name, field in NORMALISED.items():
            if name in extra and getattr(params, field) not in (None, []):
                raise bad_request(
                    "invalid_parameter",
                    f"{name!r} and {field!r} set the same thing; give only {field!r}.",
                    name,
                )
        if params.operation is Operation.EDIT:
            mode = "edit"
        elif params.input_reference is not None or params.last_frame is not None:
            mode = "image"
        else:
            mode = "text"
        self._check_prompt(params, wire, mode)
        body: dict[str, Any] = {"model": model}
        if params.prompt:
            body["promptText"] = params.prompt
        shown: dict[str, Any] = {}
        ratio = self._ratio(params, wire, mode)
        if ratio is not None:
            body["ratio"] = ratio
        duration = self._duration(params, wire, mode)
        if duration is not None:
            body["duration"] = duration
        body.update(self._normalised(params, wire, mode))
        body.update(extra)
        if mode == "image":
            body["promptImage"] = self._frames(params)
            shown["promptImage"] = _shown_frames(body["promptImage"])
        elif mode == "edit":
            assert wire.edit_field is not None
            limit = MAX_VIDEO_DATA_URI if wire.edit_data_uri else None
            body[wire.edit_field] = source_uri(params, "Runway", max_data_url=limit)
            shown[wire.edit_field] = display_url(body[wire.edit_field])
        if "references" in body and not extra.get("references"):
            shown["references"] = [{"uri": display_url(r["uri"])} for r in body["references"]]
        source = params.source
        if ratio is not None:
            size: str | None = ratio.replace(":", "x")
        else:
            size = source.size if source else None
        seconds = str(duration) if duration is not None else None
        if seconds is None and mode == "edit" and source and source.seconds:
            seconds = f"{source.seconds:g}"
        return Prepared(
            params, body, {**body, **shown}, ENDPOINTS[mode], size=size, seconds=seconds
        )

    @staticmethod
    def _check_prompt(params: CreateParams, wire: Wire, mode: str) -> None:
        required = {
            "text": wire.text_prompt_required,
            "image": False,
            "edit": wire.edit_prompt_required,
        }[mode]
        if required and not params.prompt:
            raise bad_request("prompt_required", f"Runway {params.model} needs a prompt.", "prompt")
        length = len(params.prompt.encode("utf-16-le")) // 2 if wire.utf16 else len(params.prompt)
        if length > wire.prompt_limit:
            unit = "UTF-16 code units" if wire.utf16 else "characters"
            raise bad_request(
                "prompt_too_long",
                f"Runway {params.model} takes prompts of at most {wire.prompt_limit} {unit}.",
                "prompt",
            )

    @staticmethod
    def _ratio(params: CreateParams, wire: Wire, mode: str) -> str | None:
        """Runway's `ratio`: from `size`, else the one `aspect_ratio`/`resolution` name,
        else the default (creates) or none (edits, whose output follows the input)."""
        ratios = {"text": wire.text_ratios, "image": wire.image_ratios}.get(mode, wire.edit_ratios)
        model, kind = params.model, {"text": "text-to-video", "image": "image-to-video"}
        if mode == "text" and not ratios:
            text_models = ", ".join(m for m, w in WIRES.items() if w.text_ratios)
            what = "only edits a video" if wire.edit_field else "only animates an image"
            raise bad_request(
                "input_reference_required",
                f"Runway model {model!r} {what}: give an input_reference, or use a "
                f"text-to-video model ({text_models}).",
                "input_reference",
            )
        if mode == "image" and not ratios:
            raise bad_request(
                "unsupported_input_reference",
                f"Runway model {model!r} does not take an input image.",
                "input_reference",
            )
        asked_aspect = params.aspect_ratio if not wire.aspect_targets else None
        if params.size is None and asked_aspect is None and params.resolution is None:
            return None if mode == "edit" else DEFAULT_RATIO
        if mode == "edit" and not ratios:
            if params.size is not None or params.resolution is not None:
                raise bad_request(
                    "invalid_size",
                    f"Runway {model} edits keep the source video's size; omit size and resolution.",
                    "size",
                )
            return None
        allowed = ", ".join(r.replace(":", "x") for r in ratios)
        mode_name = kind.get(mode, "edits")
        if params.size is not None:
            dims = parse_size(params.size)
            ratio = f"{dims[0]}:{dims[1]}" if dims else ""
            if ratio not in ratios:
                raise bad_request(
                    "invalid_size",
                    f"size {params.size!r} is not available for Runway {model} {mode_name}; "
                    f"allowed: {allowed}.",
                    "size",
                )
            return ratio
        hits = [
            r
            for r in ratios
            if (asked_aspect is None or _label(aspect_of(r)) == asked_aspect)
            and (params.resolution is None or tier_of(r) == params.resolution)
        ]
        if not hits:
            raise bad_request(
                "invalid_aspect_ratio",
                f"Runway {model} {mode_name} has no frame at aspect ratio "
                f"{asked_aspect or 'any'} and resolution {params.resolution or 'any'}; "
                f"allowed sizes: {allowed}.",
                "aspect_ratio" if asked_aspect else "resolution",
            )
        # Without a resolution the 720p frame of that shape, else the first listed.
        return next((r for r in hits if tier_of(r) == "720p"), hits[0])

    @staticmethod
    def _duration(params: CreateParams, wire: Wire, mode: str) -> int | None:
        if mode == "edit" and wire.edit_field == "videoUri":
            if params.seconds is not None:
                raise bad_request(
                    "invalid_seconds",
                    f"Runway {params.model} edits keep the source video's length; omit seconds.",
                    "seconds",
                )
            return None
        seconds = params.seconds
        if seconds is None:
            return wire.default_duration
        duration = whole_number(seconds, 3) or -1
        if duration not in wire.durations:
            raise bad_request(
                "invalid_seconds",
                f"seconds {seconds!r} is not available for Runway {params.model}; "
                f"allowed: {_allowed(wire.durations)}.",
                "seconds",
            )
        return duration

    def _normalised(self, params: CreateParams, wire: Wire, mode: str) -> dict[str, Any]:
        """The normalised generation fields under Runway's names, where the model takes
        them (the catalogue check has already refused the rest)."""
        out: dict[str, Any] = {}
        if params.generate_audio is not None and wire.audio:
            out["audio"] = params.generate_audio
        if params.negative_prompt and wire.negative_prompt:
            out["negativePrompt"] = params.negative_prompt
        if params.seed is not None and wire.seed:
            out["seed"] = params.seed
        if params.aspect_ratio and wire.aspect_targets:
            out["targetAspectRatio"] = params.aspect_ratio
        images = list(params.reference_images)
        images += [c.image for c in params.characters if c.image is not None]
        if images:
            if mode == "image" or not wire.references:
                raise bad_request(
                    "unsupported_reference_images",
                    f"Runway {params.model} takes reference images only with text-to-video "
                    "or an edit, not with a first or last frame.",
                    "reference_images",
                )
            if len(images) > wire.references:
                raise bad_request(
                    "too_many_reference_images",
                    f"Runway {params.model} takes at most {wire.references} reference images.",
                    "reference_images",
                )
            out["references"] = [
                {"uri": self._image_uri(ref, "reference_images")} for ref in images
            ]
        return out

    def _frames(self, params: CreateParams) -> str | list[dict[str, str]]:
        """`promptImage`: a bare URI for a first frame alone, else positioned frames."""
        first, last = params.input_reference, params.last_frame
        if first is not None and last is None:
            return self._image_uri(first, "input_reference")
        frames = []
        if first is not None:
            frames.append({"uri": self._image_uri(first, "input_reference"), "position": "first"})
        if last is not None:
            frames.append({"uri": self._image_uri(last, "last_frame"), "position": "last"})
        return frames

    @staticmethod
    def _image_uri(ref: InputReference, param: str) -> str:
        """An https URL or a data: URL; uploads are encoded into the latter."""
        if ref.data is not None:
            uri = image_data_url(ref.data, ref.content_type)
        elif ref.image_url and ref.image_url.startswith(("https://", "data:")):
            uri = ref.image_url
        elif ref.image_url:
            raise bad_request(
                "invalid_input_reference",
                "Runway fetches only https:// image URLs (or takes a data: URL); "
                f"{ref.image_url.split(':', 1)[0]}:// is not accepted.",
                param,
            )
        else:
            raise bad_request(
                "unsupported_input_reference",
                "Runway cannot read file ids; upload the image or give an https image_url.",
                param,
            )
        if uri.startswith("data:") and len(uri) >= MAX_DATA_URI:
            raise bad_request(
                "input_reference_too_large",
                f"Runway takes data: URLs under {MAX_DATA_URI} bytes once base64-encoded "
                f"(this one is {len(uri)}); host the image and give an https image_url.",
                param,
            )
        return uri

    # -- responses ------------------------------------------------------------------------
    def to_video(self, body: Any) -> UpstreamVideo:
        body = self.expect_object(body, "answered without a task object")
        native = str(body.get("status"))
        status = STATUS_MAP.get(native, "in_progress")
        progress = 100 if status == "completed" else 0
        if native == "RUNNING" and isinstance(body.get("progress"), int | float):
            progress = min(99, int(float(body["progress"]) * 100))
        error = None
        if native == "FAILED":
            code = body.get("failureCode")
            error = {
                "code": failure_code(code if isinstance(code, str) else None),
                "message": str(body.get("failure") or code or "Runway reported a failure."),
            }
        elif native == "CANCELLED":
            error = {"code": Failure.CANCELLED, "message": "The task was cancelled at Runway."}
        return UpstreamVideo(
            id=body["id"],
            status=status,  # type: ignore[arg-type]
            progress=progress,
            created_at=iso_to_unix(body.get("createdAt")) or int(time.time()),
            # Runway reports no end time; the first answer showing the end stands in for it.
            completed_at=int(time.time()) if status in TERMINAL else None,
            error=error,
            raw=body,
        )

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + prepared.route
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        task = self.expect_object(body, "accepted the task but returned no id")
        return prepared.accepted(task["id"], body)

    async def _task(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}/v1/tasks/{video_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._task(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """Stream `output[0]`, read fresh from the task (its signed URL expires)."""
        body = await self._task(video_id, key, ctx)
        video = self.to_video(body)
        if video.status != "completed":
            raise not_ready(
                self.id, f"Runway task {video_id!r} is {video.status}; it has no output yet."
            )
        output = body.get("output")
        if not isinstance(output, list) or not output or not isinstance(output[0], str):
            raise self.bad_response(
                f"Runway task {video_id!r} succeeded without an output URL.", body
            )
        # A pre-signed CDN URL: no Runway credentials go with it.
        return await self.stream_asset(output[0], "video/mp4", ctx=ctx)

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        """Cancel (still running) or delete (ended); either way the task is gone after."""
        try:
            current = await self._task(video_id, key, ctx)
            running = isinstance(current, Mapping) and current.get("status") in ACTIVE
            await self.request(
                "DELETE",
                f"{self._base(key)}/v1/tasks/{video_id}",
                headers={**self._headers(key), "Accept": "*/*"},
                expect_json=False,
                ctx=ctx,
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone at Runway")
            raise
        return DeleteResult(deleted=True, cancelled=running)
