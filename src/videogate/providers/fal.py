"""`fal`: fal.ai's queue API (`queue.fal.run`), in front of any fal video app.

The model is the app's endpoint path, e.g. `fal/fal-ai/kling-video/v2/master/text-to-video`.
Submit is `POST /{endpoint}`; status, result and cancel live under the app's *base* path
(`{owner}/{app}`, with a leading `workflows/`/`comfy/` namespace kept, the endpoint subpath
dropped), exactly as fal's own client builds them. So the upstream id we store is
`<app base>|<request_id>` and the public token is the bare request id (URL-path safe).

fal has no job object: a finished request's outcome is its stored response, so a COMPLETED
status is followed by a result fetch, and an error answer there is the job's failure. Input
names differ per app; the common ones are mapped from a table that `options` (per model
under `options.models.<endpoint>`) can rename, and `extra` overrides or adds any field.
There is no thumbnail and no delete: a delete cancels a request that has not finished.

Model tables: `BUILT_IN` holds per-model options for apps whose schemas fal documents (Veo
3.1: fal.ai/models/fal-ai/veo3.1/llms.txt and the veo3.1-lite / reference-to-video API
pages), laid under the deployment's own `options.models.<endpoint>`; the catalogue entry
follows from those options (`providers/hosted.py`), so a deployment declares any other
app the same way. The normalised fields go to the app's inputs by the same table.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

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
from .convert import aspect_ratio, parse_size
from .hosted import check_aspect, declared_spec, normalised_inputs
from .http import HttpProvider
from .media import display_url, image_url_input, media_type_for
from .params import coerce_extras, configured_input, model_options
from .recovery import pending_while_running
from .specs import ModelSpec

DEFAULT_BASE_URL = "https://queue.fal.run"
# First path segments that are namespaces, not owners (fal_client `APP_NAMESPACES`).
APP_NAMESPACES = frozenset({"workflows", "comfy"})
ID_SEPARATOR = "|"

# Queue status -> OpenAI status. fal's clients know only the first three; FAILED/CANCELED
# appear in third-party schemas of the queue API and are mapped so they never poll forever.
STATUS_MAP: dict[str, Status] = {
    "IN_QUEUE": "queued",
    "IN_PROGRESS": "in_progress",
    "COMPLETED": "completed",
    "FAILED": "failed",
    "CANCELED": "failed",
    "CANCELLED": "failed",
}
# A failed result's error type -> canonical failure code. Model errors carry it as
# `detail[i].type` (docs.fal.ai/errors), request errors as `error_type`
# (docs.fal.ai/documentation/model-apis/request-errors).
FAILURE_MAP: dict[str, str] = {
    "content_policy_violation": Failure.MODERATION,
    "client_cancelled": Failure.CANCELLED,
    "client_disconnected": Failure.CANCELLED,
    "request_timeout": Failure.INTERNAL,
    "startup_timeout": Failure.INTERNAL,
    "runner_scheduling_failure": Failure.INTERNAL,
    "runner_connection_timeout": Failure.INTERNAL,
    "runner_disconnected": Failure.INTERNAL,
    "runner_connection_refused": Failure.INTERNAL,
    "runner_connection_error": Failure.INTERNAL,
    "runner_incomplete_response": Failure.INTERNAL,
    "runner_server_error": Failure.INTERNAL,
    "internal_error": Failure.INTERNAL,
    "internal_server_error": Failure.INTERNAL,
    "generation_timeout": Failure.INTERNAL,
    "downstream_service_error": Failure.INTERNAL,
    "downstream_service_unavailable": Failure.INTERNAL,
    "bad_request": Failure.INVALID,
}
# When the error names no known type: by the result's HTTP status (499 = client cancelled).
FAILURE_BY_STATUS: dict[int, str] = {
    400: Failure.INVALID,
    422: Failure.INVALID,
    499: Failure.CANCELLED,
}
# Result answers that are about our call, not the job's outcome: these are raised instead.
NOT_AN_OUTCOME = frozenset({401, 403, 404, 408, 429})

# OpenAI field -> the input name most fal video apps use (Kling, Hailuo, Wan, Luma, Veo...).
# Override per app with `options.models.<endpoint>.inputs`; a None name means "not taken".
DEFAULT_INPUTS: dict[str, str | None] = {
    "size": "aspect_ratio",
    "seconds": "duration",
    "image": "image_url",
}
DEFAULT_ASPECT_RATIOS = ("16:9", "9:16", "1:1")
DEFAULT_DURATIONS = ("5", "10")
DEFAULT_DURATION_FORMAT = "{}"  # Veo-style apps want "{}s" ("8s")
# JSON types of common fal video-app parameters, restored from multipart strings.
EXTRA_KINDS: dict[str, Any] = {
    "seed": int,
    "cfg_scale": float,
    "guidance_scale": float,
    "num_inference_steps": int,
    "negative_prompt": str,
    "enable_safety_checker": bool,
    "enable_prompt_expansion": bool,
    "prompt_optimizer": bool,
    "generate_audio": bool,
}
_VEO31: dict[str, Any] = {
    "aspect_ratios": ["16:9", "9:16"],
    "durations": ["4", "6", "8"],
    "duration_format": "{}s",
    "spec": {
        "resolutions": ["720p", "1080p", "4k"],
        "audio": True,
        "audio_default": True,
        "negative_prompt": True,
        "seed": True,
        "image_input": False,
        "last_frame": False,
        "max_reference_images": 0,
    },
}
_VEO31_I2V: dict[str, Any] = {
    **_VEO31,
    "aspect_ratios": ["auto", "16:9", "9:16"],
    "spec": {**_VEO31["spec"], "image_input": True},
}
_VEO31_LITE: dict[str, Any] = {
    **_VEO31,
    "spec": {**_VEO31["spec"], "resolutions": ["720p", "1080p"]},
}
# Per-model options for apps whose input schema fal documents (its API pages); a
# deployment's `options.models.<endpoint>` is laid over these.
BUILT_IN: dict[str, dict[str, Any]] = {
    "fal-ai/veo3.1": _VEO31,
    "fal-ai/veo3.1/image-to-video": _VEO31_I2V,
    "fal-ai/veo3.1/lite": _VEO31_LITE,
}
# Result keys that hold the video file, in order of preference.
OUTPUT_KEYS = ("video", "videos")


def app_base(endpoint: str) -> str | None:
    """`fal-ai/kling-video/v2/master/text-to-video` -> `fal-ai/kling-video` (None if the
    endpoint has no owner/app). Mirrors fal_client's `AppId.from_endpoint_id`."""
    parts = endpoint.strip("/").split("/")
    size = 3 if parts[0] in APP_NAMESPACES else 2
    if len(parts) < size or not all(parts[:size]):
        return None
    return "/".join(parts[:size])


