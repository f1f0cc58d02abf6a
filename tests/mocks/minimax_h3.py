"""Loopback mock of MiniMax's v2 video generation API (H3, H3-Max), on the same "host" as
the v1 Hailuo mock it extends (one MiniMax account serves both).

Speaks the v2 wire format: Bearer auth, `{"model", "content": [...], "resolution",
"duration", "ratio"}` checked as the docs describe (one text item; `image_url` /
`video_url` / `audio_url` items with their roles; keyframes and references exclusive; at
most 9 reference images, 3 videos and 3 audios; audio only beside an image or video; 4-15
s; `adaptive` only with a keyframe), every API error as HTTP 200 with a non-zero
`base_resp.status_code` (1004 bad key, 2013 bad parameters, 1026 sensitive prompt), and
`GET /v2/query/video_generation/{task_id}` walking queued -> running -> succeeded|failed|
cancelled by the clock. The finished video is a CDN link on this server (no key).

A prompt with `blocked_word` is refused at create (1026); one with `moderation_word` fails
at the end (error 1027); one with `cancel_word` ends `cancelled` (stopped in the console).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .common import fetchable_image, stage_at, word_pattern
from .minimax import OK, MiniMaxMock

DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.DOTALL)
RESOLUTIONS = {"MiniMax-H3": ("768P", "2K"), "MiniMax-H3-Max": ("768P",)}
RATIOS = frozenset({"21:9", "16:9", "4:3", "1:1", "3:4", "9:16"})
ROLES = {
    "image_url": {"first_frame", "last_frame", "reference_image"},
    "video_url": {"reference_video"},
    "audio_url": {"reference_audio"},
}
LIMITS = {"reference_image": 9, "reference_video": 3, "reference_audio": 3}
KEYFRAMES = frozenset({"first_frame", "last_frame"})


@dataclass
class H3Task:
    id: str
    model: str
    created: float
    ending: str  # succeeded | failed | cancelled
    body: dict[str, Any]


class MiniMaxH3Mock(MiniMaxMock):
    """The v1 routes of `MiniMaxMock` plus `/v2/video_generation` and its query."""

    def __init__(self, *args: Any, cancel_word: str = "cancelme", **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.cancel = word_pattern(cancel_word)
        self.h3_tasks: dict[str, H3Task] = {}

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_post("/v2/video_generation", self.create_v2)
        app.router.add_get("/v2/query/video_generation/{task_id}", self.query_v2)
        app.router.add_get("/cdn/v2/{task_id}.mp4", self.download_v2)

    async def create_v2(self, request: web.Request) -> web.Response:
        try:
            body = await self.read_json(request)
        except Exception:
            return self.fail(2013, "invalid params, body is not JSON")
        problem = _problem(body) if isinstance(body, dict) else "body must be an object"
        if problem is not None:
            return self.fail(2013, f"invalid params, {problem}")
        prompt = body["content"][0]["text"]
        if self.blocked.search(prompt):
            return self.fail(1026, "input new_sensitive")
        ending = "succeeded"
        if self.moderation.search(prompt):
            ending = "failed"
        elif self.cancel.search(prompt):
            ending = "cancelled"
        task = H3Task(
            str(random.randrange(10**17, 10**18)), body["model"], self.clock(), ending, body
        )
        with self.lock:
            self.h3_tasks[task.id] = task
        return self.json_response({"task_id": task.id, "base_resp": OK})

    def status_v2(self, task: H3Task, now: float) -> str:
        stages = ("queued", "running", task.ending)
        return stages[stage_at(now - task.created, self.queued_seconds, self.run_seconds)]

    async def query_v2(self, request: web.Request) -> web.Response:
        with self.lock:
            task = self.h3_tasks.get(request.match_info["task_id"])
        if task is None:
            return self.fail(2013, "invalid params, task not found")  # (inferred)
        status = self.status_v2(task, self.clock())
        body = task.body
        out: dict[str, Any] = {
            "id": task.id,
            "model": task.model,
            "status": status,
            "task_type": "generation",
            "modality": "video",
            "ratio": body.get("ratio", "16:9"),
            "resolution": body.get("resolution", "768P"),
            "duration": body.get("duration", 5),
        }
        if status == "succeeded":
            out["content"] = {"url": f"{self.origin}/cdn/v2/{task.id}.mp4?Expires=32400"}
        elif status == "failed":
            out["error"] = {"code": 1027, "message": "output video sensitive"}
        return self.json_response({"task": out, "base_resp": OK})

    async def download_v2(self, request: web.Request) -> web.Response:
        if "authorization" in request.headers:
            return web.Response(status=400, text="InvalidArgument", content_type="application/xml")
        with self.lock:
            task = self.h3_tasks.get(request.match_info["task_id"])
        if task is None or self.status_v2(task, self.clock()) != "succeeded":
            return web.Response(status=404, text="NoSuchKey", content_type="application/xml")
        return web.Response(body=self.video_bytes(), content_type="video/mp4")


def _problem(body: dict[str, Any]) -> str | None:
    """Why MiniMax answers 2013 for this v2 body, or None."""
    model = body.get("model")
    if model not in RESOLUTIONS:
        return f"model {model!r} is not supported"
    content = body.get("content")
    if (
        not isinstance(content, list)
        or not content
        or not all(isinstance(c, dict) for c in content)
    ):
        return "content must be a non-empty array of objects"
    texts = [c for c in content if c.get("type") == "text"]
    if len(texts) != 1 or not isinstance(texts[0].get("text"), str) or len(texts[0]["text"]) > 7000:
        return "content needs exactly one text of at most 7000 characters"
    roles: list[str] = []
    for item in content:
        kind = item.get("type")
        if kind == "text":
            continue
        if kind not in ROLES or item.get("role") not in ROLES[kind]:
            return f"content item {kind!r} with role {item.get('role')!r} is not supported"
        url = item.get(kind, {}).get("url") if isinstance(item.get(kind), dict) else None
        ok = (
            fetchable_image(url, DATA_URL)
            if kind == "image_url"
            else isinstance(url, str) and url.startswith(("http://", "https://", "data:"))
        )
        if not ok:
            return f"{kind}.url is not a URL or base64 data URI"
        roles.append(item["role"])
    keyframes = [r for r in roles if r in KEYFRAMES]
    if keyframes and len(keyframes) != len(roles):
        return "keyframes and references cannot be combined"
    if any(keyframes.count(r) > 1 for r in KEYFRAMES):
        return "at most one first_frame and one last_frame"
    for role, limit in LIMITS.items():
        if roles.count(role) > limit:
            return f"at most {limit} {role}"
    if "reference_audio" in roles and not {"reference_image", "reference_video"} & set(roles):
        return "reference_audio needs a reference image or video"
    duration = body.get("duration", 5)
    if type(duration) is not int or not 4 <= duration <= 15:
        return f"duration must be an integer from 4 to 15, not {duration!r}"
    if body.get("resolution", "768P") not in RESOLUTIONS[model]:
        return f"resolution {body.get('resolution')!r} is not supported by {model}"
    ratio = body.get("ratio", "16:9")
    if ratio not in RATIOS and not (ratio == "adaptive" and keyframes):
        return f"ratio {ratio!r} is not supported" + (
            " without a keyframe" if ratio == "adaptive" else ""
        )
    return None
