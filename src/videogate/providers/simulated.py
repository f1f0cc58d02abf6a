"""`simulated`: a built-in provider that needs no key and really renders an MP4.

It lets the embedded default work offline. Each job is a JSON file under the provider's state
directory, so jobs survive a gateway restart; its status is derived from wall-clock time since
creation (queued, then in_progress with rising progress, then completed once the clip is
rendered). Rendering runs in a worker thread, a bounded number at a time.

Everything the gateway can ask for is really done: an edit re-renders the source's frames
tinted, with the prompt written over them; an extension plays the source and then a new
segment of `seconds`; characters and reference images are drawn in, labelled; a first or
last frame image opens or closes the clip; `generate_audio` adds an AAC tone; `fps`,
`resolution` and `aspect_ratio` shape the render. What a job needs (the source clip, the
images) is copied under `inputs/<job id>/` when it is created, and removed once it has
rendered, so a source deleted meanwhile does not matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
from PIL import Image

from ..config import ProviderConfig, UpstreamKey
from ..errors import UpstreamError, bad_request, whole_number
from .base import (
    VARIANT_TYPES,
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    InputReference,
    Operation,
    Prepared,
    Provider,
    UpstreamVideo,
)
from .footage import frames_at
from .media import decode_data_url
from .simulated_render import Inset, edit_frames, render_assets, render_frames, with_insets
from .specs import ModelSpec

log = logging.getLogger("videogate.simulated")

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
# `resolution` -> the short edge of the frame
RESOLUTIONS: dict[str, int] = {"360p": 360, "480p": 480, "720p": 720, "1080p": 1080}
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
MAX_FPS = 60
SPEC = ModelSpec(
    operations=frozenset(op.value for op in Operation),
    resolutions=tuple(RESOLUTIONS),
    aspect_ratios=ASPECT_RATIOS,
    audio=True,
    image_input=True,
    last_frame=True,
    max_reference_images=4,
    negative_prompt=True,
    seed=True,
)


def _even(value: float) -> int:
    return max(16, int(value) // 2 * 2)


def _size_for(resolution: str | None, aspect: str | None, default: str) -> str:
    """WxH from a resolution tier and an aspect ratio (either may be missing: the missing
    one is read off `default`)."""
    dw, dh = (int(x) for x in default.split("x"))
    if aspect is None:
        aw, ah = dw, dh
    else:
        aw, ah = (int(x) for x in aspect.split(":"))
    short = RESOLUTIONS[resolution] if resolution else min(dw, dh)
    if aw >= ah:
        return f"{_even(short * aw / ah)}x{_even(short)}"
    return f"{_even(short)}x{_even(short * ah / aw)}"


def _image_bytes(ref: InputReference | None, param: str) -> bytes | None:
    """The bytes of an image the render can draw (an upload or a data: URL); an http URL
    cannot be fetched offline and is only recorded."""
    if ref is None:
        return None
    if ref.data is not None:
        return ref.data
    if ref.image_url and ref.image_url.startswith("data:"):
        return decode_data_url(ref.image_url, param)[0]
    return None


@dataclass
class Images:
    """The pictures a job draws, checked at `prepare` (the simulated "request body"):
    labelled insets (characters, reference images) and whole first/last frames."""

    insets: list[tuple[str, bytes]] = field(default_factory=list)
    frames: dict[str, bytes] = field(default_factory=dict)


def _images(params: CreateParams) -> Images:
    found = Images()
    labelled = [("characters", c.name, c.image) for c in params.characters]
    labelled += [
        ("reference_images", f"reference {i + 1}", ref)
        for i, ref in enumerate(params.reference_images)
    ]
    for param, label, ref in labelled:
        data = _image_bytes(ref, param)
        if data is not None:
            found.insets.append((label, _checked(data, label, param)))
    for name, param, ref in (
        ("first_frame", "input_reference", params.input_reference),
        ("last_frame", "last_frame", params.last_frame),
    ):
        data = _image_bytes(ref, param)
        if data is not None:
            found.frames[name] = _checked(data, name, param)
    return found


def _status_option(value: Any) -> int | None:
    """`options.fail_create`: an HTTP error status (400-599), or nothing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ValueError(f"options.fail_create must be an HTTP status 400-599, not {value!r}")
    return value


