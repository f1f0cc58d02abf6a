"""`replicate`: Replicate predictions (`api.replicate.com/v1`) for any video model.

A model `owner/name` runs its latest version (`POST /models/{owner}/{name}/predictions`);
`owner/name:<version id>` pins one (`POST /predictions` with `version`). Replicate inputs
are each model's own schema, so the OpenAI fields map onto the common names (`aspect_ratio`
and/or `width`+`height`, `duration`, `image`) through tables that `options` can change,
per model under `options.models.<owner/name>`; `extra` overrides or adds any input.
Images go in as URLs (an upload becomes a data: URL, which Replicate accepts for files).

Predictions have no delete: `POST /predictions/{id}/cancel` stops a running one, and the
API removes a prediction's files an hour after it ends (so `expires_at` is set to that).

Model tables come from the same per-model options (`aspect_ratios`, `durations`, and
`spec` for other `ModelSpec` fields; `providers/hosted.py`): Replicate serves thousands of
community models, so none is built in. The normalised fields (seed, negative_prompt,
generate_audio, resolution, last frame, reference images) go to the input names in the
model's `inputs` table, the usual names by default and the image ones only when named.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import UpstreamKey
from ..errors import GatewayError, UpstreamError, bad_request
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    Prepared,
    Status,
    UpstreamVideo,
)
from .convert import aspect_ratio, iso_to_unix, parse_size
from .hosted import check_aspect, declared_spec, normalised_inputs
from .http import HttpProvider
from .media import display_url, image_url_input, media_type_for
from .params import coerce_extras, configured_input, model_options
from .recovery import pending_while_running
from .specs import ModelSpec

DEFAULT_BASE_URL = "https://api.replicate.com/v1"
# Prediction status -> OpenAI status (replicate.com/docs/topics/predictions/lifecycle).
STATUS_MAP: dict[str, Status] = {
    "starting": "queued",
    "processing": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "canceled": "failed",
    "aborted": "failed",  # deadline passed before it started
}
# Statuses that are themselves the failure reason.
END_REASONS: dict[str, str] = {"canceled": Failure.CANCELLED, "aborted": Failure.EXPIRED}
# A failed prediction's `error` is free text written by each model (no code field), so
# refusals are recognised by wording: Stable Diffusion's safety checker ("NSFW content
# detected"), Seedance/ByteDance models ("flagged as sensitive ... (E005)"), and the usual
# content-policy phrasings. Anything else is `generation_failed`.
FAILURE_MAP: dict[str, str] = {
    r"\bnsfw\b": Failure.MODERATION,
    r"flagged as sensitive|\(E005\)": Failure.MODERATION,
    r"content (policy|filter|moderation)|safety (filter|checker|system)": Failure.MODERATION,
    r"\bmoderat(ed|ion)\b|inappropriate content": Failure.MODERATION,
}
_FAILURE_PATTERNS = [(re.compile(p, re.IGNORECASE), code) for p, code in FAILURE_MAP.items()]
# How the OpenAI `size` becomes inputs; `options.size_as` picks one or more (default aspect).
SIZE_INPUTS: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "aspect_ratio": lambda w, h: {"aspect_ratio": aspect_ratio(w, h)},
    "width_height": lambda w, h: {"width": w, "height": h},
    "resolution": lambda w, h: {"resolution": f"{min(w, h)}p"},
}
DEFAULT_SIZE_AS = ("aspect_ratio",)
DEFAULT_SECONDS_INPUT = "duration"
DEFAULT_IMAGE_INPUT = "image"
# JSON types of common video-model inputs, restored from multipart strings.
EXTRA_KINDS: dict[str, Any] = {
    "seed": int,
    "fps": int,
    "num_frames": int,
    "guidance_scale": float,
    "cfg_scale": float,
    "negative_prompt": str,
    "prompt_optimizer": bool,
    "generate_audio": bool,
    "camera_fixed": bool,
}
# tqdm-style progress line in prediction logs (as replicate-python's `Prediction.Progress`).
PROGRESS_LINE = re.compile(r"^\s*(\d+)%\s*\|.+?\|\s*\d+/\d+")
FILES_KEPT_SECONDS = 3600  # API predictions' files are deleted an hour after they end
MAX_LIST_PAGES = 10  # bound on pages walked to find `after` in a listing


def failure_code(status: str, error: Any) -> str:
    if status in END_REASONS:
        return END_REASONS[status]
    text = str(error or "")
    for pattern, code in _FAILURE_PATTERNS:
        if pattern.search(text):
            return code
    return Failure.UNKNOWN


def video_url(output: Any) -> str | None:
    """The video in a prediction's `output`: a URL, or the first .mp4 (else first URL) of
    a list, or of an object's values."""
    if isinstance(output, str):
        return output if output.startswith(("http://", "https://")) else None
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, list):
        urls = [u for u in output if isinstance(u, str) and u.startswith(("http://", "https://"))]
        for url in urls:
            if urlsplit(url).path.lower().endswith(".mp4"):
                return url
        return urls[0] if urls else None
    return None