class FalProvider(HttpProvider):
    type_name = "fal"
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

    def options_for(self, model: str) -> dict[str, Any]:
        """`BUILT_IN`'s options for the app under the deployment's own (provider-wide, then
        per model); `inputs` renamings merge instead of replacing."""
        builtin = BUILT_IN.get(model.strip("/"), {})
        mine = model_options(self.config.options, model)
        inputs = {**builtin.get("inputs", {}), **mine.get("inputs", {})}
        return {**builtin, **mine, "inputs": inputs}

    def spec(self, model: str) -> ModelSpec | None:
        """The app's catalogue entry, derived from its options (None: undeclared)."""
        opts = self.options_for(model)
        has_table = "aspect_ratios" in opts or "durations" in opts or "spec" in opts
        return declared_spec({}, opts, model) if has_table else None

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        return {"Authorization": f"Key {key.value}", "Accept": "application/json"}

    def public_token(self, upstream_id: str) -> str:
        return upstream_id.rpartition(ID_SEPARATOR)[2]

    def _request_url(self, video_id: str, key: UpstreamKey) -> str:
        app, sep, request_id = video_id.rpartition(ID_SEPARATOR)
        if not sep or not app or not request_id:
            raise GatewayError(
                404,
                "video_not_found",
                f"{video_id!r} is not a fal request id.",
                param="video_id",
                provider=self.id,
            )
        return f"{self._base(key)}/{app}/requests/{request_id}"

    # -- input ----------------------------------------------------------------------------

    def prepare(self, params: CreateParams) -> Prepared:
        """The app's input JSON; raises 400 for what the configured app does not take."""
        if app_base(params.model) is None:
            raise bad_request(
                "invalid_model",
                f"fal models are app endpoint paths such as "
                f"'fal-ai/kling-video/v2/master/text-to-video', not {params.model!r}.",
                "model",
            )
        opts = self.options_for(params.model)
        names = {**DEFAULT_INPUTS, **opts.get("inputs", {})}
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        payload: dict[str, Any] = {"prompt": params.prompt}
        subject = f"fal app {params.model!r}"
        if params.size is None and params.aspect_ratio is not None:
            name = self._input_name(names, "size", params.model, param="aspect_ratio")
            check_aspect(
                params.aspect_ratio, opts.get("aspect_ratios", DEFAULT_ASPECT_RATIOS), subject
            )
            payload[name] = params.aspect_ratio
        if params.size is not None:
            name = self._input_name(names, "size", params.model)
            dims = parse_size(params.size)
            if name not in extra and dims is not None:
                ratio = aspect_ratio(*dims)
                allowed = opts.get("aspect_ratios", DEFAULT_ASPECT_RATIOS)
                if allowed is not None and ratio not in allowed:
                    raise bad_request(
                        "unsupported_size",
                        f"fal app {params.model!r} takes aspect ratios {', '.join(allowed)}; "
                        f"size {params.size} is {ratio} (e.g. 1280x720 is 16:9).",
                        "size",
                    )
                payload[name] = ratio
        if params.seconds is not None:
            name = self._input_name(names, "seconds", params.model)
            if name not in extra:
                allowed = opts.get("durations", DEFAULT_DURATIONS)
                if allowed is not None and params.seconds not in allowed:
                    raise bad_request(
                        "unsupported_seconds",
                        f"fal app {params.model!r} takes seconds {', '.join(allowed)}.",
                        "seconds",
                    )
                fmt = str(opts.get("duration_format", DEFAULT_DURATION_FORMAT))
                payload[name] = fmt.format(params.seconds)
        ref = params.input_reference
        if ref is not None:
            name = self._input_name(names, "image", params.model, param="input_reference")
            payload[name] = image_url_input(ref, "fal")
        payload.update(normalised_inputs(params, names, subject, "fal"))
        payload.update(extra)
        shown = {k: display_url(v) if isinstance(v, str) else v for k, v in payload.items()}
        endpoint = params.model.strip("/")
        return Prepared(params, payload, shown, endpoint, size=params.size, seconds=params.seconds)

    @staticmethod
    def _input_name(
        names: Mapping[str, str | None], field: str, model: str, *, param: str | None = None
    ) -> str:
        subject = f"fal app {model!r}"
        code = f"unsupported_{field}"
        return configured_input(names.get(field), subject, f"a {field}", code, param or field)

    # -- calls ----------------------------------------------------------------------------

    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = f"{self._base(key)}/{prepared.route}"
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
        request_id = body.get("request_id") if isinstance(body, Mapping) else None
        if not isinstance(request_id, str) or not request_id:
            raise self._bad_response("a request_id", body)
        video_id = f"{app_base(prepared.route)}{ID_SEPARATOR}{request_id}"
        return prepared.accepted(video_id, body)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = self._request_url(video_id, key)
        _, body, _ = await self.request("GET", f"{url}/status", headers=self._headers(key), ctx=ctx)
        if not isinstance(body, Mapping) or not isinstance(body.get("status"), str):
            raise self._bad_response("a queue status", body)
        status = STATUS_MAP.get(body["status"], "in_progress")
        if status == "failed":
            ctx.record(response=body)
            code = FAILURE_MAP.get(str(body.get("error_type")), Failure.UNKNOWN)
            message = str(body.get("error") or body.get("detail") or body["status"])
            return self._video(video_id, "failed", body, {"code": code, "message": message})
        if status != "completed":
            ctx.record(response=body)
            return self._video(video_id, status, body)
        result, failure = await self._result(url, key)
        ctx.record(response={"status": body, "result": result})
        if failure is None and self._video_file(result) is None:
            failure = {"code": Failure.UNKNOWN, "message": "fal finished without a video."}
        return self._video(
            video_id,
            "failed" if failure else "completed",
            {"status": body, "result": result},
            failure,
        )

    async def _result(self, url: str, key: UpstreamKey) -> tuple[Any, dict[str, str] | None]:
        """The stored response of a COMPLETED request, or (error body, failure) when the
        request ended in an error. fal answers a failed request's result with the app's
        error status and `{"detail": ...}`; answers about our call itself are raised."""
        try:
            _, body, _ = await self.request("GET", url, headers=self._headers(key))
        except UpstreamError as exc:
            if not self._is_outcome(exc):
                raise
            return exc.raw_response, self._failure(exc.status, exc.raw_response, exc.message)
        return body, None

    @staticmethod
    def _is_outcome(exc: UpstreamError) -> bool:
        """A result error that is the job's own: fal's JSON error bodies, not an ingress
        page or a transient 5xx without a typed error."""
        body = exc.raw_response
        if exc.status in NOT_AN_OUTCOME or not isinstance(body, Mapping):
            return False
        if exc.status < 500:
            return "detail" in body or "error_type" in body
        return isinstance(body.get("detail"), list) or isinstance(body.get("error_type"), str)

    @staticmethod
    def _failure(status: int, body: Any, message: str) -> dict[str, str]:
        kinds: list[str] = []
        if isinstance(body, Mapping):
            detail = body.get("detail")
            if isinstance(detail, list):
                kinds = [str(d.get("type")) for d in detail if isinstance(d, Mapping)]
            if isinstance(body.get("error_type"), str):
                kinds.append(body["error_type"])
        for kind in kinds:
            if kind in FAILURE_MAP:
                return {"code": FAILURE_MAP[kind], "message": message}
        fallback = Failure.INTERNAL if status >= 500 else Failure.UNKNOWN
        return {"code": FAILURE_BY_STATUS.get(status, fallback), "message": message}

    def _video(
        self,
        video_id: str,
        status: Status,
        raw: Any,
        error: dict[str, str] | None = None,
    ) -> UpstreamVideo:
        ended = status in TERMINAL
        return UpstreamVideo(
            id=video_id,
            status=status,
            progress=100 if ended else 0,
            completed_at=int(time.time()) if ended else None,
            error=error,
            raw=raw,
        )

    @staticmethod
    def _video_file(result: Any) -> Mapping[str, Any] | None:
        """The `File` object ({url, content_type, ...}) of the result's video."""
        if not isinstance(result, Mapping):
            return None
        for name in OUTPUT_KEYS:
            value = result.get(name)
            if isinstance(value, list) and value:
                value = value[0]
            if isinstance(value, Mapping) and isinstance(value.get("url"), str):
                return value
        return None

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        url = self._request_url(video_id, key)
        result, failure = await self._result(url, key)
        ctx.record(response=result)
        file = self._video_file(result) if failure is None else None
        if file is None:
            raise GatewayError(
                404,
                "video_content_unavailable",
                f"fal has no video for this request ({(failure or {}).get('message', 'none')}).",
                provider=self.id,
            )
        # fal media URLs (fal.media CDN) are public: the key is never sent to them.
        return await self.stream(
            file["url"],
            content_type=media_type_for(file["url"], file.get("content_type"), "video/mp4"),
            ctx=ctx,
        )

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        """Cancel the request if it has not ended. fal keeps no deletable job: once it has
        ended there is nothing upstream to remove, which is final (not pending), so the
        outbox stops; `deleted=False` says that nothing was deleted."""
        url = self._request_url(video_id, key)
        try:
            _, body, _ = await self.request(
                "PUT", f"{url}/cancel", headers=self._headers(key), expect_json=False, ctx=ctx
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone upstream")
            if exc.status not in (400, 409):
                raise
            if exc.code != "already_completed":
                pending = await pending_while_running(self, video_id, key, ctx, exc)
                if pending is not None:
                    return pending
            return DeleteResult(
                deleted=False, detail="fal has no delete; the request had already ended"
            )
        ctx.record(response=body)
        return DeleteResult(deleted=True, cancelled=True, detail="cancelled upstream")

    # -- errors ---------------------------------------------------------------------------

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """fal errors: `{"detail": "text", "error_type"?}`, `{"detail": [{loc, msg, type}]}`
        (pydantic-style model errors) or, from cancel, `{"status": "ALREADY_COMPLETED"}`."""
        if isinstance(body, Mapping):
            detail = body.get("detail")
            if isinstance(detail, list) and detail:
                items = [d for d in detail if isinstance(d, Mapping)]
                message = "; ".join(_describe(d) for d in items) or str(detail)
                first = items[0] if items else {}
                loc = first.get("loc")
                param = str(loc[-1]) if isinstance(loc, list) and len(loc) > 1 else None
                kind = first.get("type")
                return message, None if kind is None else str(kind), None, param
            if isinstance(detail, str):
                kind = body.get("error_type")
                return detail, None if kind is None else str(kind), None, None
            if isinstance(body.get("status"), str) and len(body) == 1:
                state = body["status"]
                return f"fal answered {state}.", state.lower(), None, None
        return super().error_message(status, body)

    def _bad_response(self, expected: str, body: Any) -> UpstreamError:
        return self.bad_response(f"Provider {self.id!r} answered without {expected}.", body)


def _describe(item: Mapping[str, Any]) -> str:
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc[1:]) if isinstance(loc, list) and len(loc) > 1 else ""
    message = str(item.get("msg") or item.get("type") or "invalid")
    return f"{where}: {message}" if where else message
