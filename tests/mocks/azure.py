"""Loopback mock of one Azure OpenAI resource's two video APIs, both under `/openai/v1`.

- Sora 2 on the v1 API (`/openai/v1/videos`): OpenAI's Videos API, served by the parent
  `OpenAIVideosMock`, with Azure's `api-key` header, the deployment name as `model` and
  Azure's preview limits (720x1280 / 1280x720, 4/8/12 s).
- Sora 1 on the preview jobs API (`/openai/v1/video/generations/jobs?api-version=preview`):
  JSON (or, for image-to-video, multipart `files` + `inpaint_items`) jobs that move through
  preprocessing -> queued -> running -> processing -> succeeded | failed by the clock, with
  `generations[]` appearing only on success; content per generation; DELETE answers 204.

Both APIs check the deployment (Azure's 404 when it does not exist) and accept `api-key` or
an Entra `Authorization: Bearer` token; a wrong one gets Azure's 401. Prompts containing a
word from `failures` end with that `failure_reason`.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from .base import ApiError, FormPart
from .common import cursor_page, list_body, sniff_image
from .openai_videos import OpenAIVideosMock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

V1_SIZES = frozenset({"720x1280", "1280x720"})
V1_SECONDS = frozenset({"4", "8", "12"})
JOB_SIZES = frozenset(
    {
        "480x480",
        "480x854",
        "854x480",
        "720x720",
        "720x1280",
        "1280x720",
        "1080x1080",
        "1080x1920",
        "1920x1080",
    }
)
HD_SIZES = frozenset({"1080x1080", "1080x1920", "1920x1080"})
# Resolution class -> most variants per job (Azure's Sora limits; 1 at 1080p, 2 at 720p).
MAX_VARIANTS = {"1080": 1, "720": 2}
DEFAULT_MAX_VARIANTS = 5
JOB_FIELDS = ("model", "prompt", "width", "height", "n_seconds", "n_variants")
INT_FIELDS = ("width", "height", "n_seconds", "n_variants")
CROP_KEYS = ("left_fraction", "top_fraction", "right_fraction", "bottom_fraction")
# Prompt word -> failure_reason of the job.
DEFAULT_FAILURES: dict[str, str] = {
    "moderation": "input_moderation",
    "forbiddenscene": "output_moderation",
    "kaboom": "internal_error",
}
JOB_RETENTION = 24 * 3600  # jobs are deleted at most 24 h after they finish
UNAUTHORIZED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API endpoint "
    "for your resource."
)


def _task_id() -> str:
    return "task_" + uuid.uuid4().hex[:26]


@dataclass
class JobState:
    """One jobs-API job; like the v1 mock, its status follows from the clock."""

    id: str
    model: str
    prompt: str
    width: int
    height: int
    n_seconds: int
    n_variants: int
    created: float
    queued_seconds: float
    run_seconds: float
    failure_reason: str | None = None
    inpaint_items: list[dict[str, Any]] | None = None
    files: dict[str, FormPart] = field(default_factory=dict)
    generation_ids: list[str] = field(default_factory=list)

    def status_at(self, now: float) -> str:
        elapsed = now - self.created
        if self.failure_reason == "input_moderation" and elapsed >= self.queued_seconds / 2:
            return "failed"  # refused while preprocessing, before it is ever queued
        if elapsed < self.queued_seconds / 2:
            return "preprocessing"
        if elapsed < self.queued_seconds:
            return "queued"
        running = elapsed - self.queued_seconds
        if running < self.run_seconds * 0.6:
            return "running"
        if running < self.run_seconds:
            return "processing"
        return "failed" if self.failure_reason else "succeeded"

    def finished_at(self) -> float:
        if self.failure_reason == "input_moderation":
            return self.created + self.queued_seconds / 2
        return self.created + self.queued_seconds + self.run_seconds

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status_at(now)
        done = status in ("succeeded", "failed", "cancelled")
        finished = int(self.finished_at())
        generations = [
            {
                "object": "video.generation",
                "id": gen_id,
                "job_id": self.id,
                "created_at": finished,
                "width": self.width,
                "height": self.height,
                "n_seconds": self.n_seconds,
                "prompt": self.prompt,
            }
            for gen_id in (self.generation_ids if status == "succeeded" else [])
        ]
        return {
            "object": "video.generation.job",
            "id": self.id,
            "status": status,
            "created_at": int(self.created),
            "finished_at": finished if done else None,
            "expires_at": finished + JOB_RETENTION if done else None,
            "generations": generations,
            "prompt": self.prompt,
            "model": self.model,
            "n_variants": self.n_variants,
            "n_seconds": self.n_seconds,
            "height": self.height,
            "width": self.width,
            "failure_reason": self.failure_reason if status == "failed" else None,
        }


class AzureOpenAIMock(OpenAIVideosMock):
    """Both Azure video APIs of one resource (`url` is the `.../openai/v1` root)."""

    def __init__(
        self,
        api_key: str = "azure-key",
        *,
        deployments: Iterable[str] = ("sora", "sora-2"),
        entra_token: str | None = None,
        api_versions: Iterable[str] = ("preview",),
        failures: Mapping[str, str] = DEFAULT_FAILURES,
        queued_seconds: float = 0.3,
        run_seconds: float = 1.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("sizes", V1_SIZES)
        kwargs.setdefault("seconds_options", V1_SECONDS)
        super().__init__(
            api_key=api_key,
            auth_header="api-key",
            prefix="/openai/v1",
            queued_seconds=queued_seconds,
            run_seconds=run_seconds,
            models=None,  # any deployment name passes the parent; `create` checks ours
            **kwargs,
        )
        self.deployments = frozenset(deployments)
        self.entra_token = entra_token
        self.api_versions = frozenset(api_versions)
        self.failures = dict(failures)
        self.jobs: dict[str, JobState] = {}
        self.deleted_jobs: set[str] = set()

    # -- Azure's auth and errors ----------------------------------------------------------

    def is_authorized(self, request: web.Request) -> bool:
        bearer = request.headers.get("authorization")
        if self.entra_token is not None and bearer == f"Bearer {self.entra_token}":
            return True
        return request.headers.get("api-key") == self.api_key

    def unauthorized(self, request: web.Request) -> web.Response:
        return self.json_response({"error": {"code": "401", "message": UNAUTHORIZED}}, status=401)

    def _check_deployment(self, name: Any) -> str:
        if not isinstance(name, str) or name not in self.deployments:
            raise ApiError(
                404,
                f"The API deployment '{name}' for this resource does not exist. If you "
                "created the deployment within the last 5 minutes, please wait a moment "
                "and try again.",
                type="video_generation_user_error",
            )
        return name

    # -- v1 API: the parent, behind the deployment check ----------------------------------

    async def create(self, request: web.Request) -> web.Response:
        fields, _, _ = await self._create_input(request)
        self._check_deployment(fields.get("model"))
        return await super().create(request)

    # -- test-side controls ---------------------------------------------------------------

    def job_json(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            return self.jobs[job_id].to_json(self.clock())

    def thumbnail_jpeg(self) -> bytes:
        """The jobs API's thumbnail: the shared frame as a JPEG."""
        return self.rendered("thumbnail_jpeg", self._render_thumbnail_jpeg)

    def _render_thumbnail_jpeg(self) -> bytes:
        out = io.BytesIO()
        with Image.open(io.BytesIO(self.media().thumbnail)) as img:
            img.convert("RGB").save(out, format="JPEG", quality=85)
        return out.getvalue()

    # -- jobs API routes ------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        jobs = self.path("/video/generations/jobs")
        generation = self.path("/video/generations/{generation_id}")
        app.router.add_post(jobs, self._versioned(self.create_job))
        app.router.add_get(jobs, self._versioned(self.list_jobs))
        app.router.add_get(jobs + "/{job_id}", self._versioned(self.get_job))
        app.router.add_delete(jobs + "/{job_id}", self._versioned(self.delete_job))
        app.router.add_get(generation, self._versioned(self.get_generation))
        app.router.add_get(generation + "/content/{asset}", self._versioned(self.generation_asset))

    def _versioned(self, handler: Handler) -> Handler:
        """The jobs API is reached only with `?api-version=` naming a preview version."""

        async def checked(request: web.Request) -> web.StreamResponse:
            version = request.query.get("api-version")
            if version is None:
                raise ApiError(
                    400,
                    "The api-version query parameter (?api-version=) is required for all requests.",
                    code="MissingApiVersionParameter",
                )
            if version not in self.api_versions:
                raise ApiError(400, "API version not supported", code="BadRequest")
            return await handler(request)

        return checked

    async def create_job(self, request: web.Request) -> web.Response:
        files: dict[str, FormPart] = {}
        inpaint: Any = None
        if request.content_type == "application/json":
            body = await self._json_object(request)
        elif request.content_type == "multipart/form-data":
            body = {}
            for part in await self.read_form(request):
                if part.name == "files" and part.is_file:
                    files[part.filename or ""] = part
                elif part.name == "inpaint_items":
                    inpaint = _parse_inpaint(part.text)
                else:
                    body[part.name] = part.text
        else:
            raise ApiError(
                415,
                f"Unsupported Content-Type '{request.content_type}'; send application/json "
                "or, with files, multipart/form-data.",
            )
        for name in body:
            if name not in JOB_FIELDS:
                raise ApiError(
                    400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
                )
        values = {name: _as_int(name, body[name]) for name in INT_FIELDS if name in body}
        model = self._check_deployment(body.get("model"))
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise ApiError(400, "'prompt' is required.", param="prompt", code="invalid_value")
        if "width" not in values or "height" not in values:
            raise ApiError(400, "'width' and 'height' are required.", param="width")
        size = f"{values['width']}x{values['height']}"
        if size not in JOB_SIZES:
            raise ApiError(
                400,
                f"Unsupported resolution {size}; supported: {', '.join(sorted(JOB_SIZES))}.",
                param="width",
                code="invalid_value",
            )
        hd = size in HD_SIZES
        n_seconds = values.get("n_seconds", 5)
        if not 1 <= n_seconds <= (10 if hd else 20):
            raise ApiError(
                400,
                f"n_seconds must be between 1 and {10 if hd else 20} for {size}.",
                param="n_seconds",
                code="invalid_value",
            )
        n_variants = values.get("n_variants", 1)
        cap = MAX_VARIANTS.get(str(min(values["width"], values["height"])), DEFAULT_MAX_VARIANTS)
        if not 1 <= n_variants <= cap:
            raise ApiError(
                400,
                f"n_variants must be between 1 and {cap} for {size}.",
                param="n_variants",
                code="invalid_value",
            )
        if files or inpaint is not None:
            _check_inpaint(inpaint, files)
        failure = next((r for w, r in self.failures.items() if w in prompt.lower()), None)
        job = JobState(
            id=_task_id(),
            model=model,
            prompt=prompt,
            width=values["width"],
            height=values["height"],
            n_seconds=n_seconds,
            n_variants=n_variants,
            created=self.clock(),
            queued_seconds=self.queued_seconds,
            run_seconds=self.run_seconds,
            failure_reason=failure,
            inpaint_items=inpaint,
            files=files,
            generation_ids=["gen_" + uuid.uuid4().hex[:26] for _ in range(n_variants)],
        )
        with self.lock:
            self.jobs[job.id] = job
        return self.json_response(job.to_json(self.clock()))

    async def list_jobs(self, request: web.Request) -> web.Response:
        raw_limit = request.query.get("limit")
        if raw_limit is None:
            raise ApiError(400, "'limit' is required.", param="limit", code="invalid_value")
        limit = self._check_limit(raw_limit)
        statuses = set(request.query.getall("statuses", []))
        now = self.clock()
        with self.lock:
            live = [j for j in self.jobs.values() if j.id not in self.deleted_jobs]
            live.sort(key=lambda j: j.created, reverse=True)
            if statuses:
                live = [j for j in live if j.status_at(now) in statuses]
            page, has_more = cursor_page(live, request.query.get("after"), limit, lambda j: j.id)
            data = [j.to_json(now) for j in page]
        return self.json_response(list_body(data, has_more))

    def _job(self, job_id: str) -> JobState:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job_id in self.deleted_jobs:
                raise ApiError(404, f"Video generation job '{job_id}' not found.", code="NotFound")
            return job

    async def get_job(self, request: web.Request) -> web.Response:
        return self.json_response(self._job(request.match_info["job_id"]).to_json(self.clock()))

    async def delete_job(self, request: web.Request) -> web.Response:
        job = self._job(request.match_info["job_id"])
        with self.lock:
            self.deleted_jobs.add(job.id)
        return web.Response(status=204)

    def _generation(self, generation_id: str) -> dict[str, Any]:
        """The generation's JSON, only while its job has succeeded and still exists."""
        with self.lock:
            for job in self.jobs.values():
                if generation_id in job.generation_ids and job.id not in self.deleted_jobs:
                    for gen in job.to_json(self.clock())["generations"]:
                        if gen["id"] == generation_id:
                            return dict(gen)
        raise ApiError(404, f"Video generation '{generation_id}' not found.", code="NotFound")

    async def get_generation(self, request: web.Request) -> web.Response:
        return self.json_response(self._generation(request.match_info["generation_id"]))

    async def generation_asset(self, request: web.Request) -> web.Response:
        self._generation(request.match_info["generation_id"])
        asset = request.match_info["asset"]
        if asset == "video":
            return web.Response(body=self.media().video, content_type="video/mp4")
        if asset == "thumbnail":
            return web.Response(body=self.thumbnail_jpeg(), content_type="image/jpeg")
        return self.not_found_route(request)


