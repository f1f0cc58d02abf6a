"""Loopback mock of Luma's Dream Machine API (api.lumalabs.ai/dream-machine/v1).

Speaks the wire format of lumalabs/lumaai-python @c00ac17 and the Dream Machine OpenAPI
1.1.0: Bearer auth, `POST /generations/video` (201, a Generation object), `GET
/generations/{id}` whose `state` moves queued -> dreaming -> completed | failed with
wall-clock time, `GET /generations?limit&offset` (newest first, `has_more`/`count`),
`DELETE /generations/{id}` (204, then 404), and `POST /generations/video/modify` (an edit:
`media.url` of the source, one of nine `mode`s, ray-2 or ray-flash-2). Errors are
`{"detail": "<text>"}`; body validation errors are FastAPI's 422 `{"detail": [{"loc",
"msg", "type"}]}` (inferred from Luma's `detail` envelope).

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
MODIFY_MODELS = ("ray-2", "ray-flash-2")
MODIFY_MODES = tuple(f"{k}_{n}" for k in ("adhere", "flex", "reimagine") for n in (1, 2, 3))
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
        app.router.add_post(self.path("/generations/video/modify"), self.modify)
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
        for frame in (body.get("keyframes") or {}).values():
            if frame.get("type") == "generation":
                source = self._lookup(frame["id"])
                if source.state_at(self.clock()) != "completed":
                    raise ApiError(400, "The referenced generation has not completed")
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
            if not image and not isinstance(frame.get("id"), str):
                raise Invalid("keyframes", "A generation keyframe needs the generation's id")

    async def modify(self, request: web.Request) -> web.Response:
        """`POST /generations/video/modify` (video_modify_params.py): `generation_type`
        "modify_video", `media.url`, `mode` and `model` required; `prompt`, `first_frame`
        and `callback_url` optional. The new generation has the source's frame (inferred:
        the output follows the input video)."""
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise Invalid("body", "Input should be a valid dictionary")
        allowed = {
            "generation_type",
            "media",
            "mode",
            "model",
            "prompt",
            "first_frame",
            "callback_url",
        }
        for name in body:
            if name not in allowed:
                raise Invalid(name, "Extra inputs are not permitted")
        for name in ("generation_type", "media", "mode", "model"):
            if name not in body:
                raise Invalid(name, "Field required")
        if body["generation_type"] != "modify_video":
            raise Invalid("generation_type", "Input should be 'modify_video'")
        if body["model"] not in MODIFY_MODELS:
            raise Invalid("model", f"Input should be {', '.join(map(repr, MODIFY_MODELS))}")
        if body["mode"] not in MODIFY_MODES:
            raise Invalid("mode", "Input should be one of the modify modes")
        for name in ("media", "first_frame"):
            ref = body.get(name)
            if ref is None and name == "first_frame":
                continue
            url = ref.get("url") if isinstance(ref, dict) else None
            if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                raise Invalid(name, "URL scheme should be 'http' or 'https'")
        gen = self._new(body)
        return self.json_response(self._json(gen), status=201)

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


# -- the Agents API (agents.lumalabs.ai/v1) -------------------------------------------------

AGENTS_TYPES = ("video", "video_edit", "video_reframe")
AGENTS_RATIOS = ("9:16", "3:4", "1:1", "4:3", "16:9", "21:9")
AGENTS_VIDEO_FIELDS = {
    "resolution", "duration", "loop", "hdr", "exr_export", "start_frame", "end_frame",
    "keyframes", "keyframe_indexes", "edit",
}  # fmt: skip
AGENTS_FAILURES = {"moderation": ("content_moderated", "The request was moderated.")}


class LumaAgentsMock(MockServer):
    """Luma's Agents API as docs.agents.lumalabs.ai describes it: Bearer auth, `POST
    /v1/generations` {model "ray-3.2", type video|video_edit|video_reframe, prompt,
    aspect_ratio, video{resolution 540p|720p|1080p, duration 5s|10s, start_frame, end_frame,
    edit}, source{generation_id|url|data+media_type}} answering the Generation object, and
    `GET /v1/generations/{id}` moving queued -> processing -> completed|failed with
    `output: [{type, url}]` (presigned, credential-free) or `failure_code`/`failure_reason`.
    Inferred: the 400 texts, and that an ImageRef `generation_id` must name a completed
    generation (extensions)."""

    public_paths = ("/_out/",)

    def __init__(
        self,
        api_key: str = "luma-api-mock",
        *,
        queued_seconds: float = 0.1,
        run_seconds: float = 0.3,
        media_size: tuple[int, int] = (64, 36),
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(api_key=api_key, prefix="/v1", host=host, clock=clock)
        self.queued_seconds = queued_seconds
        self.run_seconds = run_seconds
        self.media_size = media_size
        self.generations: dict[str, Generation] = {}

    def media(self) -> bytes:
        return self.rendered(
            "media",
            lambda: render_clip_and_still(self.media_size, "videogate luma agents", "JPEG")[0],
        )

    def error_body(
        self, status: int, message: str, *, type: str, param: str | None, code: str | None
    ) -> Any:
        return {"detail": message}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.path("/generations"), self.create)
        app.router.add_get(self.path("/generations/{gen_id}"), self.retrieve)
        app.router.add_get("/_out/{gen_id}.mp4", self.output)

    def _lookup(self, gen_id: str) -> Generation:
        with self.lock:
            gen = self.generations.get(gen_id)
        if gen is None:
            raise ApiError(404, "Generation not found")
        return gen

    def _state(self, gen: Generation) -> str:
        ended = "failed" if gen.failure else "completed"
        return ("queued", "processing", ended)[
            stage_at(self.clock() - gen.created, gen.queued_seconds, gen.run_seconds)
        ]

    def _json(self, gen: Generation) -> dict[str, Any]:
        state = self._state(gen)
        created = datetime.fromtimestamp(gen.created, UTC).isoformat().replace("+00:00", "Z")
        out: dict[str, Any] = {
            "id": gen.id,
            "created_at": created,
            "model": gen.request["model"],
            "state": state,
            "type": gen.request["type"],
        }
        if state == "completed":
            out["output"] = [{"type": "video", "url": f"{self.origin}/_out/{gen.id}.mp4"}]
        if state == "failed" and gen.failure:
            out["failure_code"], out["failure_reason"] = AGENTS_FAILURES[gen.failure]
        return out

    async def create(self, request: web.Request) -> web.Response:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Body must be a JSON object")
        unknown = set(body) - {
            "model",
            "type",
            "prompt",
            "aspect_ratio",
            "video",
            "source",
            "callback_url",
            "image_ref",
        }
        if unknown:
            raise ApiError(400, f"Unknown field: {sorted(unknown)[0]}")
        if body.get("model") != "ray-3.2":
            raise ApiError(400, "model: video generations take 'ray-3.2'")
        kind = body.get("type")
        if kind not in AGENTS_TYPES:
            raise ApiError(400, f"type: expected one of {list(AGENTS_TYPES)}")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 6000:
            raise ApiError(400, "prompt: 1 to 6000 characters")
        if body.get("aspect_ratio", "16:9") not in AGENTS_RATIOS:
            raise ApiError(400, f"aspect_ratio: expected one of {list(AGENTS_RATIOS)}")
        video = body.get("video") or {}
        if not isinstance(video, dict) or set(video) - AGENTS_VIDEO_FIELDS:
            raise ApiError(400, "video: unknown option")
        if video.get("resolution", "720p") not in ("540p", "720p", "1080p"):
            raise ApiError(400, "video.resolution: 540p, 720p or 1080p")
        if video.get("duration", "5s") not in ("5s", "10s"):
            raise ApiError(400, "video.duration: 5s or 10s")
        anchored = "start_frame" in video or "end_frame" in video
        if video.get("duration") == "10s" and (anchored or video.get("loop") or video.get("hdr")):
            raise ApiError(
                400, "video.duration 10s is not available with anchor frames, loop or HDR"
            )
        for name in ("start_frame", "end_frame"):
            if name in video:
                self._check_ref(name, video[name])
        if kind == "video_edit":
            self._check_source(body.get("source"))
        elif "source" in body:
            raise ApiError(400, "source: only for video_edit and video_reframe")
        failure = next((w for w in AGENTS_FAILURES if w in prompt.lower()), None)
        gen = Generation(
            id=str(uuid.uuid4()),
            request=body,
            created=self.clock(),
            queued_seconds=self.queued_seconds,
            run_seconds=self.run_seconds,
            failure=failure,
        )
        with self.lock:
            self.generations[gen.id] = gen
        return self.json_response(self._json(gen), status=201)

    def _check_ref(self, name: str, ref: Any) -> None:
        keys = set(ref) if isinstance(ref, dict) else set()
        if keys == {"url"} and str(ref["url"]).startswith(("http://", "https://")):
            return
        if keys == {"data", "media_type"} and str(ref["media_type"]).startswith("image/"):
            return
        if keys == {"generation_id"}:
            source = self._lookup(str(ref["generation_id"]))
            if self._state(source) != "completed":
                raise ApiError(400, f"{name}.generation_id: the generation has not completed")
            return
        raise ApiError(
            400, f"{name}: an ImageRef is {{url}}, {{data, media_type}} or {{generation_id}}"
        )

    def _check_source(self, source: Any) -> None:
        keys = set(source) if isinstance(source, dict) else set()
        if keys == {"generation_id"}:
            if self._state(self._lookup(str(source["generation_id"]))) != "completed":
                raise ApiError(400, "source.generation_id: the generation has not completed")
        elif keys == {"url"}:
            if not str(source["url"]).startswith(("http://", "https://")):
                raise ApiError(400, "source.url: http(s) only")
        elif keys == {"data", "media_type"}:
            if not str(source["media_type"]).startswith("video/"):
                raise ApiError(400, "source.media_type: a video type")
        else:
            raise ApiError(400, "source: generation_id, url, or data with media_type")

    async def retrieve(self, request: web.Request) -> web.Response:
        return self.json_response(self._json(self._lookup(request.match_info["gen_id"])))

    async def output(self, request: web.Request) -> web.Response:
        gen = self.generations.get(request.match_info["gen_id"])
        if gen is None or self._state(gen) != "completed":
            return web.Response(status=404, text="NoSuchKey")
        return web.Response(body=self.media(), content_type="video/mp4")
