"""`kling`: Kling AI video generation (`api-singapore.klingai.com`; legacy `api.klingai.com`).

Wire format (Kling API reference "General Information" and "Text/Image to Video", the
vercel/ai `@ai-sdk/klingai` client): `POST /v1/videos/text2video|image2video`
`{"model_name","prompt","negative_prompt","cfg_scale","mode","aspect_ratio","duration",
"sound","image_tail",...}`
-> `{"code":0,"message","request_id","data":{"task_id","task_status",...}}`; a task is read
back from the endpoint that created it, `GET /v1/videos/<endpoint>/<task_id>`, so the
upstream id stored is `<endpoint>/<task_id>` (`public_token` makes it path safe).

Auth is a short-lived HS256 JWT (`iss` = access key, `exp` = now+30 min, `nbf` = now-5 s)
signed with the secret key and cached until close to expiry. A key is configured either as
`value: <secret key>` with `extra: {access_key: <access key>}`, or as
`value: "<access key>:<secret key>"`. Errors carry a numeric `code` with a 4xx (or inside a
200); `ERRORS` maps both. Kling has no delete/cancel, thumbnail, or OpenAI-style remix.
Its `POST /v1/videos/video-extend {"video_id","prompt","negative_prompt","cfg_scale"}`
continues a finished clip by 4-5 s (Capability.EXTEND): the gateway's source is the earlier
job's upstream id, whose `task_result.videos[0].id` is read just before the call. The
normalised fields map to `negative_prompt`, `sound` (generate_audio, kling-v2-6 and v3),
`aspect_ratio`, `mode` (resolution 720p std, 1080p pro) and `image_tail` (last_frame).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

import jwt

from ..config import ConfigError, ProviderConfig, UpstreamKey
from ..errors import UpstreamError, bad_request
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
from .convert import aspect_ratio, int_or_none, parse_size
from .failures import CodedError, coded_error, describe_code
from .http import HttpProvider, bearer
from .media import ImageRules, ReferenceImage, check_image, decode_data_url, reference_image
from .params import check_prompt_length, coerce_extras, refuse_reserved
from .specs import ModelSpec

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
VENDOR = "Kling"
TEXT, IMAGE, EXTEND = "text2video", "image2video", "video-extend"
ENDPOINTS = (TEXT, IMAGE, EXTEND)
MAX_PROMPT = 2500
TOKEN_TTL_SECONDS = 1800  # Kling's own example signs tokens for 30 minutes
TOKEN_NBF_SKEW = 5  # ... valid from 5 s ago, for clock drift
TOKEN_REFRESH_MARGIN = 300  # mint a new one when less than this is left
RETENTION_SECONDS = 30 * 86400  # "generated images/videos will be cleared after 30 days"

STATUS_MAP: dict[str, Status] = {
    "submitted": "queued",
    "processing": "in_progress",
    "succeed": "completed",
    "failed": "failed",
}
# Service code -> HTTP status and `error.code`, as in Kling's "Error Code" table; the HTTP
# status is used when the code arrives inside a 200, the real one when it came with a 4xx.
ERRORS: dict[int, CodedError] = {
    1000: CodedError(401, "authentication_failed"),
    1001: CodedError(401, "authorization_missing"),
    1002: CodedError(401, "authorization_invalid"),
    1003: CodedError(401, "authorization_not_yet_valid"),
    1004: CodedError(401, "authorization_expired"),
    1100: CodedError(429, "account_exception"),
    1101: CodedError(429, "account_in_arrears"),
    1102: CodedError(429, "resource_pack_exhausted"),
    1103: CodedError(403, "permission_denied"),
    1200: CodedError(400, "invalid_request"),
    1201: CodedError(400, "invalid_parameter"),
    1202: CodedError(404, "invalid_method"),
    1203: CodedError(404, "resource_not_found"),
    1300: CodedError(400, "policy_triggered"),
    1301: CodedError(400, "moderation_blocked"),
    1302: CodedError(429, "rate_limit_exceeded"),
    1303: CodedError(429, "concurrency_limit_exceeded"),
    1304: CodedError(429, "ip_not_allowed"),
    5000: CodedError(500, "upstream_internal_error"),
    5001: CodedError(503, "upstream_unavailable"),
    5002: CodedError(504, "upstream_timeout"),
}
# Codes a task query answers for an id Kling does not know (the id is its only parameter;
# 1201 "Task not found" observed on the live API by a third party): the job is gone.
NOT_FOUND_CODES = frozenset({1201, 1203})
# A failed task has only free text (`task_status_msg`); phrases -> canonical failure code,
# first match wins. Kling documents "triggering the content risk control" as a reason.
FAILURE_MAP: dict[str, str] = {
    "risk control": Failure.MODERATION,
    "content security": Failure.MODERATION,
    "sensitive": Failure.MODERATION,
    "inappropriate": Failure.MODERATION,
    "policy": Failure.MODERATION,
    "violat": Failure.MODERATION,
    "timeout": Failure.INTERNAL,
    "timed out": Failure.INTERNAL,
    "internal": Failure.INTERNAL,
    "system error": Failure.INTERNAL,
    "parameter": Failure.INVALID,
    "invalid": Failure.INVALID,
}
# OpenAI size -> Kling (aspect_ratio, mode): std renders 720p, pro 1080p.
MODE_BY_SHORT_EDGE: dict[int, str] = {720: "std", 1080: "pro"}
SHORT_EDGE_BY_MODE: dict[str, int] = {v: k for k, v in MODE_BY_SHORT_EDGE.items()}
ASPECT_RATIOS: dict[str, tuple[int, int]] = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}
EXTRA_KINDS: dict[str, Any] = {
    "negative_prompt": str,
    "cfg_scale": float,
    "mode": str,
    "aspect_ratio": str,
    "duration": int,
    "sound": str,
    "external_task_id": str,
    "callback_url": str,
    "image_tail": str,
    "camera_control": dict,
    "watermark_info": dict,
    "static_mask": str,
    "dynamic_masks": list,
}
RESERVED = ("model_name", "prompt", "image")  # set by the gateway's own fields
CHOICES: dict[str, tuple[str, ...]] = {"mode": ("std", "pro"), "sound": ("on", "off")}
SOUND: dict[bool, str] = {True: "on", False: "off"}  # generate_audio -> `sound`
# image / image_tail: JPG/JPEG/PNG up to 10 MB, sides >= 300 px, ratio 1:2.5-2.5:1.
IMAGE_RULES = ImageRules(
    label="Kling",
    types=frozenset({"image/jpeg", "image/png"}),
    max_bytes=10 * 1024 * 1024,
    min_side=300,
    max_ratio=2.5,
)


_CLASSIC = (5, 10)
SIZES = ("1280x720", "720x1280", "720x720", "1920x1080", "1080x1920", "1080x1080")
RESOLUTION_MODES: dict[str, str] = {"720p": "std", "1080p": "pro"}
# video-extend (Kling API reference, "Video Extension"): 4-5 s more per extension, the
# model and mode are the source's, a video extended again stays within 3 minutes, and only
# videos of kling-v1, v1.5 and v1.6 can be extended.
EXTEND_SECONDS = 5
MAX_EXTENDED_SECONDS = 180


def _spec(
    seconds: tuple[int, ...] = _CLASSIC,
    *,
    audio: bool = False,
    last_frame: bool = False,
    extend: bool = False,
) -> ModelSpec:
    return ModelSpec(
        operations=frozenset({"create", "extend"} if extend else {"create"}),
        seconds=seconds,
        sizes=SIZES,
        resolutions=tuple(RESOLUTION_MODES),
        aspect_ratios=tuple(ASPECT_RATIOS),
        audio=audio,
        image_input=True,
        last_frame=last_frame,
        max_extend_seconds=EXTEND_SECONDS if extend else None,
        negative_prompt=True,
    )


# model_name enums of both endpoints and the capability map's durations (v3: 3-15 s).
# `sound` (on|off) exists from kling-v2-6 on; `image_tail` (the last frame) on the models
# whose capability map lists it *(inferred per model; Kling decides per mode)*. Unlisted
# models pass through unchecked, so new ones work before this table knows them.
MODELS: dict[str, ModelSpec] = {
    "kling-v1": _spec(extend=True),
    "kling-v1-5": _spec(last_frame=True, extend=True),
    "kling-v1-6": _spec(last_frame=True, extend=True),
    "kling-v2-master": _spec(),
    "kling-v2-1": _spec(last_frame=True),
    "kling-v2-1-master": _spec(),
    "kling-v2-5-turbo": _spec(last_frame=True),
    "kling-v2-6": _spec(audio=True, last_frame=True),
    "kling-v3": _spec(tuple(range(3, 16)), audio=True, last_frame=True),
}
IMAGE_ONLY = frozenset({"kling-v1-5", "kling-v2-1"})  # not offered on text2video


def credentials(key: UpstreamKey) -> tuple[str, str]:
    """(access key, secret key) from `extra.access_key` + `value`, or `value` = "AK:SK"."""
    access = key.extra.get("access_key")
    if access:
        secret = key.value
    else:
        access, _, secret = key.value.partition(":")
    if not access or not secret:
        raise ConfigError(
            f"Kling key {key.name!r} needs an access key and a secret key: set "
            "extra.access_key and value to the secret, or value to 'ACCESS_KEY:SECRET_KEY'."
        )
    return str(access), secret


FIND_PAGE_SIZE = 100  # tasks read when looking for a create whose answer was lost


class KlingProvider(HttpProvider):
    type_name = "kling"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.IMAGE_INPUT,
            Capability.EXTEND,
            Capability.AUDIO,
        }
    )
    default_poll_after_ms = 5000
    default_base_url = DEFAULT_BASE_URL
    finds_created = True  # by external_task_id
    models: ClassVar[dict[str, ModelSpec]] = MODELS

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        for key in config.keys:
            credentials(key)  # a half-configured key fails at start-up, not mid-request
        self.token_ttl = int(config.options.get("token_ttl_seconds", TOKEN_TTL_SECONDS))
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def public_token(self, upstream_id: str) -> str:
        """`text2video/<task>` -> `text2video-<task>`: unique (fixed prefixes) and path safe."""
        return upstream_id.replace("/", "-", 1)

    def token(self, key: UpstreamKey) -> str:
        """A signed API token for `key`, reused until less than TOKEN_REFRESH_MARGIN is left."""
        access, secret = credentials(key)
        now = time.time()
        cached = self._tokens.get((access, secret))
        if cached is not None and cached[1] - now > min(TOKEN_REFRESH_MARGIN, self.token_ttl / 2):
            return cached[0]
        expires = int(now) + self.token_ttl
        claims = {"iss": access, "exp": expires, "nbf": int(now) - TOKEN_NBF_SKEW}
        token = jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})
        self._tokens[(access, secret)] = (token, float(expires))
        return token

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        return bearer(self.token(key))

    # -- request building ---------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """Map and check a create; every rejection here costs no upstream call."""
        check_prompt_length(params.prompt, MAX_PROMPT, VENDOR)
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, RESERVED)
        self._normalised(params, extra)
        self._check_extras(extra)
        if params.operation is Operation.EXTEND:
            return self._prepare_extend(params, extra)
        image = None
        if params.input_reference is not None:
            image = reference_image(params.input_reference, IMAGE_RULES)
        tail = extra.pop("image_tail", None)
        endpoint = IMAGE if image is not None or tail is not None else TEXT
        aspect, mode = self._shape(params.size, extra.pop("aspect_ratio", None), extra)
        seconds = self._seconds(params, extra.pop("duration", None), endpoint)
        payload: dict[str, Any] = {
            "model_name": params.model,
            "prompt": params.prompt,
            "duration": str(seconds),
            "mode": mode,
        }
        shown = dict(payload)
        if endpoint == TEXT:  # image2video takes the image's shape; size only picks the mode
            payload["aspect_ratio"] = shown["aspect_ratio"] = aspect
        if image is not None:
            payload["image"] = image.url or image.base64()
            shown["image"] = image.describe()
        if tail is not None:
            found = tail if isinstance(tail, ReferenceImage) else _raw_image(tail, "image_tail")
            payload["image_tail"] = found.url or found.base64()
            shown["image_tail"] = found.describe()
        payload.update(extra)
        shown.update(extra)
        if params.reference and "external_task_id" not in payload:
            # Kling's client task id: a create whose answer was lost can be found by it
            payload["external_task_id"] = shown["external_task_id"] = params.reference
        size = params.size or (_size(aspect, mode) if endpoint == TEXT else None)
        return Prepared(params, payload, shown, endpoint, size=size, seconds=str(seconds))

    @staticmethod
    def _normalised(params: CreateParams, extra: dict[str, Any]) -> None:
        """Fold the normalised fields into Kling's own names in `extra`; the same setting
        given both ways is refused."""
        mapped: dict[str, Any] = {
            "negative_prompt": params.negative_prompt,
            "sound": None if params.generate_audio is None else SOUND[params.generate_audio],
            "aspect_ratio": params.aspect_ratio,
            "mode": RESOLUTION_MODES.get(params.resolution or ""),
            "image_tail": (
                reference_image(params.last_frame, IMAGE_RULES, "last_frame")
                if params.last_frame is not None
                else None
            ),
        }
        if params.resolution and params.resolution not in RESOLUTION_MODES:
            raise bad_request(
                "invalid_resolution",
                f"Kling renders 720p (std) or 1080p (pro), not {params.resolution}.",
                "resolution",
            )
        for name, value in mapped.items():
            if value is None:
                continue
            if name in extra and extra[name] != value:
                raise bad_request(
                    "invalid_parameter",
                    f"{name} is set twice, with different values ({extra[name]!r}, {value!r}).",
                    name,
                )
            extra[name] = value

    def _prepare_extend(self, params: CreateParams, extra: dict[str, Any]) -> Prepared:
        """`/v1/videos/video-extend`: the source's model and mode, 4-5 s more; its
        `video_id` is read from the source task in `create`."""
        source = params.source
        if source is None or not source.upstream_id:
            raise bad_request(
                "invalid_source",
                "Kling extends only a video it generated: give the source Kling job.",
                "source",
            )
        endpoint, _, task_id = source.upstream_id.partition("/")
        if endpoint not in ENDPOINTS or not task_id:
            raise bad_request(
                "invalid_source", f"{source.upstream_id!r} is not a Kling task.", "source"
            )
        allowed = {"negative_prompt", "cfg_scale", "callback_url"}
        fixed = sorted(set(extra) - allowed)
        if fixed or params.input_reference is not None:
            name = fixed[0] if fixed else "input_reference"
            raise bad_request(
                "invalid_parameter",
                f"A Kling extension keeps the source's model, mode and shape; {name} cannot "
                f"be set (it takes prompt, {', '.join(sorted(allowed))}).",
                name,
            )
        if params.seconds and float(params.seconds) not in (4, EXTEND_SECONDS):
            raise bad_request(
                "invalid_seconds",
                f"Kling extends a video by 4 to 5 seconds, not {params.seconds}.",
                "seconds",
            )
        total = (source.seconds or 0) + EXTEND_SECONDS
        if total > MAX_EXTENDED_SECONDS:
            raise bad_request(
                "invalid_seconds",
                f"Kling extends videos up to {MAX_EXTENDED_SECONDS} seconds in all; this one "
                f"would be about {total:g}.",
                "seconds",
            )
        payload: dict[str, Any] = {**extra}
        if params.prompt:
            payload["prompt"] = params.prompt
        return Prepared(
            params,
            payload,
            dict(payload),
            EXTEND,
            size=source.size,
            seconds=str(EXTEND_SECONDS),
        )

    @staticmethod
    def _check_extras(extra: dict[str, Any]) -> None:
        for name, allowed in CHOICES.items():
            if name in extra and extra[name] not in allowed:
                raise bad_request(
                    "invalid_parameter",
                    f"{name} must be one of {', '.join(allowed)}, not {extra[name]!r}.",
                    name,
                )
        cfg = extra.get("cfg_scale")
        if cfg is not None and not 0 <= cfg <= 1:
            raise bad_request(
                "invalid_parameter", f"cfg_scale must be from 0 to 1, not {cfg}.", "cfg_scale"
            )
        if len(extra.get("negative_prompt") or "") > MAX_PROMPT:
            raise bad_request(
                "invalid_parameter",
                f"negative_prompt is at most {MAX_PROMPT} characters.",
                "negative_prompt",
            )

    @staticmethod
    def _shape(size: str | None, aspect: str | None, extra: dict[str, Any]) -> tuple[str, str]:
        """(aspect_ratio, mode) from OpenAI's size and/or explicit Kling parameters."""
        mode = extra.pop("mode", None)
        if aspect is not None and aspect not in ASPECT_RATIOS:
            raise bad_request(
                "invalid_parameter",
                f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}, not {aspect!r}.",
                "aspect_ratio",
            )
        if size is not None:
            dims = parse_size(size)
            size_aspect = aspect_ratio(*dims) if dims else None
            size_mode = MODE_BY_SHORT_EDGE.get(min(dims)) if dims else None
            if size_aspect not in ASPECT_RATIOS or size_mode is None:
                sizes = ", ".join(_size(a, m) for m in SHORT_EDGE_BY_MODE for a in ASPECT_RATIOS)
                raise bad_request(
                    "invalid_size",
                    f"size {size!r} is not supported by Kling; use one of {sizes} "
                    "(720p renders in std mode, 1080p in pro).",
                    "size",
                )
            for name, given, derived in (
                ("aspect_ratio", aspect, size_aspect),
                ("mode", mode, size_mode),
            ):
                if given is not None and given != derived:
                    raise bad_request(
                        "invalid_parameter",
                        f"{name} {given!r} contradicts size {size!r} ({derived}).",
                        name,
                    )
            aspect, mode = size_aspect, size_mode
        return aspect or "16:9", mode or "std"

    @staticmethod
    def _seconds(params: CreateParams, explicit: int | None, endpoint: str) -> int:
        if params.seconds is not None and explicit is not None and int(params.seconds) != explicit:
            raise bad_request(
                "invalid_parameter",
                f"duration {explicit} contradicts seconds {params.seconds!r}.",
                "duration",
            )
        seconds = int(params.seconds) if params.seconds is not None else explicit
        rule = MODELS.get(params.model)
        if rule is None:
            return seconds if seconds is not None else 5
        if endpoint == TEXT and params.model in IMAGE_ONLY:
            raise bad_request(
                "missing_input_reference",
                f"{params.model} is image-to-video only on Kling: send an input_reference.",
                "input_reference",
            )
        seconds = rule.seconds[0] if seconds is None else seconds
        if seconds not in rule.seconds:
            allowed = ", ".join(map(str, rule.seconds))
            raise bad_request(
                "invalid_seconds",
                f"{params.model} renders {allowed} seconds, not {seconds}.",
                "seconds",
            )
        return seconds

    # -- answers -------------------------------------------------------------------------
    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """`{"code": 1002, "message": "...", "request_id": "..."}` -> our code and message."""
        number = int_or_none(body.get("code")) if isinstance(body, Mapping) else None
        if number is not None and isinstance(body, Mapping):
            text, code = describe_code(VENDOR, number, str(body.get("message") or ""), ERRORS)
            return text, code, None, None
        return super().error_message(status, body)

    def _data(self, body: Any) -> Mapping[str, Any]:
        """`data` of a successful answer; a code other than 0 in a 200 is an error."""
        body = self.expect_object(body, "answered without a JSON object", id_field=None)
        number = int_or_none(body.get("code"))
        if number:
            message = str(body.get("message") or "")
            raise coded_error(self.id, VENDOR, number, message, ERRORS, body)
        data = body.get("data")
        if not isinstance(data, Mapping) or not data.get("task_id"):
            raise self._bad(body, "answered without a task")
        return data

    def _bad(self, body: Any, what: str) -> UpstreamError:
        return self.bad_response(f"Provider {self.id!r} {what}.", body)

    def _video(self, data: Mapping[str, Any], endpoint: str) -> UpstreamVideo:
        raw_status = str(data.get("task_status"))
        status = STATUS_MAP.get(raw_status, "in_progress")
        created = int_or_none(data.get("created_at"))
        updated = int_or_none(data.get("updated_at"))
        completed = updated // 1000 if status in TERMINAL and updated else None
        error = None
        if status == "failed":
            message = str(data.get("task_status_msg") or "no reason given")
            lowered = message.lower()
            code = next((c for k, c in FAILURE_MAP.items() if k in lowered), Failure.UNKNOWN)
            error = {"code": code, "message": f"Kling reported the task as failed: {message}"}
        return UpstreamVideo(
            id=f"{endpoint}/{data['task_id']}",
            status=status,
            progress=100 if status in TERMINAL else 0,
            created_at=created // 1000 if created else int(time.time()),
            completed_at=completed,
            expires_at=completed + RETENTION_SECONDS
            if completed and status == "completed"
            else None,
            error=error,
            raw=dict(data),
        )

    # -- operations ----------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        url = f"{self._base(key)}/v1/videos/{prepared.route}"
        payload, shown = prepared.body, prepared.shown
        if prepared.route == EXTEND and prepared.params.source is not None:
            video_id = await self._video_id(str(prepared.params.source.upstream_id), key)
            payload, shown = {**payload, "video_id": video_id}, {**shown, "video_id": video_id}
        body = await self.call_api("POST", url, key, ctx, json=payload, shown=shown)
        video = self._video(self._data(body), prepared.route)
        video.model, video.prompt = prepared.params.model, prepared.params.prompt
        video.size, video.seconds = prepared.size, prepared.seconds
        return video

    async def _query(
        self, video_id: str, key: UpstreamKey, ctx: CallContext
    ) -> tuple[UpstreamVideo, Mapping[str, Any]]:
        endpoint, _, task_id = video_id.partition("/")
        if endpoint not in ENDPOINTS or not task_id:
            raise UpstreamError(
                404, f"{video_id!r} is not a Kling task id.", code="video_not_found"
            )
        try:
            url = f"{self._base(key)}/v1/videos/{endpoint}/{task_id}"
            body = await self.call_api("GET", url, key, ctx)
        except UpstreamError as exc:
            raw = exc.raw_response
            number = int_or_none(raw.get("code")) if isinstance(raw, Mapping) else None
            if number in NOT_FOUND_CODES:
                exc.status = 404
            raise
        data = self._data(body)
        return self._video(data, endpoint), data

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        video, _ = await self._query(video_id, key, ctx)
        return video

    async def _video_id(self, task: str, key: UpstreamKey) -> str:
        """The id of the video a finished task made (`task_result.videos[0].id`): what
        video-extend takes, not the task id."""
        video, data = await self._query(task, key, CallContext())
        result = data.get("task_result")
        videos = result.get("videos") if isinstance(result, Mapping) else None
        first = videos[0] if isinstance(videos, list) and videos else None
        found = first.get("id") if isinstance(first, Mapping) else None
        if video.status != "completed" or not isinstance(found, str) or not found:
            raise bad_request(
                "invalid_source",
                f"Kling task {task!r} is {video.status}; only a finished video can be extended.",
                "source",
            )
        return found

    def created_reference(self, prepared: Prepared) -> str | None:
        """The `external_task_id` sent (the caller's own, given as an extra, or the
        gateway's reference); a request rebuilt from a create's intent has no body."""
        sent = prepared.body.get("external_task_id") if prepared.body else None
        return str(sent) if sent else prepared.params.reference

    async def find_created(
        self, prepared: Prepared, key: UpstreamKey, ctx: CallContext
    ) -> UpstreamVideo | None:
        """The task whose `external_task_id` is this create's, among the newest of its
        endpoint (Kling's task list, newest first; pageSize inferred to go to 500)."""
        reference = self.created_reference(prepared)
        if not reference:
            return None
        url = f"{self._base(key)}/v1/videos/{prepared.route}"
        query = {"pageNum": "1", "pageSize": str(FIND_PAGE_SIZE)}
        body = await self.call_api("GET", url, key, ctx, params=query)
        tasks = body.get("data") if isinstance(body, Mapping) else None
        for task in tasks if isinstance(tasks, list) else []:
            info = task.get("task_info") if isinstance(task, Mapping) else None
            if isinstance(info, Mapping) and info.get("external_task_id") == reference:
                video = self._video(task, prepared.route)
                video.model, video.prompt = prepared.params.model, prepared.params.prompt
                video.size, video.seconds = prepared.size, prepared.seconds
                return video
        return None

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """The task's `task_result.videos[0].url`, fetched from Kling's CDN without our token."""
        video, data = await self._query(video_id, key, ctx)
        result = data.get("task_result")
        videos = result.get("videos") if isinstance(result, Mapping) else None
        first = videos[0] if isinstance(videos, list) and videos else None
        url = first.get("url") if isinstance(first, Mapping) else None
        if video.status != "completed" or not isinstance(url, str) or not url:
            raise self._bad(data, f"has no video URL for task {video_id} ({video.status})")
        return await self.stream(url, content_type="video/mp4", ctx=ctx)


def _size(aspect: str, mode: str) -> str:
    """The OpenAI size Kling renders for an aspect ratio and mode, e.g. 16:9 std -> 1280x720."""
    w, h = ASPECT_RATIOS[aspect]
    unit = SHORT_EDGE_BY_MODE[mode] // min(w, h)
    return f"{w * unit}x{h * unit}"


def _raw_image(value: str, param: str) -> ReferenceImage:
    """`image_tail` given as a URL, data: URL or bare base64 (Kling wants no data: prefix)."""
    if value.startswith(("http://", "https://")):
        return ReferenceImage(url=value)
    if value.startswith("data:"):
        data, _ = decode_data_url(value, param)
    else:
        data, _ = decode_data_url(f"data:;base64,{value}", param)
    return ReferenceImage(data=data, content_type=check_image(data, IMAGE_RULES, param))
