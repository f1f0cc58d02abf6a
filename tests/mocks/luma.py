"""Loopback mock of Luma's Dream Machine API (api.lumalabs.ai/dream-machine/v1).

Speaks the wire format of lumalabs/lumaai-python @c00ac17 and the Dream Machine OpenAPI
1.1.0: Bearer auth, `POST /generations/video` (201, a Generation object), `GET
/generations/{id}` whose `state` moves queued -> dreaming -> completed | failed with
wall-clock time, `GET /generations?limit&offset` (newest first, `has_more`/`count`),
`DELETE /generations/{id}` (204, then 404). Errors are `{"detail": "<text>"}`; body
validation errors are FastAPI's 422 `{"detail": [{"loc", "msg", "type"}]}` (inferred from
Luma's `detail` envelope).

A completed generation's `assets.video` (real MP4) and `assets.image` (a real JPEG still)
are served by the mock itself under `/_cdn/`, without credentials; `expire_assets` makes
them answer 403 as an expired CDN object would. Prompts containing a word of
`failure_words` fail with that `failure_reason` (the moderation path). Inferred: which
states may be deleted (any, here) and the list order (newest first).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import ApiError, MockServer
from .common import render_clip_and_still, stage_at

MODELS = ("ray-1-6", "ray-2", "ray-flash-2")
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
RESOLUTIONS = ("540p", "720p", "1080p", "4k")
DURATIONS = ("5s", "9s")
FIELDS = {
    "generation_type",
    "model",
    "prompt",
    "aspect_ratio",
    "resolution",
    "duration",
    "loop",
    "keyframes",
    "callback_url",
    "concepts",
}
DEFAULT_FAILURES = {
    "moderation": "Advanced moderation failed",
    "unfetchable": "400: failed to moderate image",
    "glitch": "Generation failed, please try again",
}


class Invalid(ApiError):
    """A FastAPI-style 422 for one body field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(422, message, param=field_name)


@dataclass
class Generation:
    id: str
    request: dict[str, Any]
    created: float
    queued_seconds: float
    run_seconds: float
    failure: str | None = None
    seq: int = 0

    def state_at(self, now: float) -> str:
        ended = "failed" if self.failure else "completed"
        stages = ("queued", "dreaming", ended)
        return stages[stage_at(now - self.created, self.queued_seconds, self.run_seconds)]


