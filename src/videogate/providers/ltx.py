"""`ltx`: Lightricks' LTX-2 API (api.ltx.video), whose calls answer synchronously with the MP4.

`POST /v1/text-to-video` or `/v1/image-to-video` `{"prompt", "model", "duration",
"resolution": "1920x1080", "fps", "generate_audio", "camera_motion", "image_uri",
"last_frame_uri"}` keeps the connection open while it renders and answers the video itself
(`Content-Type: video/mp4`, `x-request-id`). The gateway's videos are jobs, so this adapter
makes one: `create` writes a job file in its state directory and starts the call in a
background task it owns, which streams the MP4 next to the job file; `retrieve` reads the
file (queued while waiting for a call slot, then in_progress with progress estimated from
the elapsed time, then completed or failed), `content` serves the MP4 from disk and `delete`
removes it once the call has ended.

An error LTX answers within `early_error_seconds` (auth, validation, credits: it checks
before rendering) refuses the create itself, so no job is recorded and another key or a
fallback can be tried; a later one fails the job with a mapped error. A call cannot outlive
the process that makes it and LTX keeps no job to re-attach to, so: a gateway shutting down
fails its calls at once ("interrupted"), and the owning process refreshes the job file's
heartbeat while a call runs, so any process that reads a running job whose heartbeat is
older than `orphan_after_seconds` (a crash, kill -9) fails it as interrupted too. Either way
the job ends `failed` with `internal_error` and a message saying it is safe to create it
again; it never hangs. The state directory must be shared by the gateway's processes.

Options: `state_dir` (given by the registry), `generation_timeout_seconds` (900),
`early_error_seconds` (2), `heartbeat_seconds` (5), `orphan_after_seconds` (60),
`expected_seconds` (a render's typical length, for progress; 60), `concurrent_calls` (4),
`default_seconds` (8), `max_video_bytes` (2 GiB).
Sources: docs.ltx.video (quickstart, API reference), ComfyUI comfy_api_nodes/nodes_ltxv.py;
see docs/providers/ltx.md for what is inferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from ..config import ProviderConfig, UpstreamKey
from ..errors import GatewayError, UpstreamError, UpstreamUnavailable, bad_request, whole_number
from ..video import Failure
from .base import (
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    Operation,
    Prepared,
    UpstreamVideo,
)
from .failures import not_ready
from .http import STREAM_CHUNK, HttpProvider
from .media import display_url, image_url_input
from .params import ExtraKind, coerce_extras, refuse_reserved
from .specs import ModelSpec
from .tiers import size_for

log = logging.getLogger("videogate.providers.ltx")

DEFAULT_BASE_URL = "https://api.ltx.video"
ROUTES = {False: "/v1/text-to-video", True: "/v1/image-to-video"}  # by "has an image"
JOB_ID = re.compile(r"ltx_[0-9a-f]{32}")
ACTIVE = frozenset({"queued", "in_progress"})

LANDSCAPE = ("1920x1080", "2560x1440", "3840x2160")
PORTRAIT = ("1080x1920", "1440x2560", "2160x3840")
LONG_SECONDS = (12, 14, 16, 18, 20)  # fast models only, at 1080p and 25 fps
MODELS: dict[str, ModelSpec] = {
    "ltx-2-fast": ModelSpec(
        seconds=(6, 8, 10, *LONG_SECONDS),
        sizes=LANDSCAPE,
        resolutions=("1080p", "1440p", "4k"),
        aspect_ratios=("16:9",),
        fps=(25, 50),
        audio=True,
        audio_default=True,
        image_input=True,
    ),
    "ltx-2-pro": ModelSpec(
        seconds=(6, 8, 10),
        sizes=LANDSCAPE,
        resolutions=("1080p", "1440p", "4k"),
        aspect_ratios=("16:9",),
        fps=(25, 50),
        audio=True,
        audio_default=True,
        image_input=True,
    ),
    "ltx-2-3-fast": ModelSpec(
        seconds=(6, 8, 10, *LONG_SECONDS),
        sizes=LANDSCAPE + PORTRAIT,
        resolutions=("1080p", "1440p", "4k"),
        aspect_ratios=("16:9", "9:16"),
        fps=(24, 25, 48, 50),
        audio=True,
        audio_default=True,
        image_input=True,
        last_frame=True,
    ),
    "ltx-2-3-pro": ModelSpec(
        seconds=(6, 8, 10),
        sizes=LANDSCAPE + PORTRAIT,
        resolutions=("1080p", "1440p", "4k"),
        aspect_ratios=("16:9", "9:16"),
        fps=(24, 25, 48, 50),
        audio=True,
        audio_default=True,
        image_input=True,
        last_frame=True,
    ),
}
LONG_ONLY_AT = ("1920x1080", "1080x1920")
LONG_ONLY_FPS = 25
DEFAULT_SIZE = "1920x1080"
MAX_DATA_URI = 7 * 1024 * 1024  # an image data URI may be at most 7 MB encoded
MAX_PROMPT = 5000

# HTTP status of a failed call -> canonical failure (4xx not listed: invalid_request; 5xx
# not listed: internal_error).
STATUS_FAILURES: dict[int, str] = {429: Failure.INTERNAL, 408: Failure.INTERNAL}
INTERRUPTED = (
    "The synchronous LTX call for this video was interrupted ({why}); LTX keeps no job to "
    "resume, so nothing more will arrive. It is safe to create the video again."
)
DERIVED: dict[str, str] = {
    "model": "model",
    "prompt": "prompt",
    "duration": "seconds",
    "resolution": "size (or resolution)",
    "fps": "fps",
    "generate_audio": "generate_audio",
    "image_uri": "input_reference",
    "last_frame_uri": "last_frame",
}
DERIVED_MESSAGE = "{name!r} is derived from the request's {source}; set that instead."
EXTRA_KINDS: dict[str, ExtraKind] = {"camera_motion": str}


def call_failure(exc: GatewayError) -> dict[str, str]:
    """The failed job's error for a call that ended in `exc`."""
    fallback = Failure.INTERNAL if exc.status >= 500 else Failure.INVALID
    return {"code": STATUS_FAILURES.get(exc.status, fallback), "message": exc.message}