class ReplicateProvider(HttpProvider):
    type_name = "replicate"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.CANCEL,
            Capability.IMAGE_INPUT,
        }
    )
    default_poll_after_ms = 3000

    default_base_url = DEFAULT_BASE_URL

    # -- input ----------------------------------------------------------------------------

    def spec(self, model: str) -> ModelSpec | None:
        """The model's catalogue entry, from its options (None: undeclared)."""
        opts = model_options(self.config.options, model.partition(":")[0])
        has_table = "aspect_ratios" in opts or "durations" in opts or "spec" in opts
        return declared_spec({}, opts, model) if has_table else None

    def prepare(self, params: CreateParams) -> Prepared:
        """The prediction body (the model's `input` object inside it); 400 for what the
        configured model does not take."""
        model_name, _, version = params.model.partition(":")
        owner, slash, model = model_name.partition("/")
        if not (owner and slash and model) or "/" in model or (":" in params.model and not version):
            raise bad_request(
                "invalid_model",
                f"Replicate models are 'owner/name' or 'owner/name:<version id>', "
                f"not {params.model!r}.",
                "model",
            )
        opts = model_options(self.config.options, model_name)
        subject = f"Replicate model {params.model!r}"
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        inputs: dict[str, Any] = {"prompt": params.prompt}
        if params.size is None and params.aspect_ratio is not None:
            if "aspect_ratio" not in opts.get("size_as", DEFAULT_SIZE_AS):
                raise bad_request(
                    "unsupported_aspect_ratio",
                    f"{subject} is configured without an aspect_ratio input (size_as).",
                    "aspect_ratio",
                )
            check_aspect(params.aspect_ratio, opts.get("aspect_ratios"), subject)
            inputs["aspect_ratio"] = params.aspect_ratio
        if params.size is not None:
            dims = parse_size(params.size)
            for form in opts.get("size_as", DEFAULT_SIZE_AS):
                if form not in SIZE_INPUTS:
                    raise bad_request(
                        "invalid_provider_option",
                        f"size_as {form!r} is not one of {', '.join(SIZE_INPUTS)}.",
                        "size",
                    )
                if dims is not None:
                    inputs.update(SIZE_INPUTS[form](*dims))
            allowed = opts.get("aspect_ratios")
            ratio = inputs.get("aspect_ratio")
            if (
                allowed is not None
                and ratio not in (None, *allowed)
                and "aspect_ratio" not in extra
            ):
                raise bad_request(
                    "unsupported_size",
                    f"Replicate model {params.model!r} takes aspect ratios "
                    f"{', '.join(allowed)}; size {params.size} is {ratio}.",
                    "size",
                )
        if params.seconds is not None:
            name = configured_input(
                opts.get("seconds_input", DEFAULT_SECONDS_INPUT),
                subject,
                "a duration",
                "unsupported_seconds",
                "seconds",
            )
            allowed = opts.get("durations")
            if allowed is not None and name not in extra and params.seconds not in allowed:
                raise bad_request(
                    "unsupported_seconds",
                    f"Replicate model {params.model!r} takes seconds {', '.join(allowed)}.",
                    "seconds",
                )
            inputs[name] = int(params.seconds)
        ref = params.input_reference
        if ref is not None:
            name = configured_input(
                opts.get("image_input", DEFAULT_IMAGE_INPUT),
                subject,
                "an image",
                "unsupported_input_reference",
                "input_reference",
            )
            inputs[name] = image_url_input(ref, "Replicate")
        inputs.update(normalised_inputs(params, opts.get("inputs", {}), subject, "Replicate"))
        inputs.update(extra)
        shown = {k: display_url(v) if isinstance(v, str) else v for k, v in inputs.items()}
        if version:
            route, body = "/predictions", {"version": version, "input": inputs}
        else:
            route, body = f"/models/{model_name}/predictions", {"input": inputs}
        return Prepared(params, body, {**body, "input": shown}, route, params.size, params.seconds)

    # -- calls ----------------------------------------------------------------------------

    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._base(key) + prepared.route
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        return self.to_video(body)

    async def _prediction(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        return await self.call_api("GET", f"{self._base(key)}/predictions/{video_id}", key, ctx)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._prediction(video_id, key, ctx))

    def to_video(self, body: Any) -> UpstreamVideo:
        body = self.expect_object(body, "answered without a prediction object")
        state = str(body.get("status"))
        status = STATUS_MAP.get(state, "in_progress")
        error: dict[str, str] | None = None
        if status == "failed":
            message = str(body.get("error") or f"The prediction was {state}.")
            error = {"code": failure_code(state, body.get("error")), "message": message}
        elif status == "completed" and video_url(body.get("output")) is None:
            status = "failed"
            error = {"code": Failure.UNKNOWN, "message": "The prediction produced no video."}
        ended = status in TERMINAL
        completed_at = iso_to_unix(body.get("completed_at")) if ended else None
        if ended and completed_at is None:
            completed_at = int(time.time())
        expires_at = None
        if status == "completed" and completed_at is not None:
            expires_at = (
                completed_at if body.get("data_removed") else completed_at + FILES_KEPT_SECONDS
            )
        inputs = body.get("input")
        prompt = inputs.get("prompt") if isinstance(inputs, Mapping) else None
        return UpstreamVideo(
            id=body["id"],
            status=status,
            progress=100 if ended else _progress(body.get("logs")),
            created_at=iso_to_unix(body.get("created_at")) or int(time.time()),
            completed_at=completed_at,
            expires_at=expires_at,
            prompt=prompt if isinstance(prompt, str) else None,
            error=error,
            raw=body,
        )

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        body = await self._prediction(video_id, key, ctx)
        url = video_url(body.get("output")) if isinstance(body, Mapping) else None
        if url is None or (isinstance(body, Mapping) and body.get("data_removed")):
            raise GatewayError(
                404,
                "video_content_unavailable",
                "Replicate has no video for this prediction (files are removed an hour "
                "after it ends).",
                provider=self.id,
            )
        # Output files (replicate.delivery) are public: the token is never sent to them.
        return await self.stream(url, content_type=media_type_for(url, None, "video/mp4"), ctx=ctx)

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        """Cancel the prediction if it is still running. Replicate deletes nothing on
        request (files go an hour after the end), so a prediction that has already ended
        is final, not pending: `deleted=False` and the outbox stops."""
        try:
            _, body, _ = await self.request(
                "POST",
                f"{self._base(key)}/predictions/{video_id}/cancel",
                headers=self._headers(key),
                ctx=ctx,
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone upstream")
            if exc.status not in (400, 409, 422):
                raise
            return await pending_while_running(self, video_id, key, ctx, exc) or self._ended()
        ctx.record(response=body)
        state = body.get("status") if isinstance(body, Mapping) else None
        if state in ("succeeded", "failed", "aborted"):
            return self._ended()
        return DeleteResult(deleted=True, cancelled=True, detail="cancelled upstream")

    @staticmethod
    def _ended() -> DeleteResult:
        return DeleteResult(
            deleted=False, detail="Replicate has no delete; the prediction had already ended"
        )

    # -- errors ---------------------------------------------------------------------------

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """Problem details (RFC 7807): `{"title", "detail", "status"}`, with
        `invalid_fields: [{type, field, description}]` on input validation failures."""
        if isinstance(body, Mapping) and ("detail" in body or "title" in body):
            message = str(body.get("detail") or body.get("title")).strip()
            fields = body.get("invalid_fields")
            first = fields[0] if isinstance(fields, list) and fields else None
            if isinstance(first, Mapping):
                field = first.get("field")
                param = str(field) if field is not None else None
                kind = first.get("type")
                return message, None if kind is None else str(kind), None, param
            return message, None, None, None
        return super().error_message(status, body)


def _progress(logs: Any) -> int:
    """The last tqdm percentage in the logs (0 if the model prints none)."""
    if not isinstance(logs, str):
        return 0
    for line in reversed(logs.splitlines()):
        match = PROGRESS_LINE.match(line)
        if match:
            return min(99, int(match.group(1)))
    return 0


def _cursor(next_url: Any) -> str | None:
    """The `cursor` of Replicate's absolute `next` URL, so the next page is asked of our
    configured base URL (a proxy or mock) rather than the host Replicate named."""
    if not isinstance(next_url, str) or not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("cursor")
    return values[0] if values else None
