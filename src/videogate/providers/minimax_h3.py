"""`minimax_h3`: MiniMax H3 and H3-Max on the v2 video generation API.

Same hosts, keys and error envelope as the Hailuo v1 adapter (`minimax.py`, which this one
extends): every API-level error rides in `base_resp.status_code != 0` inside an HTTP 200 and
is relayed through the shared number table (`BASE_RESP_ERRORS`, `coded_error`). The v2 body
is different (docs/providers/minimax_h3.md):

- `POST /v2/video_generation` `{"model", "content": [...], "resolution": "768P"|"2K",
  "duration": 4-15, "ratio"}` -> `{"task_id", "base_resp"}`. `content` holds one
  `{"type": "text", "text"}` and media items `{"type": "image_url"|"video_url"|"audio_url",
  "<type>": {"url"}, "role"}` with roles first_frame / last_frame (keyframes) or
  reference_image (<= 9) / reference_video (<= 3) / reference_audio (<= 3); keyframes and
  references are mutually exclusive. With a keyframe the shape follows the image
  (`ratio: "adaptive"`); text-only needs a concrete ratio.
- `GET /v2/query/video_generation/{task_id}` -> `{"task": {"status": queued|running|
  succeeded|failed|cancelled, "content": {"url"}, "error": {"code", "message"}}}`; the URL is
  time-limited and fetched without the key.

H3 always renders a native sound track, so `generate_audio: false` is refused. An EDIT sends
the source video as a `reference_video` with the instruction as the prompt (inferred: H3 is
documented as editing through video references). Extras: `reference_videos`,
`reference_audios` (URL lists), `aigc_watermark`, `callback_url`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..config import UpstreamKey
from ..errors import bad_request, whole_number
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    Operation,
    Prepared,
    Status,
    UpstreamVideo,
)
from .convert import int_or_none
from .failures import not_ready
from .media import reference_image
from .minimax import FAILURE_MAP, IMAGE_RULES, MiniMaxProvider
from .normalised import (
    DERIVED_MESSAGE,
    image_url,
    reference_stills,
    refuse_fps,
    source_url,
    tier_and_ratio,
)
from .params import ExtraKind, check_prompt_length, coerce_extras, refuse_reserved
from .specs import ModelSpec

VENDOR = "MiniMax H3"
CREATE_PATH = "/v2/video_generation"
QUERY_PATH = "/v2/query/video_generation/"
MAX_PROMPT = 7000
MAX_MEDIA = {"video_url": 3, "audio_url": 3}  # reference videos / audios per request
DEFAULT_SECONDS = "5"  # (inferred) what H3 renders when no duration is sent

STATUS_MAP: dict[str, Status] = {
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
}
TIERS: dict[int, str] = {768: "768P", 1440: "2K"}
RATIOS: tuple[str, ...] = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
_H3 = ModelSpec(
    operations=frozenset({"create", "edit"}),
    min_seconds=4,
    max_seconds=15,
    resolutions=("768p", "2k"),
    aspect_ratios=RATIOS,
    audio=True,
    audio_default=True,
    image_input=True,
    last_frame=True,
    max_reference_images=9,
)
MODELS: dict[str, ModelSpec] = {
    "MiniMax-H3": _H3,
    # H3-Max: the fast tier; 768P only (inferred from integrators' tables).
    "MiniMax-H3-Max": replace(_H3, resolutions=("768p",)),
}
EXTRA_KINDS: dict[str, ExtraKind] = {
    "aigc_watermark": bool,
    "callback_url": str,
    "reference_videos": list,
    "reference_audios": list,
}
RESERVED = {
    "model": "model",
    "content": "prompt",
    "resolution": "size",
    "ratio": "size",
    "duration": "seconds",
}


def media_item(kind: str, url: str, role: str) -> dict[str, Any]:
    """One `content` entry: `{"type": kind, kind: {"url"}, "role"}`."""
    return {"type": kind, kind: {"url": url}, "role": role}


class MiniMaxH3Provider(MiniMaxProvider):
    type_name = "minimax_h3"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.IMAGE_INPUT,
            Capability.EDIT,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    models = MODELS
    create_path = CREATE_PATH  # the create is Hailuo's, on the v2 path

    # -- request building ---------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The v2 body; every refusal here costs no upstream call."""
        check_prompt_length(params.prompt, MAX_PROMPT, VENDOR)
        refuse_fps(params, VENDOR)
        if params.generate_audio is False:
            raise bad_request(
                "unsupported_audio", "MiniMax H3 always renders sound.", "generate_audio"
            )
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, RESERVED, DERIVED_MESSAGE)
        content, shown_content = self._content(params, extra)
        body: dict[str, Any] = {"model": params.model}
        tier, ratio = tier_and_ratio(params, TIERS, RATIOS, VENDOR)
        if tier is not None:
            body["resolution"] = tier
        framed = any(item.get("role") in ("first_frame", "last_frame") for item in content)
        body["ratio"] = ratio or ("adaptive" if framed else "16:9")
        seconds = DEFAULT_SECONDS
        if params.seconds is not None:
            duration = whole_number(params.seconds, 3)
            if duration is None:
                raise bad_request(
                    "invalid_seconds", f"H3 renders whole seconds, not {params.seconds}.", "seconds"
                )
            body["duration"], seconds = duration, str(duration)
        body.update(extra)
        shown = {**body, "content": shown_content}
        body["content"] = content
        return Prepared(params, body, shown, size=params.size, seconds=seconds)

    @staticmethod
    def _content(
        params: CreateParams, extra: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The text item, then keyframes or references (never both); returns the content
        and its `raw_request` form (uploads summarised)."""
        keyframes: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for role, ref in (
            ("first_frame", params.input_reference),
            ("last_frame", params.last_frame),
        ):
            if ref is not None:
                image = reference_image(ref, IMAGE_RULES)
                sent = media_item("image_url", image_url(image), role)
                keyframes.append((sent, media_item("image_url", image.describe(), role)))
        references = [
            (
                media_item("image_url", image_url(image), "reference_image"),
                media_item("image_url", image.describe(), "reference_image"),
            )
            for image in reference_stills(params, IMAGE_RULES)
        ]
        videos = [str(u) for u in extra.pop("reference_videos", [])]
        if params.operation is Operation.EDIT:
            videos.insert(0, source_url(params, VENDOR))
        audios = [str(u) for u in extra.pop("reference_audios", [])]
        for kind, role, urls in (
            ("video_url", "reference_video", videos),
            ("audio_url", "reference_audio", audios),
        ):
            if len(urls) > MAX_MEDIA[kind]:
                raise bad_request(
                    "too_many_reference_media",
                    f"{VENDOR} takes at most {MAX_MEDIA[kind]} {role}s.",
                    f"{role}s",
                )
            references.extend((media_item(kind, u, role),) * 2 for u in urls)
        if keyframes and references:
            raise bad_request(
                "invalid_input_reference",
                f"{VENDOR} takes keyframes (input_reference, last_frame) or references "
                "(images, videos, audio, an edit's source), not both.",
                "input_reference",
            )
        if audios and len(references) == len(audios):
            raise bad_request(
                "invalid_parameter",
                f"{VENDOR} reference audio needs a reference image or video beside it.",
                "reference_audios",
            )
        text = {"type": "text", "text": params.prompt}
        items = keyframes or references
        return [text, *(i[0] for i in items)], [text, *(i[1] for i in items)]

    # -- answers -------------------------------------------------------------------------
    def to_video(self, body: Any, task_id: str) -> UpstreamVideo:
        task = self._checked(body).get("task")
        if not isinstance(task, Mapping):
            raise self.bad_response(f"Provider {self.id!r} answered without a task.", body)
        raw_status = str(task.get("status"))
        status = STATUS_MAP.get(raw_status, "in_progress")
        now = int(time.time())
        terminal = status in TERMINAL
        error = None
        if raw_status == "cancelled":
            error = {"code": Failure.CANCELLED, "message": "The task was cancelled at MiniMax."}
        elif status == "failed":
            found = task.get("error")
            failure: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            number = int_or_none(failure.get("code"))
            error = {
                "code": FAILURE_MAP.get(number or 0, Failure.UNKNOWN),
                "message": "MiniMax reported the task as failed: "
                f"{failure.get('message') or 'no reason given'} (code {failure.get('code')}).",
            }
        return UpstreamVideo(
            id=str(task.get("id") or task.get("task_id") or task_id),
            status=status,
            progress=100 if terminal else 0,
            completed_at=now if terminal else None,
            error=error,
            raw=dict(body),
        )

    # -- operations ----------------------------------------------------------------------
    async def _task(self, task_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", self._base(key) + QUERY_PATH + task_id, key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._task(video_id, key, ctx), video_id)

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """`task.content.url`, read fresh (it is time-limited) and fetched without the key."""
        body = await self._task(video_id, key, ctx)
        video = self.to_video(body, video_id)
        if video.status != "completed":
            raise not_ready(self.id, f"MiniMax H3 task {video_id!r} is {video.status}.")
        task = body.get("task") if isinstance(body, Mapping) else None
        found = task.get("content") if isinstance(task, Mapping) else None
        url = found.get("url") if isinstance(found, Mapping) else None
        if not isinstance(url, str) or not url:
            raise self.bad_response(f"MiniMax H3 task {video_id!r} has no video URL.", body)
        return await self.stream_asset(url, "video/mp4", ctx=ctx)