class LtxProvider(HttpProvider):
    type_name = "ltx"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.DELETE,
            Capability.IMAGE_INPUT,
            Capability.AUDIO,
        }
    )
    default_poll_after_ms = 2000
    needs_state_dir = True
    default_base_url = DEFAULT_BASE_URL
    models = MODELS

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        opts = config.options
        self.state_dir = Path(opts.get("state_dir", f".videogate/{provider_id}"))
        self.generation_timeout = float(opts.get("generation_timeout_seconds", 900))
        self.early_error_seconds = float(opts.get("early_error_seconds", 2.0))
        self.heartbeat_seconds = float(opts.get("heartbeat_seconds", 5.0))
        self.orphan_after = float(opts.get("orphan_after_seconds", 60.0))
        self.expected_seconds = float(opts.get("expected_seconds", 60.0))
        self.default_seconds = int(opts.get("default_seconds", 8))
        self.max_video_bytes = int(opts.get("max_video_bytes", 2 * 1024**3))
        self._slots = asyncio.Semaphore(int(opts.get("concurrent_calls", 4)))
        self._calls: dict[str, asyncio.Task[GatewayError | None]] = {}
        self._closing = False
        if self.orphan_after <= self.heartbeat_seconds * 2:
            raise ValueError(
                f"provider {provider_id!r}: orphan_after_seconds must exceed twice "
                "heartbeat_seconds, or a live call could be taken for an orphan"
            )

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The endpoint and JSON body; 400s for what LTX refuses (the model table has been
        checked by the gateway already; the rules that join fields are checked here)."""
        if params.operation is not Operation.CREATE:
            raise bad_request(
                "unsupported_operation",
                f"The LTX adapter does not {params.operation.value} videos.",
                "model",
            )
        if len(params.prompt) > MAX_PROMPT:
            raise bad_request(
                "prompt_too_long", f"LTX prompts are at most {MAX_PROMPT} characters.", "prompt"
            )
        extra = coerce_extras(params.extra, EXTRA_KINDS)
        refuse_reserved(extra, DERIVED, DERIVED_MESSAGE)
        size = self._size(params)
        seconds = (
            self.default_seconds if params.seconds is None else whole_number(params.seconds, 3)
        )
        if seconds is None:
            raise bad_request(
                "invalid_seconds", f"LTX renders whole seconds, not {params.seconds!r}.", "seconds"
            )
        if seconds in LONG_SECONDS and (
            size not in LONG_ONLY_AT or (params.fps or LONG_ONLY_FPS) != LONG_ONLY_FPS
        ):
            raise bad_request(
                "invalid_seconds",
                f"LTX renders more than 10 seconds only at {' or '.join(LONG_ONLY_AT)} and "
                f"{LONG_ONLY_FPS} fps.",
                "seconds",
            )
        body: dict[str, Any] = {
            "prompt": params.prompt,
            "model": params.model,
            "duration": seconds,
            "resolution": size,
        }
        for name in ("fps", "generate_audio"):
            if getattr(params, name) is not None:
                body[name] = getattr(params, name)
        body.update(extra)
        shown = dict(body)
        for name, ref, param in (
            ("image_uri", params.input_reference, "input_reference"),
            ("last_frame_uri", params.last_frame, "last_frame"),
        ):
            if ref is None:
                continue
            uri = image_url_input(ref, "LTX")
            if uri.startswith("data:") and len(uri) > MAX_DATA_URI:
                raise bad_request(
                    "input_reference_too_large",
                    f"LTX takes data: URIs up to {MAX_DATA_URI // (1024 * 1024)} MB encoded; "
                    "host the image and give its https URL.",
                    param,
                )
            body[name], shown[name] = uri, display_url(uri)
        if "last_frame_uri" in body and "image_uri" not in body:
            raise bad_request(
                "input_reference_required",
                "LTX interpolates to a last frame only from a first frame: give an "
                "input_reference too.",
                "input_reference",
            )
        route = ROUTES["image_uri" in body]
        return Prepared(params, body, shown, route, size=size, seconds=str(seconds))

    @staticmethod
    def _size(params: CreateParams) -> str:
        """LTX's `resolution` (`WxH`): the size, or the tier and aspect ratio, as given."""
        if params.size is not None:
            if params.resolution or params.aspect_ratio:
                raise bad_request(
                    "invalid_parameter",
                    "Give either size or resolution/aspect_ratio, not both.",
                    "size",
                )
            return params.size
        if params.resolution is None and params.aspect_ratio is None:
            return DEFAULT_SIZE
        size = size_for(params.resolution or "1080p", params.aspect_ratio or "16:9")
        if size is None:
            raise bad_request(
                "invalid_resolution",
                f"LTX renders {', '.join(LANDSCAPE + PORTRAIT)}.",
                "resolution",
            )
        return size

    # -- job files ------------------------------------------------------------------------
    def _path(self, video_id: str, suffix: str = "json") -> Path:
        if not JOB_ID.fullmatch(video_id):
            raise UpstreamError(404, f"No LTX job {video_id!r}.", provider=self.id)
        return self.state_dir / f"{video_id}.{suffix}"

    def _load(self, video_id: str) -> dict[str, Any]:
        try:
            return dict(orjson.loads(self._path(video_id).read_bytes()))
        except FileNotFoundError:
            raise UpstreamError(404, f"No LTX job {video_id!r}.", provider=self.id) from None

    def _save(self, job: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / f".{job['id']}.{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(orjson.dumps(job))
        tmp.replace(self._path(job["id"]))

    def _update(self, video_id: str, **changes: Any) -> dict[str, Any] | None:
        """Read, change and write a job file (None: it was deleted). No await in between,
        so writes within this process never interleave."""
        try:
            job = self._load(video_id)
        except UpstreamError:
            return None
        job.update(changes)
        self._save(job)
        return job

    def _remove(self, video_id: str) -> None:
        for suffix in ("json", "mp4", "mp4.part"):
            with contextlib.suppress(FileNotFoundError):
                self._path(video_id, suffix).unlink()

    def _view(self, job: dict[str, Any]) -> UpstreamVideo:
        """The job as an UpstreamVideo; a running job nobody keeps alive is failed first."""
        now = time.time()
        orphaned = now - float(job.get("heartbeat") or 0) > self.orphan_after
        if job["status"] in ACTIVE and job["id"] not in self._calls and orphaned:
            why = "the gateway process making it stopped"
            job = self._update(job["id"], **self._failed(INTERRUPTED.format(why=why))) or job
        status = job["status"]
        progress = {"completed": 100, "queued": 0}.get(status, 0)
        if status == "in_progress":
            started = float(job.get("started") or now)
            progress = min(95, int((now - started) / self.expected_seconds * 100))
        return UpstreamVideo(
            id=job["id"],
            status=status,
            progress=progress,
            created_at=int(job["created"]),
            completed_at=int(job["completed"]) if job.get("completed") else None,
            model=job["model"],
            prompt=job["prompt"],
            size=job["size"],
            seconds=job["seconds"],
            error=job.get("error"),
            raw={k: v for k, v in job.items() if k != "error"},
        )

    @staticmethod
    def _failed(message: str, code: str = Failure.INTERNAL) -> dict[str, Any]:
        return {
            "status": "failed",
            "completed": time.time(),
            "error": {"code": code, "message": message},
        }

    # -- the synchronous call, in the background ------------------------------------------
    async def _run(
        self, video_id: str, prepared: Prepared, key: UpstreamKey
    ) -> GatewayError | None:
        """Make the call and record its outcome in the job file; the error it ended in
        (for `create`'s early refusal), or None."""
        beat = asyncio.get_running_loop().create_task(self._heartbeat(video_id))
        try:
            async with self._slots:
                if self._update(video_id, status="in_progress", started=time.time()) is None:
                    return None  # deleted while waiting for a slot
                request_id, size = await self._call(video_id, prepared, key)
            self._path(video_id, "mp4.part").replace(self._path(video_id, "mp4"))
            self._update(
                video_id,
                status="completed",
                completed=time.time(),
                request_id=request_id,
                bytes=size,
            )
            return None
        except GatewayError as exc:
            self._update(video_id, **self._failed(exc.message, call_failure(exc)["code"]))
            return exc
        except asyncio.CancelledError:
            why = "the gateway shut down" if self._closing else "it was cancelled"
            self._update(video_id, **self._failed(INTERRUPTED.format(why=why)))
            raise
        except Exception:  # a bug here must still end the job
            log.exception("ltx call for %s failed unexpectedly", video_id)
            self._update(video_id, **self._failed("The LTX call failed in the gateway."))
            return None
        finally:
            beat.cancel()
            with contextlib.suppress(FileNotFoundError):
                self._path(video_id, "mp4.part").unlink()

    async def _heartbeat(self, video_id: str) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            job = self._update(video_id, heartbeat=time.time())
            if job is None or job["status"] not in ACTIVE:
                return

    async def _call(
        self, video_id: str, prepared: Prepared, key: UpstreamKey
    ) -> tuple[str | None, int]:
        """POST the body and stream the MP4 answer into `<id>.mp4.part`; (x-request-id, bytes)."""
        url = self._base(key) + prepared.route
        headers = {**self._headers(key), "Content-Type": "application/json", "Accept": "video/mp4"}
        timeout = aiohttp.ClientTimeout(
            total=self.generation_timeout,
            sock_connect=self.config.connect_timeout_seconds,
            sock_read=self.generation_timeout,
        )
        try:
            async with self.session.post(
                url,
                data=orjson.dumps(prepared.body),
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                if resp.status >= 400:
                    self._raise_for(resp.status, await resp.read(), resp.headers)
                ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
                if resp.status != 200 or not ctype.startswith("video/"):
                    raise self.bad_response(
                        f"Provider {self.id!r} answered HTTP {resp.status} {ctype or 'untyped'} "
                        "instead of a video.",
                        (await resp.content.read(4096)).decode("utf-8", "replace"),
                    )
                size = await self._save_stream(video_id, resp)
                return resp.headers.get("x-request-id"), size
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._unavailable(exc) from None

    async def _save_stream(self, video_id: str, resp: aiohttp.ClientResponse) -> int:
        written = 0
        with self._path(video_id, "mp4.part").open("wb") as fh:
            async for chunk in resp.content.iter_chunked(STREAM_CHUNK):
                written += len(chunk)
                if written > self.max_video_bytes:
                    raise UpstreamUnavailable(
                        502,
                        "upstream_response_too_large",
                        f"Provider {self.id!r} sent a video over {self.max_video_bytes} bytes.",
                        self.id,
                    )
                fh.write(chunk)
        if written == 0:
            raise self.bad_response(f"Provider {self.id!r} answered an empty video.", None)
        return written

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        now = time.time()
        job: dict[str, Any] = {
            "id": f"ltx_{uuid.uuid4().hex}",
            "status": "queued",
            "created": now,
            "heartbeat": now,
            "model": prepared.params.model,
            "prompt": prepared.params.prompt,
            "size": prepared.size,
            "seconds": prepared.seconds,
            "route": prepared.route,
            "request": prepared.shown,
            "key": key.name,
        }
        self._save(job)
        call = asyncio.get_running_loop().create_task(self._run(job["id"], prepared, key))
        self._calls[job["id"]] = call
        call.add_done_callback(lambda _: self._calls.pop(job["id"], None))
        ctx.record(request=prepared.shown)
        try:
            await asyncio.wait({call}, timeout=self.early_error_seconds)
        except asyncio.CancelledError:
            call.cancel()
            self._remove(job["id"])
            raise
        if call.done() and not call.cancelled() and (refused := call.result()) is not None:
            # LTX refused before rendering: no job exists; relay the refusal instead.
            self._remove(job["id"])
            raise refused
        video = self._view(self._load(job["id"]))
        ctx.record(response=video.raw)
        return video

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        video = self._view(self._load(video_id))
        ctx.record(request={"job": video_id}, response=video.raw)
        return video

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        video = self._view(self._load(video_id))
        if video.status != "completed":
            raise not_ready(self.id, f"LTX job {video_id!r} is {video.status}; no video yet.")
        try:
            fh = self._path(video_id, "mp4").open("rb")
        except FileNotFoundError:
            raise UpstreamError(
                404, f"The video of LTX job {video_id!r} is gone.", provider=self.id
            ) from None
        length = os.fstat(fh.fileno()).st_size

        async def chunks() -> AsyncIterator[bytes]:
            while data := await asyncio.to_thread(fh.read, STREAM_CHUNK):
                yield data

        async def close() -> None:
            fh.close()

        return Content(chunks(), "video/mp4", length, close)

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        """Remove the job and its MP4 once the call has ended; a call still rendering is
        waited out (it is paid for either way), so the deletion stays pending."""
        try:
            video = self._view(self._load(video_id))
        except UpstreamError:
            return DeleteResult(deleted=True, detail="already gone")
        if video.status in ACTIVE:
            return DeleteResult(deleted=False, pending=True, detail="the LTX call is still running")
        self._remove(video_id)
        ctx.record(request={"delete": video_id}, response={"id": video_id, "deleted": True})
        return DeleteResult(deleted=True)

    async def aclose(self) -> None:
        """Cancel this process's calls (each job is failed as interrupted), then close."""
        self._closing = True
        calls = list(self._calls.values())
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await super().aclose()
