"""`simulated`: a built-in provider that needs no key and really renders an MP4.

It lets the embedded default work offline. Each job is a JSON file under the provider's state
directory, so jobs survive a gateway restart; its status is derived from wall-clock time since
creation (queued, then in_progress with rising progress, then completed once the clip is
rendered). Rendering runs in a worker thread, a bounded number at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import orjson

from ..config import ProviderConfig, UpstreamKey
from ..errors import UpstreamError, bad_request, whole_number
from .base import (
    VARIANT_TYPES,
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    Prepared,
    Provider,
    UpstreamVideo,
)
from .simulated_render import render_assets

SIZE_RE = re.compile(r"^(\d{2,4})x(\d{2,4})$")
VARIANT_SUFFIX = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpg"}
# `simulated_failure` extra parameter -> the error the job ends with (for trying failure paths).
FAILURES: dict[str, dict[str, str]] = {
    "moderation": {
        "code": "moderation_blocked",
        "message": "The simulated provider's moderation rejected this prompt.",
    },
    "internal_error": {
        "code": "internal_error",
        "message": "The simulated provider failed while rendering.",
    },
}
CHUNK = 256 * 1024


def _status_option(value: Any) -> int | None:
    """`options.fail_create`: an HTTP error status (400-599), or nothing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ValueError(f"options.fail_create must be an HTTP status 400-599, not {value!r}")
    return value


