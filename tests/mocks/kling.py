"""Loopback mock of Kling's video API (text2video / image2video), JWT auth included.

Every request must carry `Authorization: Bearer <JWT>` signed HS256 with the configured
secret key, `iss` = the access key and valid `exp`/`nbf`; a failure answers 401 with
Kling's service code (1001 missing, 1002 invalid, 1003 not yet valid, 1004 expired) in its
`{"code","message","request_id"}` envelope, which every other error uses too. Tasks walk
submitted -> processing -> succeed|failed by the clock and are only found on the endpoint
that created them; a finished task's `task_result.videos[0].url` points at this server's
"CDN" (no auth), which serves a real MP4. A prompt containing `moderation_word` fails at the
end ("risk control"); one containing `blocked_word` is refused at create with 1301.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web

from .base import ApiError, MockServer
from .common import render_clip, sniff_image, stage_at, word_pattern

ENDPOINTS = ("text2video", "image2video", "video-extend")
EXTENDABLE = frozenset({"kling-v1", "kling-v1-5", "kling-v1-6"})  # Kling's video-extend note
WITH_SOUND = frozenset({"kling-v2-6", "kling-v3"})  # `sound` exists from v2.6 on
EXTEND_SECONDS, MAX_TOTAL = 5, 180
# HTTP status of an injected failure -> the service code Kling puts in its body.
STATUS_CODES = {400: 1200, 401: 1000, 403: 1103, 404: 1203, 429: 1302, 500: 5000, 503: 5001}
CLASSIC = ("5", "10")
# endpoint -> model_name -> durations (Kling's model enums and capability map).
MODELS: dict[str, dict[str, tuple[str, ...]]] = {
    "text2video": {
        "kling-v1": CLASSIC,
        "kling-v1-6": CLASSIC,
        "kling-v2-master": CLASSIC,
        "kling-v2-1-master": CLASSIC,
        "kling-v2-5-turbo": CLASSIC,
        "kling-v2-6": CLASSIC,
        "kling-v3": tuple(str(n) for n in range(3, 16)),
    },
}
MODELS["image2video"] = {**MODELS["text2video"], "kling-v1-5": CLASSIC, "kling-v2-1": CLASSIC}
MODELS["video-extend"] = {}
FAILED_MESSAGE = "Failure to pass the risk control system"  # wording (inferred)


@dataclass
class Task:
    id: str
    endpoint: str
    body: dict[str, Any]
    created: float
    failed: bool
    total: int | None = None  # an extension's whole length (source + 5 s)

    @property
    def duration(self) -> str:
        return str(self.total or self.body.get("duration", "5"))

    @property
    def model(self) -> str:
        return str(self.body.get("model_name", "kling-v1"))


class KlingMock(MockServer):
    """Kling's `/v1/videos/{text2video,image2video}` create and query, plus a CDN."""

    public_paths = ("/cdn/",)

    def __init__(
        self,
        access_key: str = "ak-test",
        secret_key: str = "sk-test",
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        *,
        moderation_word: str = "moderation",
        blocked_word: str = "forbidden",
        media_size: tuple[int, int] = (64, 64),
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host=host, clock=clock)
        self.access_key = access_key
        self.secret_key = secret_key
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.moderation = word_pattern(moderation_word)
        self.blocked = word_pattern(blocked_word)
        self.media_size = media_size
        self.tasks: dict[str, Task] = {}
        self.external_ids: set[str] = set()
        self.tokens: list[dict[str, Any]] = []  # verified claims, in request order

    def video_bytes(self) -> bytes:
        return self.rendered("video", lambda: render_clip(self.media_size, "videogate kling mock"))

    def forget(self, task_id: str) -> None:
        """Drop a task, as Kling does after its retention: queries answer "Task not found"."""
        with self.lock:
            self.tasks.pop(task_id, None)

    # -- Kling's envelope and auth ----------------------------------------------------------
    def new_request_id(self) -> str:
        return str(uuid.uuid4())

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        number = int(code) if code and code.isdigit() else STATUS_CODES.get(status, 5000)
        return {"code": number, "message": message, "request_id": self.new_request_id()}

    def _auth_problem(self, request: web.Request) -> tuple[int, str] | None:
        """(service code, message) for a missing or bad token; None when it verifies."""
        header = request.headers.get("authorization", "")
        if not header:
            return 1001, "Authorization is empty"
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return 1002, "Authorization is invalid"
        try:
            claims = jwt.decode(
                token,
                self.secret_key,
                algorithms=["HS256"],
                options={"require": ["iss", "exp", "nbf"]},
            )
        except jwt.ExpiredSignatureError:
            return 1004, "Authorization has expired"
        except jwt.ImmatureSignatureError:
            return 1003, "Authorization is not yet valid"
        except jwt.InvalidTokenError:
            return 1002, "Authorization is invalid"
        if claims.get("iss") != self.access_key:
            return 1002, "Authorization is invalid"
        with self.lock:
            self.tokens.append(claims)
        return None

    def is_authorized(self, request: web.Request) -> bool:
        return self._auth_problem(request) is None

    def unauthorized(self, request: web.Request) -> web.Response:
        code, message = self._auth_problem(request) or (1000, "Authentication failed")
        return self.error_response(401, message, code=str(code))

    # -- routes ---------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        for endpoint in ENDPOINTS:
            app.router.add_post(f"/v1/videos/{endpoint}", self.create)
            app.router.add_get(f"/v1/videos/{endpoint}", self.list_tasks)
            app.router.add_get(f"/v1/videos/{endpoint}/{{task_id}}", self.query)
        app.router.add_get("/cdn/{task_id}.mp4", self.download)

    @staticmethod
    def _endpoint(request: web.Request) -> str:
        return request.path.split("/")[3]

    async def create(self, request: web.Request) -> web.Response:
        endpoint = self._endpoint(request)
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object", code="1200")
        total = None
        if endpoint == "video-extend":
            body, total = self._check_extend(body)
        else:
            self._check(endpoint, body)
        prompt = str(body.get("prompt") or "")
        if self.blocked.search(prompt):
            raise ApiError(400, "prompt triggers the content security policy", code="1301")
        external = body.get("external_task_id")
        with self.lock:
            if external:
                self.external_ids.add(external)
            task = Task(
                id=uuid.uuid4().hex[:22],
                endpoint=endpoint,
                body=body,
                created=self.clock(),
                failed=bool(self.moderation.search(prompt)),
                total=total,
            )
            self.tasks[task.id] = task
        return self._answer(task, with_result=False)

    def _check_extend(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """video-extend: a finished v1.x video by its video id (not a task id), 4-5 s more,
        3 minutes at most; the model and mode are the source's and cannot be chosen."""
        allowed = {"video_id", "prompt", "negative_prompt", "cfg_scale", "callback_url"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ApiError(400, f"{unknown[0]} is not a video-extend parameter", code="1201")
        video_id = body.get("video_id")
        with self.lock:
            source = next((t for t in self.tasks.values() if f"{t.id}-v0" == video_id), None)
        if source is None or self.status_of(source, self.clock())[0] != "succeed":
            raise ApiError(400, "video_id is invalid or the video does not exist", code="1201")
        if source.model not in EXTENDABLE:
            raise ApiError(400, f"videos of {source.model} cannot be extended", code="1201")
        prompt = body.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 2500):
            raise ApiError(400, "prompt must be a string of at most 2500 characters", code="1201")
        total = int(source.duration) + EXTEND_SECONDS
        if total > MAX_TOTAL:
            raise ApiError(400, "the video would exceed 3 minutes", code="1201")
        return {**body, "model_name": source.model, "mode": source.body.get("mode")}, total

    def _check(self, endpoint: str, body: dict[str, Any]) -> None:
        """Kling's 1201/1203 answers for what it cannot run."""
        model = body.get("model_name", "kling-v1")
        if model not in MODELS[endpoint]:
            raise ApiError(404, f"model_name {model!r} does not exist for {endpoint}", code="1203")
        prompt = body.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > 2500):
            raise ApiError(400, "prompt must be a string of at most 2500 characters", code="1201")
        if endpoint == "text2video" and not prompt:
            raise ApiError(400, "prompt is required", code="1201")
        checks = {
            "mode": ("std", "pro"),
            "aspect_ratio": ("16:9", "9:16", "1:1"),
            "duration": MODELS[endpoint][model],
            "sound": ("on", "off"),
        }
        if "sound" in body and model not in WITH_SOUND:
            raise ApiError(400, f"sound is not supported by {model}", code="1201")
        for name, allowed in checks.items():
            if name in body and body[name] not in allowed:
                raise ApiError(400, f"{name} value {body[name]!r} is invalid", code="1201")
        cfg = body.get("cfg_scale")
        if cfg is not None and not (isinstance(cfg, int | float) and 0 <= cfg <= 1):
            raise ApiError(400, "cfg_scale must be a number in [0, 1]", code="1201")
        if endpoint == "image2video":
            if not body.get("image") and not body.get("image_tail"):
                raise ApiError(400, "image and image_tail cannot both be empty", code="1201")
            for name in ("image", "image_tail"):
                if name in body and not _valid_image(body[name]):
                    raise ApiError(400, f"{name} is invalid", code="1201")
        external = body.get("external_task_id")
        with self.lock:
            if external and external in self.external_ids:
                raise ApiError(400, "external_task_id already exists", code="1201")

    def status_of(self, task: Task, now: float) -> tuple[str, float]:
        """(task_status, when it last changed)."""
        stage = stage_at(now - task.created, self.queued_seconds, self.run_seconds)
        if stage == 0:
            return "submitted", task.created
        if stage == 1:
            return "processing", task.created + self.queued_seconds
        ended = task.created + self.queued_seconds + self.run_seconds
        return ("failed" if task.failed else "succeed"), ended

    async def list_tasks(self, request: web.Request) -> web.Response:
        """Kling's "Query Task (List)": `pageNum` (from 1) / `pageSize` (1-500), newest
        first, each task as the single query shows it (inferred from Kling's API docs)."""
        endpoint = self._endpoint(request)
        try:
            page = int(request.query.get("pageNum", "1"))
            size = int(request.query.get("pageSize", "30"))
        except ValueError:
            raise ApiError(400, "pageNum and pageSize must be integers", code="1201") from None
        if page < 1 or not 1 <= size <= 500:
            raise ApiError(400, "pageNum or pageSize out of range", code="1201")
        with self.lock:
            tasks = sorted(
                (t for t in self.tasks.values() if t.endpoint == endpoint),
                key=lambda t: t.created,
                reverse=True,
            )[(page - 1) * size : page * size]
        data = [self._data(task, with_result=False) for task in tasks]
        return self.json_response(
            {"code": 0, "message": "SUCCEED", "request_id": self.new_request_id(), "data": data}
        )

    def _answer(self, task: Task, *, with_result: bool) -> web.Response:
        return self.json_response(
            {
                "code": 0,
                "message": "SUCCEED",
                "request_id": self.new_request_id(),
                "data": self._data(task, with_result=with_result),
            }
        )

    def _data(self, task: Task, *, with_result: bool) -> dict[str, Any]:
        status, changed = self.status_of(task, self.clock())
        data: dict[str, Any] = {
            "task_id": task.id,
            "task_status": status,
            "task_info": {"external_task_id": task.body.get("external_task_id") or ""},
            "created_at": int(task.created * 1000),
            "updated_at": int(changed * 1000),
        }
        if with_result:
            data["task_status_msg"] = FAILED_MESSAGE if status == "failed" else ""
            data["final_unit_deduction"] = "1" if status == "succeed" else "0"
        if with_result and status == "succeed":
            data["task_result"] = {
                "videos": [
                    {
                        "id": task.id + "-v0",
                        "url": f"{self.origin}/cdn/{task.id}.mp4",
                        "duration": task.duration,
                    }
                ]
            }
        return data

    async def query(self, request: web.Request) -> web.Response:
        endpoint = self._endpoint(request)
        with self.lock:
            task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.endpoint != endpoint:
            raise ApiError(400, "Task not found", code="1201")
        return self._answer(task, with_result=True)

    async def download(self, request: web.Request) -> web.Response:
        with self.lock:
            task = self.tasks.get(request.match_info["task_id"])
        if task is None or self.status_of(task, self.clock())[0] != "succeed":
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.video_bytes(), content_type="video/mp4")


def _valid_image(value: Any) -> bool:
    """A URL, or bare base64 of a JPEG/PNG. A `data:` prefix is refused, as Kling documents."""
    if not isinstance(value, str) or value.startswith("data:"):
        return False
    if value.startswith(("http://", "https://")):
        return True
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return sniff_image(data) in ("image/jpeg", "image/png")
