"""`kling`: Kling AI video generation (`api-singapore.klingai.com`; legacy `api.klingai.com`).

Wire format (Kling API reference "General Information" and "Text/Image to Video", the
vercel/ai `@ai-sdk/klingai` client): `POST /v1/videos/text2video|image2video`
`{"model_name","prompt","negative_prompt","cfg_scale","mode","aspect_ratio","duration",...}`
-> `{"code":0,"message","request_id","data":{"task_id","task_status",...}}`; a task is read
back from the endpoint that created it, `GET /v1/videos/<endpoint>/<task_id>`, so the
upstream id stored is `<endpoint>/<task_id>` (`public_token` makes it path safe).

Auth is a short-lived HS256 JWT (`iss` = access key, `exp` = now+30 min, `nbf` = now-5 s)
signed with the secret key and cached until close to expiry. A key is configured either as
`value: <secret key>` with `extra: {access_key: <access key>}`, or as
`value: "<access key>:<secret key>"`. Errors carry a numeric `code` with a 4xx (or inside a
200); `ERRORS` maps both. Kling has no delete/cancel, thumbnail, or OpenAI-style remix (its
video-extend continues a clip rather than re-prompting it), so none is declared.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    Prepared,
    Status,
    UpstreamVideo,
)
from .convert import aspect_ratio, int_or_none, parse_size
from .failures import CodedError, coded_error, describe_code
from .http import HttpProvider, bearer
from .media import ImageRules, ReferenceImage, check_image, decode_data_url, reference_image
from .params import check_prompt_length, coerce_extras, refuse_reserved

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"
VENDOR = "Kling"
TEXT, IMAGE = "text2video", "image2video"
ENDPOINTS = (TEXT, IMAGE)
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
# image / image_tail: JPG/JPEG/PNG up to 10 MB, sides >= 300 px, ratio 1:2.5-2.5:1.
IMAGE_RULES = ImageRules(
    label="Kling",
    types=frozenset({"image/jpeg", "image/png"}),
    max_bytes=10 * 1024 * 1024,
    min_side=300,
    max_ratio=2.5,
)


@dataclass(frozen=True)
class ModelRule:
    durations: tuple[int, ...]
    text: bool = True  # offered on text2video
    image: bool = True  # offered on image2video


_CLASSIC = (5, 10)
# model_name enums of both endpoints and the capability map's durations (v3: 3-15 s).
# Unlisted models pass through unchecked, so new ones work before this table knows them.
MODELS: dict[str, ModelRule] = {
    "kling-v1": ModelRule(_CLASSIC),
    "kling-v1-5": ModelRule(_CLASSIC, text=False),
    "kling-v1-6": ModelRule(_CLASSIC),
    "kling-v2-master": ModelRule(_CLASSIC),
    "kling-v2-1": ModelRule(_CLASSIC, text=False),
    "kling-v2-1-master": ModelRule(_CLASSIC),
    "kling-v2-5-turbo": ModelRule(_CLASSIC),
    "kling-v2-6": ModelRule(_CLASSIC),
    "kling-v3": ModelRule(tuple(range(3, 16))),
}


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
        {Capability.CREATE, Capability.RETRIEVE, Capability.CONTENT, Capability.IMAGE_INPUT}
    )
    default_poll_after_ms = 5000
    default_base_url = DEFAULT_BASE_URL
    finds_created = True  # by external_task_id

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
        self._check_extras(extra)
        image = None
        if params.input_reference is not None:
            image = reference_image(params.input_reference, IMAGE_RULES)
        endpoint = IMAGE if image is not None else TEXT
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
        if "image_tail" in extra:
            tail = _raw_image(extra.pop("image_tail"), "image_tail")
            payload["image_tail"] = tail.url or tail.base64()
            shown["image_tail"] = tail.describe()
        payload.update(extra)
        shown.update(extra)
        if params.reference and "external_task_id" not in payload:
            # Kling's client task id: a create whose answer was lost can be found by it
            payload["external_task_id"] = shown["external_task_id"] = params.reference
        size = params.size or (_size(aspect, mode) if endpoint == TEXT else None)
        return Prepared(params, payload, shown, endpoint, size=size, seconds=str(seconds))

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
        if endpoint == TEXT and not rule.text:
            raise bad_request(
                "missing_input_reference",
                f"{params.model} is image-to-video only on Kling: send an input_reference.",
                "input_reference",
            )
        if endpoint == IMAGE and not rule.image:
            raise bad_request(
                "unsupported_input_reference",
                f"{params.model} does not take an input_reference.",
                "input_reference",
            )
        seconds = rule.durations[0] if seconds is None else seconds
        if seconds not in rule.durations:
            allowed = ", ".join(map(str, rule.durations))
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
        body = await self.call_api("POST", url, key, ctx, json=prepared.body, shown=prepared.shown)
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

    async def find_created(
        self, prepared: Prepared, key: UpstreamKey, ctx: CallContext
    ) -> UpstreamVideo | None:
        """The task whose `external_task_id` is this create's, among the newest of its
        endpoint (Kling's task list, newest first; pageSize inferred to go to 500)."""
        reference = prepared.body.get("external_task_id") if prepared.body else None
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