class SimulatedProvider(Provider):
    type_name = "simulated"
    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.REMIX,
            Capability.DELETE,
            Capability.CANCEL,
            Capability.IMAGE_INPUT,
            Capability.THUMBNAIL,
            Capability.SPRITESHEET,
            Capability.EDIT,
            Capability.EXTEND,
            Capability.AUDIO,
            Capability.REFERENCES,
        }
    )
    default_poll_after_ms = 500
    needs_key: ClassVar[bool] = False
    needs_state_dir: ClassVar[bool] = True
    models: ClassVar[dict[str, ModelSpec]] = {"*": SPEC}

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
        self.max_total_seconds = int(opts.get("max_total_seconds", 60))
        self._renders: dict[str, asyncio.Task[None]] = {}
        self._render_slots = asyncio.Semaphore(int(opts.get("concurrent_renders", 2)))

    # -- request building -----------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """Size, seconds, the source and the failure switch checked; the job file is the
        "request"."""
        if params.operation is Operation.CREATE:
            size = self._size(params)
            seconds = self._whole_seconds(params.seconds or self.default_seconds, "seconds")
        else:
            size, seconds = self._from_source(params)
        if params.fps is not None and not 1 <= params.fps <= MAX_FPS:
            raise bad_request("invalid_fps", f"fps must be from 1 to {MAX_FPS}.", "fps")
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
        shown: dict[str, Any] = {"model": params.model, "prompt": params.prompt}
        if params.operation is not Operation.CREATE:
            shown["operation"] = params.operation.value
            assert params.source is not None
            shown["video"] = (
                params.source.upstream_id or f"<{len(params.source.data or b'')} bytes>"
            )
        return Prepared(params, _images(params), shown=shown, size=size, seconds=seconds)

    def _size(self, params: CreateParams) -> str:
        shaped = params.resolution is not None or params.aspect_ratio is not None
        size = params.size or (
            _size_for(params.resolution, params.aspect_ratio, self.default_size)
            if shaped
            else self.default_size
        )
        m = SIZE_RE.match(size)
        allowed = f"WIDTHxHEIGHT with even sides from 16 to {self.max_dimension}"
        if not m:
            raise bad_request("invalid_size", f"size {size!r} is not {allowed}.", "size")
        w, h = int(m.group(1)), int(m.group(2))
        if w % 2 or h % 2 or not (16 <= w <= self.max_dimension and 16 <= h <= self.max_dimension):
            raise bad_request("invalid_size", f"size {size!r} is not {allowed}.", "size")
        if params.size and shaped:
            implied = _size_for(params.resolution, params.aspect_ratio, params.size)
            if implied != params.size:
                raise bad_request(
                    "invalid_size",
                    f"size {params.size} contradicts resolution/aspect_ratio ({implied}); "
                    "send one or the other.",
                    "size",
                )
        return size

    def _whole_seconds(self, seconds: str, param: str) -> str:
        whole = whole_number(seconds, 3)
        if whole is None or not 1 <= whole <= self.max_seconds:
            raise bad_request(
                "invalid_seconds",
                f"{param} {seconds!r} must be a whole number from 1 to {self.max_seconds}.",
                "seconds",
            )
        return str(whole)

    def _from_source(self, params: CreateParams) -> tuple[str, str]:
        """(size, seconds) of an edit or extension: the source's frame (made even), and its
        length (an edit) or its length plus the new segment (an extension)."""
        source = params.source
        if source is None or (source.upstream_id is None and source.data is None):
            raise bad_request(
                "missing_video", "An edit or extension needs a source video.", "video"
            )
        if source.upstream_id is not None and source.data is None:
            job = self._load(source.upstream_id)
            if self._view(job).status != "completed":
                raise bad_request(
                    "video_not_ready",
                    f"Video {source.upstream_id!r} must be completed first.",
                    "video",
                )
        if params.size or params.resolution or params.aspect_ratio:
            raise bad_request(
                "invalid_size",
                f"An {params.operation.value} keeps its source's frame size; omit size, "
                "resolution and aspect_ratio.",
                "size",
            )
        m = SIZE_RE.match(source.size or "")
        if m is None:
            raise bad_request("invalid_video", "The source video's frame size is unknown.", "video")
        w = min(self.max_dimension, _even(int(m.group(1))))
        h = min(self.max_dimension, _even(int(m.group(2))))
        base = source.seconds or 0.0
        if params.operation is Operation.EDIT:
            if params.seconds is not None:
                raise bad_request(
                    "invalid_seconds", "An edit keeps its source's length; omit seconds.", "seconds"
                )
            total = base
        else:
            total = base + int(self._whole_seconds(params.seconds or "", "seconds"))
        if not 0 < total <= self.max_total_seconds:
            raise bad_request(
                "invalid_seconds",
                f"The result would last {total:g} seconds; at most {self.max_total_seconds}.",
                "seconds",
            )
        return f"{w}x{h}", f"{total:g}"

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
                try:
                    await asyncio.to_thread(self._render_job, job)
                except Exception:  # an unreadable source, a bad image: the job fails
                    log.exception("simulated render of %s failed", job["id"])
                    if self._path(job["id"]).exists():
                        self._save({**job, "failure": "internal_error"})
                    return
                if not self._path(job["id"]).exists():  # deleted while rendering
                    self._remove_assets(job["id"])
                else:
                    self._remove_inputs(job["id"])
        finally:
            self._renders.pop(job["id"], None)

    def _render_job(self, job: dict[str, Any]) -> None:
        """Compose the frames the job asks for, then encode them (in a worker thread)."""
        w, h = (int(x) for x in job["size"].split("x"))
        fps = int(job.get("fps") or self.fps)
        seconds = float(job["seconds"])
        inputs = self._inputs(job["id"])
        insets = [
            Inset(item["label"], Image.open(inputs / item["file"]))
            for item in job.get("insets", [])
        ]
        operation = job.get("operation", Operation.CREATE.value)
        if operation == Operation.CREATE.value:
            frames = with_insets(render_frames(w, h, seconds, fps, job["prompt"]), insets)
            for index, name in ((0, "first_frame"), (-1, "last_frame")):
                if job.get(name):
                    frames[index] = Image.open(inputs / job[name]).convert("RGB").resize((w, h))
        else:
            source = frames_at((inputs / "source.mp4").read_bytes(), fps, (w, h))
            if operation == Operation.EDIT.value:
                frames = with_insets(edit_frames(source, job["prompt"]), insets)
            else:
                added = render_frames(w, h, float(job["segment_seconds"]), fps, job["prompt"])
                frames = source + with_insets(added, insets)
        render_assets(
            self.state_dir,
            job["id"],
            w,
            h,
            seconds,
            fps,
            job["prompt"],
            frames=frames,
            audio=bool(job.get("audio")),
        )

    def _inputs(self, video_id: str) -> Path:
        self._path(video_id)  # checks the id
        return self.state_dir / "inputs" / video_id

    def _remove_inputs(self, video_id: str) -> None:
        shutil.rmtree(self._inputs(video_id), ignore_errors=True)

    def _remove_assets(self, video_id: str) -> None:
        for suffix in VARIANT_SUFFIX.values():
            with contextlib.suppress(FileNotFoundError):
                self._path(video_id, suffix).unlink()
        self._remove_inputs(video_id)

    def _new_job(
        self,
        params: CreateParams,
        remixed_from: str | None = None,
        prepared: Prepared | None = None,
        images: Images | None = None,
    ) -> dict[str, Any]:
        job: dict[str, Any] = {
            "id": f"video_{uuid.uuid4().hex}",
            "created_ts": time.time(),
            "generation_seconds": float(
                params.extra.get("simulated_generation_seconds", self.generation_seconds)
            ),
            "model": params.model,
            "prompt": params.prompt,
            "size": (prepared.size if prepared else None) or params.size or self.default_size,
            "seconds": (prepared.seconds if prepared else None)
            or params.seconds
            or self.default_seconds,
            "failure": params.extra.get("simulated_failure"),
            "remixed_from": remixed_from,
            "has_input_reference": params.input_reference is not None,
            "operation": params.operation.value,
            "fps": params.fps or self.fps,
            "audio": bool(params.generate_audio),
            "seed": params.seed,
            "negative_prompt": params.negative_prompt,
        }
        if params.operation is Operation.EXTEND:
            job["segment_seconds"] = params.seconds
        self._write_inputs(job, params, images or _images(params))
        self._save(job)
        if not job["failure"]:
            self._ensure_render(job)
        return job

    def _write_inputs(self, job: dict[str, Any], params: CreateParams, images: Images) -> None:
        """Copy what the render will read under `inputs/<id>/`, recording it in the job."""
        source = params.source
        if not (images.insets or images.frames or source):
            return
        inputs = self._inputs(job["id"])
        inputs.mkdir(parents=True, exist_ok=True)
        job["insets"] = []
        for i, (label, data) in enumerate(images.insets):
            (inputs / f"inset_{i}").write_bytes(data)
            job["insets"].append({"file": f"inset_{i}", "label": label})
        for name, data in images.frames.items():
            (inputs / name).write_bytes(data)
            job[name] = name
        if source is not None:
            if source.data is not None:
                (inputs / "source.mp4").write_bytes(source.data)
            else:
                assert source.upstream_id is not None
                try:
                    shutil.copyfile(self._path(source.upstream_id, "mp4"), inputs / "source.mp4")
                except FileNotFoundError:  # deleted since it was checked
                    shutil.rmtree(inputs, ignore_errors=True)
                    raise UpstreamError(
                        404, f"Video {source.upstream_id!r} not found.", code="video_not_found"
                    ) from None
            job["source"] = source.video_id or source.upstream_id

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
        job = self._new_job(prepared.params, prepared=prepared, images=prepared.body)
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


def _checked(data: bytes, what: str, param: str) -> bytes:
    """`data`, once Pillow can read it: a 400 now rather than a failed render later."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except Exception:  # Pillow raises many kinds for bad bytes
        raise bad_request(
            "invalid_image", f"The image for {what} could not be read.", param
        ) from None
    return data