def _as_int(name: str, value: Any) -> int:
    """JSON integers, or their decimal strings from a multipart form."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"'{name}' must be an integer.", param=name, code="invalid_type")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ApiError(400, f"'{name}' must be an integer.", param=name, code="invalid_type")
        return int(value)
    return value


def _parse_inpaint(text: str) -> list[dict[str, Any]]:
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ApiError(
            400,
            "'inpaint_items' must be a JSON array of objects.",
            param="inpaint_items",
            code="invalid_value",
        )
    return items


def _check_inpaint(items: list[dict[str, Any]] | None, files: dict[str, FormPart]) -> None:
    """Every item names an uploaded file of its type, with a sane crop; no file is unused."""
    if not items or not files:
        raise ApiError(
            400,
            "'files' and 'inpaint_items' must be sent together.",
            param="inpaint_items",
            code="invalid_value",
        )
    for item in items:
        part = files.get(str(item.get("file_name")))
        if part is None:
            raise ApiError(
                400,
                f"inpaint item names file '{item.get('file_name')}', which was not uploaded.",
                param="inpaint_items",
                code="invalid_value",
            )
        if item.get("type") == "image":
            if sniff_image(part.data) is None:
                raise ApiError(400, "The uploaded image is not a JPEG, PNG or WebP.", param="files")
        elif item.get("type") != "video":
            raise ApiError(
                400, "inpaint item type must be 'image' or 'video'.", param="inpaint_items"
            )
        frame = item.get("frame_index", 0)
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
            raise ApiError(
                400, "frame_index must be a non-negative integer.", param="inpaint_items"
            )
        crop = item.get("crop_bounds")
        if crop is not None:
            if not isinstance(crop, dict) or set(crop) != set(CROP_KEYS):
                raise ApiError(
                    400, f"crop_bounds needs exactly {', '.join(CROP_KEYS)}.", param="inpaint_items"
                )
            left, top, right, bottom = (crop[k] for k in CROP_KEYS)
            numeric = all(isinstance(v, int | float) for v in (left, top, right, bottom))
            if not (numeric and 0 <= left < right <= 1 and 0 <= top < bottom <= 1):
                raise ApiError(400, "crop_bounds must be fractions with left<right, top<bottom.")
    unused = set(files) - {str(i.get("file_name")) for i in items}
    if unused:
        raise ApiError(
            400, f"Uploaded files not used by any inpaint item: {sorted(unused)}.", param="files"
        )