class LumaMock(MockServer):
    public_paths = ("/_cdn/",)

    def __init__(
        self,
        api_key: str = "luma-mock",
        *,
        queued_seconds: float = 0.2,
        run_seconds: float = 0.6,
        failure_words: dict[str, str] | None = None,
        media_size: tuple[int, int] = (64, 36),
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, prefix="/dream-machine/v1", host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.failure_words = dict(DEFAULT_FAILURES if failure_words is None else failure_words)
        self.media_size = media_size
        self.generations: dict[str, Generation] = {}
        self.deleted: set[str] = set()
        self.expired: set[str] = set()
        self._seq = 0

    # -- test-side controls ---------------------------------------------------------------

    def media(self) -> tuple[bytes, bytes]:
        """(MP4 video, JPEG still) every completed generation has (rendered once)."""
        return self.rendered(
            "media", lambda: render_clip_and_still(self.media_size, "videogate luma mock", "JPEG")
        )

    def expire_assets(self, generation_id: str) -> None:
        with self.lock:
            self.expired.add(generation_id)

    def add_generation(self, prompt: str, *, generation_type: str = "video") -> str:
        """A generation made elsewhere (another client of the same account)."""
        request = {"generation_type": generation_type, "model": "ray-2", "prompt": prompt}
        return self._new(request).id

    # -- protocol -------------------------------------------------------------------------

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        if status == 422:
            return {"detail": [{"loc": ["body", param], "msg": message, "type": "value_error"}]}
        return {"detail": message}

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.error_response(401, "Invalid API key is provided")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path("/generations/video"), self.create)
        app.router.add_post(self.path("/generations"), self.create)  # legacy alias
        app.router.add_get(self.path("/generations"), self.list_generations)
        app.router.add_get(self.path("/generations/{gen_id}"), self.retrieve)
        app.router.add_delete(self.path("/generations/{gen_id}"), self.delete)
        app.router.add_get("/_cdn/{gen_id}/{name}", self.asset)

    def _new(self, request: dict[str, Any]) -> Generation:
        prompt = str(request.get("prompt") or "").lower()
        failure = next((r for w, r in self.failure_words.items() if w in prompt), None)
        with self.lock:
            self._seq += 1
            gen = Generation(
                id=str(uuid.uuid4()),
                request=request,
                created=self.clock(),
                queued_seconds=self.queued_seconds,
                run_seconds=self.run_seconds,
                failure=failure,
                seq=self._seq,
            )
            self.generations[gen.id] = gen
        return gen

    def _json(self, gen: Generation) -> dict[str, Any]:
        state = gen.state_at(self.clock())
        created = datetime.fromtimestamp(gen.created, UTC).isoformat().replace("+00:00", "Z")
        assets = None
        if state == "completed":
            base = f"{self.origin}/_cdn/{gen.id}"
            assets = {"video": f"{base}/video.mp4", "image": f"{base}/video_0_thumb.jpg"}
        return {
            "id": gen.id,
            "generation_type": gen.request.get("generation_type", "video"),
            "state": state,
            "failure_reason": gen.failure if state == "failed" else None,
            "created_at": created,
            "assets": assets,
            "model": gen.request.get("model"),
            "request": gen.request,
        }

    async def create(self, request: web.Request) -> web.Response:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise Invalid("body", "Input should be a valid dictionary")
        self._validate(body)
        return self.json_response(self._json(self._new(body)), status=201)

    @staticmethod
    def _validate(body: dict[str, Any]) -> None:
        for name in body:
            if name not in FIELDS:
                raise Invalid(name, "Extra inputs are not permitted")
        choices = {
            "model": MODELS,
            "aspect_ratio": ASPECT_RATIOS,
            "resolution": RESOLUTIONS,
            "duration": DURATIONS,
            "generation_type": ("video",),
        }
        if "model" not in body:
            raise Invalid("model", "Field required")
        for name, allowed in choices.items():
            if name in body and body[name] not in allowed:
                raise Invalid(name, f"Input should be {', '.join(repr(a) for a in allowed)}")
        if not isinstance(body.get("prompt", ""), str):
            raise Invalid("prompt", "Input should be a valid string")
        if "loop" in body and not isinstance(body["loop"], bool):
            raise Invalid("loop", "Input should be a valid boolean")
        keyframes = body.get("keyframes", {})
        if not isinstance(keyframes, dict) or set(keyframes) - {"frame0", "frame1"}:
            raise Invalid("keyframes", "Input should be an object with frame0 and/or frame1")
        for frame in keyframes.values():
            image = isinstance(frame, dict) and frame.get("type") == "image"
            url = frame.get("url") if isinstance(frame, dict) else None
            if image and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                raise Invalid("keyframes", "URL scheme should be 'http' or 'https'")
            if not image and not (isinstance(frame, dict) and frame.get("type") == "generation"):
                raise Invalid("keyframes", "Input tag should be 'image' or 'generation'")

    def _lookup(self, gen_id: str) -> Generation:
        with self.lock:
            gen = self.generations.get(gen_id)
            if gen is None or gen_id in self.deleted:
                raise ApiError(404, "Generation not found")
            return gen

    async def retrieve(self, request: web.Request) -> web.Response:
        return self.json_response(self._json(self._lookup(request.match_info["gen_id"])))

    async def list_generations(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            raise Invalid("limit", "Input should be a valid integer") from None
        with self.lock:
            live = [g for g in self.generations.values() if g.id not in self.deleted]
        live.sort(key=lambda g: g.seq, reverse=True)
        page = live[offset : offset + limit]
        return self.json_response(
            {
                "generations": [self._json(g) for g in page],
                "has_more": offset + limit < len(live),
                "count": len(page),
                "limit": limit,
                "offset": offset,
            }
        )

    async def delete(self, request: web.Request) -> web.Response:
        gen = self._lookup(request.match_info["gen_id"])
        with self.lock:
            self.deleted.add(gen.id)
        return web.Response(status=204)

    async def asset(self, request: web.Request) -> web.Response:
        gen_id, name = request.match_info["gen_id"], request.match_info["name"]
        with self.lock:
            gone = gen_id in self.expired or gen_id in self.deleted
            gen = self.generations.get(gen_id)
        if gone:
            return web.Response(status=403, text="AccessDenied")
        if gen is None or gen.state_at(self.clock()) != "completed":
            return web.Response(status=404, text="NoSuchKey")
        video, still = self.media()
        if name == "video.mp4":
            return web.Response(body=video, content_type="video/mp4")
        if name == "video_0_thumb.jpg":
            return web.Response(body=still, content_type="image/jpeg")
        return web.Response(status=404, text="NoSuchKey")