class SimulatedProvider(Provider):
    type_name = "simulated"
    capabilities = frozenset(Capability)
    default_poll_after_ms = 500
    needs_key: ClassVar[bool] = False
    needs_state_dir: ClassVar[bool] = True

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        opts = config.options
        self.state_dir = Path(opts.get("state_dir", ".videogate/simulated"))
        self.generation_seconds = float(opts.get("generation_seconds", 3.0))
        self.fps = int(opts.get("fps", 24))
        self.max_seconds = int(opts.get("max_seconds", 20))
        self.max_dimension = int(opts.get("max_dimension", 1920))
        self.default_size = str(opts.get("default_size", "720x1280"))
        self.default_seconds = str(opts.get("default_seconds", "4"))
        # `fail_create: 503` makes every create answer that status (failover, offline);
        # `create_delay_seconds` holds each create that long first (a slow host).
        self.fail_create = _status_option(opts.get("fail_create"))
        self.create_delay = float(opts.get("create_delay_seconds", 0.0))
        # `report_usage: true`: a completed job reports the tokens it rendered, as
        # Seedance 2.x does (width x height x fps x seconds / 1024), for settlement.
        self.report_usage = bool(opts.get("report_usage", False))
        self._renders: dict[str, asyncio.Task[None]] = {}
        self._render_slots = asyncio.Semaphore(int(opts.get("concurrent_renders", 2)))

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """Size, seconds and the failure switch checked; the job file is the "request"."""
        size = params.size or self.default_size
        m = SIZE_RE.match(size)
        allowed = f"WIDTHxHEIGHT with even sides from 16 to {self.max_dimension}"
        if not m:
            raise bad_request("invalid_size", f"size {size!r} is not {allowed}.", "size")
        w, h = int(m.group(1)), int(m.group(2))
        if w % 2 or h % 2 or not (16 <= w <= self.max_dimension and 16 <= h <= self.max_dimension):
            raise bad_request("invalid_size", f"size {size!r} is not {allowed}.", "size")
        seconds = params.seconds or self.default_seconds
        whole = whole_number(seconds, 3)
        if whole is None or not 1 <= whole <= self.max_seconds:
            raise bad_request(
                "invalid_seconds",
                f"seconds {seconds!r} must be a whole number from 1 to {self.max_seconds}.",
                "seconds",
            )
        failure = params.extra.get("simulated_failure")
        if failure is not None and (not isinstance(failure, str) or failure not in FAILURES):
            raise bad_request(
                "invalid_parameter",
                f"simulated_failure must be one of {sorted(FAILURES)}.",
                "simulated_failure",
            )
        pace = params.extra.get("simulated_generation_seconds")
        if pace is not None:
            try:
                ok = 0 <= float(pace) <= 3600
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise bad_request(
                    "invalid_parameter",
                    "simulated_generation_seconds must be a number from 0 to 3600.",
                    "simulated_generation_seconds",
                )
        shown = {"model": params.model, "prompt": params.prompt}
        return Prepared(params, shown=shown, size=size, seconds=seconds)

    # -- state files ----------------------------------------------------------------------
    def _path(self, video_id: str, suffix: str = "json") -> Path:
        if not re.fullmatch(r"video_[0-9a-f]{32}", video_id):
            raise UpstreamError(404, f"Video {video_id!r} not found.", code="video_not_found")
        return self.state_dir / f"{video_id}.{suffix}"

    def _load(self, video_id: str) -> dict[str, Any]:
        try:
            return dict(orjson.loads(self._path(video_id).read_bytes()))
        except FileNotFoundError:
            raise UpstreamError(
                404, f"Video {video_id!r} not found.", code="video_not_found"
            ) from None

    def _save(self, job: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / f".{job['id']}.json.tmp"
        tmp.write_bytes(orjson.dumps(job))
        tmp.replace(self._path(job["id"]))

    def _tokens(self, job: dict[str, Any]) -> float:
        width, _, height = str(job["size"]).partition("x")
        return int(width) * int(height) * self.fps * float(job["seconds"]) / 1024

    def _view(self, job: dict[str, Any]) -> UpstreamVideo:
        """The job's status now, starting its render if it is due and not yet rendering."""
        elapsed = time.time() - job["created_ts"]
        gen = job["generation_seconds"]
        common: dict[str, Any] = {
            "id": job["id"],
            "created_at": int(job["created_ts"]),
            "model": job["model"],
            "prompt": job["prompt"],
            "size": job["size"],
            "seconds": job["seconds"],
            "remixed_from": job.get("remixed_from"),
            "raw": job,
        }
        if elapsed < gen * 0.1:
            return UpstreamVideo(status="queued", progress=0, **common)
        done_at = int(job["created_ts"] + gen)
        if elapsed >= gen and job.get("failure"):
            return UpstreamVideo(
                status="failed",
                progress=100,
                completed_at=done_at,
                error=FAILURES[job["failure"]],
                **common,
            )
        if elapsed >= gen and self._path(job["id"], "mp4").exists():
            return UpstreamVideo(
                status="completed",
                progress=100,
                completed_at=done_at,
                tokens=self._tokens(job) if self.report_usage else None,
                **common,
            )
        if not job.get("failure"):
            self._ensure_render(job)
        return UpstreamVideo(
            status="in_progress", progress=min(99, int(elapsed / gen * 100)), **common
        )

    def _ensure_render(self, job: dict[str, Any]) -> None:
        vid = job["id"]
        if vid in self._renders or self._path(vid, "mp4").exists():
            return
        self._renders[vid] = asyncio.get_running_loop().create_task(self._render(job))

    async def _render(self, job: dict[str, Any]) -> None:
        try:
            async with self._render_slots:
                if not self._path(job["id"]).exists():
                    return  # deleted while waiting
                w, h = (int(x) for x in job["size"].split("x"))
                await asyncio.to_thread(
                    render_assets,
                    self.state_dir,
                    job["id"],
                    w,
                    h,
                    float(job["seconds"]),
                    self.fps,
                    job["prompt"],
                )
                if not self._path(job["id"]).exists():  # deleted while rendering
                    self._remove_assets(job["id"])
        finally:
            self._renders.pop(job["id"], None)

    def _remove_assets(self, video_id: str) -> None:
        for suffix in VARIANT_SUFFIX.values():
            with contextlib.suppress(FileNotFoundError):
                self._path(video_id, suffix).unlink()

    def _new_job(self, params: CreateParams, remixed_from: str | None = None) -> dict[str, Any]:
        job = {
            "id": f"video_{uuid.uuid4().hex}",
            "created_ts": time.time(),
            "generation_seconds": float(
                params.extra.get("simulated_generation_seconds", self.generation_seconds)
            ),
            "model": params.model,
            "prompt": params.prompt,
            "size": params.size or self.default_size,
            "seconds": params.seconds or self.default_seconds,
            "failure": params.extra.get("simulated_failure"),
            "remixed_from": remixed_from,
            "has_input_reference": params.input_reference is not None,
        }
        self._save(job)
        if not job["failure"]:
            self._ensure_render(job)
        return job

    # -- the interface --------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        if self.fail_create is not None:
            ctx.record(request=prepared.shown)
            raise UpstreamError(
                self.fail_create,
                f"The simulated provider {self.id!r} is configured to fail creates "
                f"(options.fail_create: {self.fail_create}).",
                code="simulated_create_failure",
                provider=self.id,
            )
        job = self._new_job(prepared.params)
        ctx.record(request=prepared.shown, response=job)
        return self._view(job)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        job = self._load(video_id)
        ctx.record(response=job)
        return self._view(job)

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        job = self._load(video_id)
        if self._view(job).status != "completed":
            raise UpstreamError(
                409, f"Video {video_id!r} is not completed yet.", code="video_not_ready"
            )
        path = self._path(video_id, VARIANT_SUFFIX[variant])
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise UpstreamError(
                404, f"No {variant} for {video_id!r}.", code="variant_not_found"
            ) from None
        size = os.fstat(fh.fileno()).st_size

        async def chunks() -> AsyncIterator[bytes]:
            while data := await asyncio.to_thread(fh.read, CHUNK):
                yield data

        async def close() -> None:
            fh.close()

        return Content(chunks(), VARIANT_TYPES[variant], size, close)

    async def remix(
        self, video_id: str, prompt: str, key: UpstreamKey, ctx: CallContext
    ) -> UpstreamVideo:
        source = self._load(video_id)
        if self._view(source).status != "completed":
            raise UpstreamError(
                400,
                f"Video {video_id!r} must be completed before it can be remixed.",
                code="invalid_state",
            )
        params = CreateParams(
            model=source["model"], prompt=prompt, seconds=source["seconds"], size=source["size"]
        )
        job = self._new_job(params, remixed_from=video_id)
        ctx.record(request={"prompt": prompt}, response=job)
        return self._view(job)

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        job = self._load(video_id)
        running = self._view(job).status not in ("completed", "failed")
        with contextlib.suppress(FileNotFoundError):
            self._path(video_id).unlink()
        task = self._renders.get(video_id)
        if task is None:
            self._remove_assets(video_id)
        # A render in flight notices its job file is gone and removes what it wrote.
        ctx.record(request={"delete": video_id}, response={"id": video_id, "deleted": True})
        return DeleteResult(deleted=True, cancelled=running)

    async def aclose(self) -> None:
        for task in list(self._renders.values()):
            task.cancel()
        self._renders.clear()
