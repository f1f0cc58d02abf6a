"""Loopback mock of BytePlus ModelArk's content-generation tasks (ByteDance Seedance).

Speaks Ark v3 as the official SDKs (`byteplus-python-sdk-v2`, `volcengine-python-sdk`,
`content_generation.tasks`) do: Bearer key, JSON create with top-level `ratio`/`resolution`/
`duration`, `{"id": "cgt-..."}`, tasks queued -> running -> succeeded|failed driven by the
clock, `cancelled`/`expired`, `{"total", "items"}` lists, and DELETE that cancels a queued
task, deletes a finished one and refuses a running or cancelled one. Errors use Ark's
`{"error": {"code", "message", "param", "type"}}`. Content items: one text, images with role
first_frame/last_frame or (not mixed with those) up to 9 reference_image, and for the 2.0
series up to 3 `video_url` items with role reference_video (fetched by URL only). Results
are pre-signed "object storage" links on this server (`/tos/...`) serving a real MP4 and a
PNG last frame; like a pre-signed URL they refuse a request that also carries an
Authorization header.

Moderation: a prompt containing `blocked_word` is refused at create (400
InputTextSensitiveContentDetected); one containing `moderation_word` runs and then fails with
OutputVideoSensitiveContentDetected, as Ark's output review does.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import data_url_payload, render_clip_and_still, word_pattern

# model -> (resolutions, min seconds, max seconds, image: optional|required|forbidden)
MODELS: dict[str, tuple[tuple[str, ...], int, int, str]] = {
    "seedance-1-0-pro-250528": (("480p", "720p", "1080p"), 2, 12, "optional"),
    "seedance-1-0-pro-fast-251015": (("480p", "720p", "1080p"), 2, 12, "optional"),
    "seedance-1-0-lite-t2v-250428": (("480p", "720p", "1080p"), 2, 12, "forbidden"),
    "seedance-1-0-lite-i2v-250428": (("480p", "720p", "1080p"), 2, 12, "required"),
    "seedance-1-5-pro-251215": (("480p", "720p", "1080p"), 4, 12, "optional"),
    "dreamina-seedance-2-0-260128": (("480p", "720p", "1080p"), 4, 15, "optional"),
    "dreamina-seedance-2-0-fast-260128": (("480p", "720p"), 4, 15, "optional"),
    "dreamina-seedance-2-0-mini-260628": (("480p", "720p"), 4, 15, "optional"),
}
# Models that take `video_url` items (role reference_video): the 2.0 series.
VIDEO_INPUT = frozenset(m for m in MODELS if "seedance-2-0" in m)
MAX_REFERENCE_IMAGES, MAX_REFERENCE_VIDEOS = 9, 3
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
ROLES = ("first_frame", "last_frame", "reference_image")
BOOL_FIELDS = ("generate_audio", "watermark", "camera_fixed", "return_last_frame", "draft")
INT_FIELDS = ("seed", "execution_expires_after", "priority", "frames")
STR_FIELDS = ("callback_url", "service_tier", "safety_identifier")
KNOWN_FIELDS = frozenset(
    {"model", "content", "ratio", "resolution", "duration", "tools"}
    | set(BOOL_FIELDS)
    | set(INT_FIELDS)
    | set(STR_FIELDS)
)
PIXELS_PER_FRAME = {"480p": 864 * 480, "720p": 1248 * 704, "1080p": 1920 * 1088}
DATA_URL = re.compile(r"^data:image/([a-z]+);base64,(.*)$", re.DOTALL)
# HTTP status -> (Ark error code, Ark error type) for injected failures without a code.
ARK_ERRORS: dict[int, tuple[str, str]] = {
    400: ("InvalidParameter", "BadRequest"),
    401: ("AuthenticationError", "Unauthorized"),
    403: ("AccessDenied", "Forbidden"),
    404: ("ResourceNotFound", "NotFound"),
    429: ("RateLimitExceeded", "TooManyRequests"),
    500: ("InternalServiceError", "InternalServerError"),
    502: ("InternalServiceError", "BadGateway"),
    503: ("ServerOverloaded", "ServiceUnavailable"),
}
OUTPUT_MODERATION = {
    "code": "OutputVideoSensitiveContentDetected",
    "message": "The request failed because the output video may contain sensitive information.",
}


@dataclass
class Task:
    """One content-generation task; its status follows from the clock unless ended early."""

    id: str
    model: str
    content: list[dict[str, Any]]
    params: dict[str, Any]
    created: float
    queued_seconds: float
    run_seconds: float
    failure: dict[str, str] | None = None
    cancelled_at: float | None = None
    expired_at: float | None = None
    seq: int = 0
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    def status_at(self, now: float) -> tuple[str, float]:
        """(status, when it was entered)."""
        if self.cancelled_at is not None:
            return "cancelled", self.cancelled_at
        if self.expired_at is not None:
            return "expired", self.expired_at
        started = self.created + self.queued_seconds
        if now < started:
            return "queued", self.created
        ended = started + self.run_seconds
        if now < ended:
            return "running", started
        return ("failed" if self.failure else "succeeded"), ended

    @property
    def prompt(self) -> str:
        return next((c["text"] for c in self.content if c.get("type") == "text"), "")

    def to_json(self, now: float, origin: str) -> dict[str, Any]:
        status, since = self.status_at(now)
        p = self.params
        out: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "status": status,
            "error": dict(self.failure) if status == "failed" and self.failure else None,
            "created_at": int(self.created),
            "updated_at": int(since),
            "seed": p.get("seed", 11),
            "resolution": p["resolution"],
            "ratio": p["ratio"],
            "framespersecond": 24,
            "service_tier": p.get("service_tier", "default"),
            "execution_expires_after": p.get("execution_expires_after", 172800),
            "draft": p.get("draft", False),
        }
        if "frames" in p:
            out["frames"] = p["frames"]
        else:
            out["duration"] = p["duration"]
        if "generate_audio" in p:
            out["generate_audio"] = p["generate_audio"]
        if status == "succeeded":
            signed = f"?X-Tos-Expires=86400&X-Tos-Signature={self.token}"
            out["content"] = {"video_url": f"{origin}/tos/{self.id}.mp4{signed}"}
            if p.get("return_last_frame"):
                out["content"]["last_frame_url"] = f"{origin}/tos/{self.id}-last.png{signed}"
            frames = p.get("frames") or 24 * p["duration"]
            tokens = PIXELS_PER_FRAME[p["resolution"]] * frames // 1024
            out["usage"] = {"completion_tokens": tokens, "total_tokens": tokens}
        return out


class SeedanceMock(MockServer):
    """`/api/v3/contents/generations/tasks` plus the `/tos/` result links."""

    public_paths = ("/tos/",)  # pre-signed: the signature is in the query string

    def __init__(
        self,
        api_key: str = "ark-mock-key",
        prefix: str = "/api/v3",
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        *,
        blocked_word: str = "forbidden",
        moderation_word: str = "moderation",
        media_size: tuple[int, int] = (64, 64),
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, prefix=prefix, host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.blocked = word_pattern(blocked_word)
        self.moderation = word_pattern(moderation_word)
        self.media_size = media_size
        self.tasks: dict[str, Task] = {}
        self._seq = 0

    # -- Ark's envelope -------------------------------------------------------------------
    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        default_code, ark_type = ARK_ERRORS.get(status, ("InternalServiceError", "Unknown"))
        request_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(8)
        return {
            "error": {
                "code": code or default_code,
                "message": f"{message} Request id: {request_id}",
                "param": param or "",
                "type": ark_type,
            }
        }

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error_response(
            401,
            "The API key or AK/SK in the request is missing or invalid.",
            code="AuthenticationError",
        )

    def not_found_route(self, request: web.Request) -> web.Response:
        return self.error_response(
            404, f"The requested path {request.path} is not found.", code="NotFound"
        )

    # -- test-side controls ---------------------------------------------------------------
    def media(self) -> tuple[bytes, bytes]:
        """(MP4, PNG last frame), rendered once per mock."""
        return self.rendered(
            "media",
            lambda: render_clip_and_still(
                self.media_size, "videogate seedance mock", "PNG", frame=-1
            ),
        )

    def status(self, task_id: str) -> str | None:
        """The task's status now, or None once its record is gone."""
        with self.lock:
            task = self.tasks.get(task_id)
            return None if task is None else task.status_at(self.clock())[0]

    def expire_now(self, task_id: str) -> None:
        """End a queued or running task as `expired` (its execution_expires_after passed)."""
        with self.lock:
            self.tasks[task_id].expired_at = self.clock()

    # -- routes ---------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        tasks = self.path("/contents/generations/tasks")
        app.router.add_post(tasks, self.create)
        app.router.add_get(tasks, self.list_tasks)
        app.router.add_get(tasks + "/{task_id}", self.get_task)
        app.router.add_delete(tasks + "/{task_id}", self.delete_task)
        app.router.add_get("/tos/{name}", self.object)

    async def create(self, request: web.Request) -> web.Response:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.", code="InvalidParameter")
        unknown = sorted(set(body) - KNOWN_FIELDS)
        if unknown:  # (inferred) Ark's strict parameter check
            raise ApiError(
                400,
                f"The parameter `{unknown[0]}` specified in the request is not valid.",
                param=unknown[0],
                code="InvalidParameter",
            )
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _missing("model")
        if model not in MODELS:
            raise ApiError(
                404,
                f"The model or endpoint {model} does not exist or you do not have access to it.",
                param="model",
                code="InvalidEndpointOrModel.NotFound",
            )
        resolutions, min_s, max_s, image_mode = MODELS[model]
        content = self._content(body.get("content"), image_mode, model in VIDEO_INPUT)
        params = self._params(body, resolutions, min_s, max_s, content)
        prompt = next((c["text"] for c in content if c["type"] == "text"), "")
        if self.blocked.search(prompt):
            raise ApiError(
                400,
                "The request failed because the input text may contain sensitive information.",
                code="InputTextSensitiveContentDetected",
            )
        now = self.clock()
        with self.lock:
            self._seq += 1
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
            task = Task(
                id=f"cgt-{stamp}-{secrets.token_hex(3)[:5]}",
                model=model,
                content=content,
                params=params,
                created=now,
                queued_seconds=self.queued_seconds,
                run_seconds=self.run_seconds,
                failure=dict(OUTPUT_MODERATION) if self.moderation.search(prompt) else None,
                seq=self._seq,
            )
            self.tasks[task.id] = task
        return self.json_response({"id": task.id})

    def _content(self, content: Any, image_mode: str, videos_ok: bool) -> list[dict[str, Any]]:
        if not isinstance(content, list) or not content:
            raise _missing("content")
        texts = [c for c in content if isinstance(c, dict) and c.get("type") == "text"]
        images = [c for c in content if isinstance(c, dict) and c.get("type") == "image_url"]
        videos = [c for c in content if isinstance(c, dict) and c.get("type") == "video_url"]
        if len(texts) + len(images) + len(videos) != len(content) or len(texts) > 1:
            raise ApiError(
                400,
                "The parameter `content` specified in the request is not valid: each item "
                "must be one text, image_url or video_url object, with at most one text.",
                param="content",
                code="InvalidParameter",
            )
        for item in texts:
            if not isinstance(item.get("text"), str):
                raise ApiError(
                    400, "content.text must be a string.", param="content", code="InvalidParameter"
                )
        for item in images:
            self._check_image(item)
        self._check_videos(videos, videos_ok)
        roles = [c.get("role", "first_frame") for c in images]
        framed = any(r in ("first_frame", "last_frame") for r in roles)
        if framed and ("reference_image" in roles or videos):
            raise ApiError(
                400,
                "The parameter `content` specified in the request is not valid: first/last "
                "frames cannot be combined with reference images or videos.",
                param="content",
                code="InvalidParameter",
            )
        if roles.count("reference_image") > MAX_REFERENCE_IMAGES or any(
            roles.count(r) > 1 for r in ("first_frame", "last_frame")
        ):
            raise ApiError(
                400,
                "The parameter `content` has too many images for their roles.",
                param="content",
                code="InvalidParameter",
            )
        if image_mode == "forbidden" and images:
            raise ApiError(
                400,
                "The model does not support image input.",
                param="content",
                code="InvalidParameter",
            )
        if image_mode == "required" and not images:
            raise ApiError(
                400,
                "The model requires an image in content.",
                param="content",
                code="MissingParameter",
            )
        return content

    @staticmethod
    def _check_videos(videos: list[dict[str, Any]], videos_ok: bool) -> None:
        if videos and not videos_ok:
            raise ApiError(
                400,
                "The model does not support video input.",
                param="content",
                code="InvalidParameter",
            )
        if len(videos) > MAX_REFERENCE_VIDEOS:
            raise ApiError(
                400, "At most 3 reference videos.", param="content", code="InvalidParameter"
            )
        for item in videos:
            video = item.get("video_url")
            url = video.get("url") if isinstance(video, dict) else None
            if (
                item.get("role") != "reference_video"
                or not isinstance(url, str)
                or not url.startswith(("http://", "https://"))
            ):
                raise ApiError(
                    400,
                    "The parameter `content.video_url` specified in the request is not valid.",
                    param="content.video_url",
                    code="InvalidParameter",
                )

    @staticmethod
    def _check_image(item: dict[str, Any]) -> None:
        image = item.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        role = item.get("role", "first_frame")
        if role not in ROLES or not isinstance(url, str):
            raise ApiError(
                400,
                "The parameter `content.image_url` specified in the request is not valid.",
                param="content.image_url",
                code="InvalidParameter",
            )
        if url.startswith("data:"):
            _, data = data_url_payload(url, DATA_URL)
            if not data:
                raise ApiError(
                    400,
                    "The parameter `content.image_url.url` is not a valid base64 image.",
                    param="content.image_url.url",
                    code="InvalidParameter",
                )
        elif not url.startswith(("http://", "https://")):
            raise ApiError(
                400,
                "The parameter `content.image_url.url` must be a URL or base64 data.",
                param="content.image_url.url",
                code="InvalidParameter",
            )

    @staticmethod
    def _params(
        body: dict[str, Any],
        resolutions: tuple[str, ...],
        min_s: int,
        max_s: int,
        content: list[dict[str, Any]],
    ) -> dict[str, Any]:
        def invalid(name: str, detail: str) -> ApiError:
            return ApiError(
                400,
                f"The parameter `{name}` specified in the request is not valid: {detail}.",
                param=name,
                code="InvalidParameter",
            )

        has_image = any(c["type"] in ("image_url", "video_url") for c in content)
        params: dict[str, Any] = {
            "ratio": body.get("ratio", "adaptive" if has_image else "16:9"),
            "resolution": body.get("resolution", "720p"),
        }
        if params["ratio"] not in RATIOS:
            raise invalid("ratio", f"one of {', '.join(RATIOS)}")
        if params["resolution"] not in resolutions:
            raise invalid("resolution", f"one of {', '.join(resolutions)} for this model")
        for name in BOOL_FIELDS:
            if name in body and not isinstance(body[name], bool):
                raise invalid(name, "a boolean")
        for name in INT_FIELDS:
            if name in body and (isinstance(body[name], bool) or not isinstance(body[name], int)):
                raise invalid(name, "an integer")
        for name in STR_FIELDS:
            if name in body and not isinstance(body[name], str):
                raise invalid(name, "a string")
        if "duration" in body and "frames" in body:
            raise invalid("frames", "duration and frames cannot both be set")
        if "frames" not in body:
            duration = body.get("duration", 5)
            if isinstance(duration, bool) or not isinstance(duration, int):
                raise invalid("duration", "an integer")
            if not min_s <= duration <= max_s:
                raise invalid("duration", f"from {min_s} to {max_s} for this model")
            params["duration"] = duration
        for name in (*BOOL_FIELDS, *INT_FIELDS, *STR_FIELDS):
            if name in body:
                params[name] = body[name]
        return params

    async def get_task(self, request: web.Request) -> web.Response:
        task = self._lookup(request.match_info["task_id"])
        return self.json_response(task.to_json(self.clock(), self.origin))

    async def list_tasks(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            page_num = int(query.get("page_num", "1"))
            page_size = int(query.get("page_size", "10"))
        except ValueError:
            raise ApiError(
                400, "page_num and page_size must be integers.", code="InvalidParameter"
            ) from None
        if page_num < 1 or not 1 <= page_size <= 500:  # (inferred) Ark's page limits
            raise ApiError(
                400,
                "page_num must be >= 1 and page_size from 1 to 500.",
                param="page_size",
                code="InvalidParameter",
            )
        now = self.clock()
        wanted_ids = set(query.getall("filter.task_ids", []))
        with self.lock:
            tasks = sorted(self.tasks.values(), key=lambda t: (t.created, t.seq), reverse=True)
        items = [t.to_json(now, self.origin) for t in tasks]
        if "filter.status" in query:
            items = [i for i in items if i["status"] == query["filter.status"]]
        if "filter.model" in query:
            items = [i for i in items if i["model"] == query["filter.model"]]
        if wanted_ids:
            items = [i for i in items if i["id"] in wanted_ids]
        start = (page_num - 1) * page_size
        return self.json_response({"total": len(items), "items": items[start : start + page_size]})

    async def delete_task(self, request: web.Request) -> web.Response:
        task = self._lookup(request.match_info["task_id"])
        now = self.clock()
        with self.lock:
            status, _ = task.status_at(now)
            if status == "queued":
                task.cancelled_at = now
            elif status in ("succeeded", "failed", "expired"):
                del self.tasks[task.id]
            else:  # (inferred) the docs say "not supported" for these, not the exact answer
                raise ApiError(
                    400,
                    f"The task {task.id} is {status} and cannot be cancelled or deleted.",
                    param="id",
                    code="InvalidParameter",
                )
        return self.json_response({})

    async def object(self, request: web.Request) -> web.StreamResponse:
        """A pre-signed object: the signature must match, and no second auth may ride along."""
        name = request.match_info["name"]
        if "authorization" in request.headers:
            return self._tos_error(400, "InvalidArgument", "Only one auth mechanism allowed.")
        task_id, _, suffix = name.rpartition(".")
        last_frame = task_id.endswith("-last")
        task_id = task_id.removesuffix("-last")
        with self.lock:
            task = self.tasks.get(task_id)
        signature = request.query.get("X-Tos-Signature")
        if task is None or signature != task.token or suffix != ("png" if last_frame else "mp4"):
            return self._tos_error(403, "AccessDenied", "Request has invalid signature.")
        video, png = self.media()
        if last_frame:
            return web.Response(body=png, headers={"Content-Type": "image/png"})
        return web.Response(body=video, headers={"Content-Type": "video/mp4"})

    @staticmethod
    def _tos_error(status: int, code: str, message: str) -> web.Response:
        body = f'{{"Code":"{code}","Message":"{message}","RequestId":"{secrets.token_hex(8)}"}}'
        return web.Response(body=body, status=status, content_type="application/json")

    def _lookup(self, task_id: str) -> Task:
        with self.lock:
            task = self.tasks.get(task_id)
        if task is None:
            raise ApiError(
                404,
                f"The specified task {task_id} is not found.",
                param="id",
                code="ResourceNotFound",
            )
        return task


def _missing(name: str) -> ApiError:
    """Ark's answer to a required parameter that is absent or empty."""
    return ApiError(
        400,
        f"The parameter `{name}` specified in the request is missing.",
        param=name,
        code="MissingParameter",
    )
