"""`azure`: Azure OpenAI video generation, through either of its two APIs.

`options.api: v1` (default) is Sora 2 on Azure's v1 API, which mirrors OpenAI's Videos API,
so `AzureProvider` is the openai adapter with Azure's endpoint and auth. `options.api: jobs`
is the Azure-only preview jobs API of Sora 1 (`/video/generations/jobs?api-version=preview`),
spoken by `AzureJobsProvider`. Both live under `https://{resource}.openai.azure.com/openai/v1`,
take the deployment name as the model and authenticate with `api-key: <key>`
(`options.auth: bearer` sends the key as an Entra ID token instead).

Options: `resource` (or `base_url`; per key `base_url` or `extra.resource`), `api`, `auth`,
`api_version` (jobs API, default "preview"), `extra_headers`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from ..config import ProviderConfig, UpstreamKey
from ..errors import GatewayError, UpstreamError, bad_request, whole_number
from ..video import Failure
from .base import (
    TERMINAL,
    CallContext,
    Capability,
    Content,
    CreateParams,
    DeleteResult,
    InputReference,
    Prepared,
    Status,
    UpstreamVideo,
    unsupported,
)
from .http import HttpProvider
from .media import decode_data_url
from .multipart import Multipart
from .openai import DATA_URL_PREFIX, OpenAIProvider, form_value
from .params import refuse_reserved
from .specs import ModelSpec

V1_PATH = "/openai/v1"
# Deployments are named by the customer; ones named after the model get its limits (720p
# portrait or landscape, 4/8/12 s in Azure's preview; `options.sizes`/`seconds` widen them).
V1_MODELS: dict[str, ModelSpec] = {
    "sora-2*": ModelSpec(
        seconds=(4, 8, 12),
        sizes=("720x1280", "1280x720"),
        aspect_ratios=("9:16", "16:9"),
        audio=True,
        audio_default=True,
        image_input=True,
    )
}
RESOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
APIS = ("v1", "jobs")
# `options.auth` -> the header that carries the key.
AUTH_HEADERS: dict[str, tuple[str, str]] = {
    "api-key": ("api-key", "{key}"),
    "bearer": ("Authorization", "Bearer {key}"),
}

# -- the preview jobs API (Sora 1) ---------------------------------------------------------
# Sizes and duration limits from Azure's Sora documentation; 1080p allows at most 10 s.
JOB_SIZES: frozenset[str] = frozenset(
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
HD_SIZES: frozenset[str] = frozenset({"1080x1080", "1080x1920", "1920x1080"})
MAX_SECONDS, MAX_HD_SECONDS = 20, 10
DEFAULT_JOB_SIZE = "480x480"  # width and height are required; the docs' own example size
# Body fields the adapter derives from the OpenAI parameters; extras may not override them.
RESERVED_JOB_FIELDS: dict[str, str] = {
    "model": "model",
    "prompt": "prompt",
    "width": "size",
    "height": "size",
    "n_seconds": "seconds",
    "inpaint_items": "input_reference",
    "files": "input_reference",
}
RESERVED_MESSAGE = "{name!r} is set from {source!r}; pass {source!r} instead."
# Job status -> OpenAI status. Sora 1 goes preprocessing -> queued -> running -> processing
# -> succeeded | failed | cancelled.
STATUS_MAP: dict[str, Status] = {
    "preprocessing": "queued",
    "queued": "queued",
    "running": "in_progress",
    "processing": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
}
# The jobs API reports no progress, so the stage stands in for it.
PROGRESS_MAP: dict[str, int] = {
    "preprocessing": 0,
    "queued": 0,
    "running": 50,
    "processing": 90,
    "succeeded": 100,
    "failed": 100,
    "cancelled": 100,
}
UNKNOWN_STAGE_PROGRESS = 50
# `failure_reason` (or the cancelled status) -> the failed job's error.
FAILURE_MAP: dict[str, dict[str, str]] = {
    "input_moderation": {
        "code": Failure.MODERATION,
        "message": "Azure's content filter rejected the prompt or the input image.",
    },
    "output_moderation": {
        "code": Failure.MODERATION,
        "message": "Azure's content filter blocked the generated video.",
    },
    "internal_error": {
        "code": Failure.INTERNAL,
        "message": "Azure failed while generating the video.",
    },
    "cancelled": {"code": Failure.CANCELLED, "message": "The job was cancelled on Azure."},
}
UNKNOWN_FAILURE = {"code": Failure.UNKNOWN, "message": "Azure reports the job as failed."}
# Variant -> (path segment under /video/generations/{id}/content, type if Azure sends none).
CONTENT_ROUTES: dict[str, tuple[str, str]] = {
    "video": ("video", "video/mp4"),
    "thumbnail": ("thumbnail", "image/jpeg"),
}
IMAGE_SUFFIXES: dict[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# The whole image, starting at the first frame: what an OpenAI input_reference means.
FULL_FRAME = {
    "left_fraction": 0.0,
    "top_fraction": 0.0,
    "right_fraction": 1.0,
    "bottom_fraction": 1.0,
}


def api_of(config: ProviderConfig) -> str:
    api = str(config.options.get("api", "v1"))
    if api not in APIS:
        raise ValueError(f"azure options.api must be one of {', '.join(APIS)}, not {api!r}")
    return api


def endpoint_url(base_url: str | None, resource: Any) -> str | None:
    """The `.../openai/v1` root from a URL (a bare origin gets the path) or a resource name."""
    if base_url:
        url = base_url.rstrip("/")
        return url if urlsplit(url).path else url + V1_PATH
    if resource:
        if not RESOURCE_RE.fullmatch(str(resource)):
            raise ValueError(f"azure resource name {resource!r} is not a valid host label")
        return f"https://{resource}.openai.azure.com{V1_PATH}"
    return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class _AzureEndpoint(HttpProvider):
    """Endpoint, credentials and error format, which both Azure APIs share.

    Whichever Azure class the registry picks, `options.api` decides which one is built, so
    one provider type serves both APIs and `capabilities` stay exact for each.
    """

    type_name = "azure"

    def __new__(cls, provider_id: str, config: ProviderConfig) -> _AzureEndpoint:
        impl: type[_AzureEndpoint] = (
            AzureJobsProvider if api_of(config) == "jobs" else AzureProvider
        )
        if issubclass(cls, impl):
            return super().__new__(cls)
        return impl(provider_id, config)

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        self.auth = str(config.options.get("auth", "api-key"))
        if self.auth not in AUTH_HEADERS:
            raise ValueError(
                f"provider {provider_id!r}: options.auth must be one of "
                f"{', '.join(AUTH_HEADERS)}, not {self.auth!r}"
            )
        self.default_base = endpoint_url(config.base_url, config.options.get("resource"))
        keys = config.keys
        if self.default_base is None and (
            not keys or any(endpoint_url(k.base_url, k.extra.get("resource")) is None for k in keys)
        ):
            raise ValueError(
                f"provider {provider_id!r}: set options.resource (the Azure OpenAI resource "
                "name) or base_url, or give every key its own base_url or extra.resource"
            )

    def _base(self, key: UpstreamKey) -> str:
        url = endpoint_url(key.base_url, key.extra.get("resource")) or self.default_base
        if url is None:
            raise GatewayError(
                500,
                "provider_misconfigured",
                f"Provider {self.id!r} has no Azure endpoint for key {key.name!r}.",
                provider=self.id,
            )
        return url

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        name, template = AUTH_HEADERS[self.auth]
        headers = dict(self.config.options.get("extra_headers", {}))
        headers[name] = template.format(key=key.value)
        return headers

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """Also Azure's unwrapped `{code, message, ...}` and APIM's `{statusCode, message}`."""
        if (
            isinstance(body, Mapping)
            and not isinstance(body.get("error"), Mapping)
            and isinstance(body.get("message"), str)
        ):
            return (
                body["message"],
                _str_or_none(body.get("code", body.get("statusCode"))),
                _str_or_none(body.get("type")),
                _str_or_none(body.get("param")),
            )
        return super().error_message(status, body)


class AzureProvider(_AzureEndpoint, OpenAIProvider):
    """Sora 2 on Azure's v1 API: OpenAI's Videos API with Azure's endpoint and `api-key`.

    Azure documents create, remix and image input for Sora 2 (learn.microsoft.com, "Video
    generation with Sora 2": text, image and generated video -> video), not OpenAI's
    `/videos/edits` or `/videos/extensions`, so those are not declared here.
    """

    capabilities = OpenAIProvider.capabilities - {Capability.EDIT, Capability.EXTEND}
    models = V1_MODELS


class AzureJobsProvider(_AzureEndpoint):
    """Sora 1 on Azure's preview jobs API: JSON jobs whose videos are per-variant generations.

    The gateway's video is the job; its content is the job's first generation, so only
    `n_variants: 1` is accepted.
    """

    capabilities = frozenset(
        {
            Capability.CREATE,
            Capability.RETRIEVE,
            Capability.CONTENT,
            Capability.DELETE,
            Capability.IMAGE_INPUT,
            Capability.THUMBNAIL,
        }
    )
    default_poll_after_ms: ClassVar[int] = 5000  # the docs' quickstart polls every 5 s

    @property
    def query(self) -> dict[str, str]:
        return {"api-version": str(self.config.options.get("api_version", "preview"))}

    def _jobs(self, key: UpstreamKey) -> str:
        return f"{self._base(key)}/video/generations/jobs"

    # -- request building ---------------------------------------------------------------------
    def prepare(self, params: CreateParams) -> Prepared:
        """The create body (JSON, or multipart with an image); every check that needs no
        upstream call."""
        size = params.size or DEFAULT_JOB_SIZE
        if size not in JOB_SIZES:
            raise bad_request(
                "invalid_size",
                f"size {size!r} is not supported by Azure Sora; use one of "
                f"{', '.join(sorted(JOB_SIZES, key=_pixels))}.",
                "size",
            )
        if params.seconds is not None:
            limit = MAX_HD_SECONDS if size in HD_SIZES else MAX_SECONDS
            whole = whole_number(params.seconds, 3)
            if whole is None or not 1 <= whole <= limit:
                raise bad_request(
                    "invalid_seconds",
                    f"seconds {params.seconds!r} must be a whole number from 1 to {limit} "
                    f"at {size} (at most {MAX_HD_SECONDS} at 1080p, {MAX_SECONDS} otherwise).",
                    "seconds",
                )
        variants = params.extra.get("n_variants")
        if variants is not None and str(variants) != "1":
            raise bad_request(
                "invalid_parameter",
                "n_variants must be 1: a gateway video is one clip (Azure's other variants "
                "could not be downloaded).",
                "n_variants",
            )
        refuse_reserved(params.extra, RESERVED_JOB_FIELDS, RESERVED_MESSAGE)
        image = _image(params.input_reference)
        width, _, height = size.partition("x")
        fields: dict[str, Any] = {
            "model": params.model,
            "prompt": params.prompt,
            "width": int(width),
            "height": int(height),
        }
        if params.seconds is not None:
            fields["n_seconds"] = int(params.seconds)
        fields["n_variants"] = 1
        fields.update((k, v) for k, v in params.extra.items() if k != "n_variants")
        if image is None:
            return Prepared(params, fields, fields, size=size, seconds=params.seconds)
        # Image-to-video is multipart: every field as a string, the image as a `files` part
        # that an `inpaint_items` entry (a JSON string) places by file name.
        data, mime = image
        filename = "input_reference." + IMAGE_SUFFIXES.get(mime, "png")
        items = [
            {"frame_index": 0, "type": "image", "file_name": filename, "crop_bounds": FULL_FRAME}
        ]
        form = Multipart()
        for name, value in fields.items():
            form.add_field(name, form_value(value))
        form.add_field("inpaint_items", orjson.dumps(items).decode())
        form.add_file("files", data, filename=filename, content_type=mime)
        shown = {**fields, "inpaint_items": items, "files": f"<{len(data)} bytes {mime}>"}
        return Prepared(params, form, shown, size=size, seconds=params.seconds)

    # -- mapping ------------------------------------------------------------------------------
    def to_video(self, body: Any) -> UpstreamVideo:
        body = self.expect_object(body, "answered without a video generation job")
        stage = str(body.get("status"))
        status = STATUS_MAP.get(stage, "in_progress")
        width, height, n_seconds = body.get("width"), body.get("height"), body.get("n_seconds")
        error = None
        if status == "failed":
            reason = "cancelled" if stage == "cancelled" else str(body.get("failure_reason"))
            error = FAILURE_MAP.get(reason, UNKNOWN_FAILURE)
        return UpstreamVideo(
            id=body["id"],
            status=status,
            progress=PROGRESS_MAP.get(stage, UNKNOWN_STAGE_PROGRESS),
            created_at=int(body.get("created_at") or 0),
            completed_at=body.get("finished_at") if status in TERMINAL else None,
            expires_at=body.get("expires_at"),
            model=body.get("model"),
            prompt=body.get("prompt"),
            size=f"{width}x{height}" if width and height else None,
            seconds=None if n_seconds is None else str(n_seconds),
            error=dict(error) if error else None,
            raw=body,
        )

    # -- operations ---------------------------------------------------------------------------
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        form = prepared.body if isinstance(prepared.body, Multipart) else None
        body = await self.call_api(
            "POST",
            self._jobs(key),
            key,
            ctx,
            json=None if form else prepared.body,
            data=form,
            params=self.query,
            shown=prepared.shown,
        )
        return self.to_video(body)

    async def _job(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> Any:
        url = f"{self._jobs(key)}/{video_id}"
        return await self.call_api("GET", url, key, ctx, params=self.query)

    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        return self.to_video(await self._job(video_id, key, ctx))

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        """The first generation's asset; the job is read first to learn its generation id."""
        if variant not in CONTENT_ROUTES:
            raise unsupported(self.id, f"the {variant} variant")
        job = await self._job(video_id, key, ctx)
        generations = job.get("generations") if isinstance(job, Mapping) else None
        if not generations or not isinstance(generations[0], Mapping):
            raise UpstreamError(
                409,
                f"Azure job {video_id!r} has no generated video (status "
                f"{job.get('status') if isinstance(job, Mapping) else None!r}).",
                code="video_not_ready",
                provider=self.id,
                raw_response=job,
            )
        segment, fallback_type = CONTENT_ROUTES[variant]
        result = await self.stream(
            f"{self._base(key)}/video/generations/{generations[0]['id']}/content/{segment}",
            headers=self._headers(key),
            params=self.query,
            ctx=ctx,
        )
        if result.content_type.split("/")[0] != fallback_type.split("/")[0]:
            result.content_type = fallback_type  # e.g. application/octet-stream
        return result

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        try:
            await self.request(
                "DELETE",
                f"{self._jobs(key)}/{video_id}",
                headers=self._headers(key),
                params=self.query,
                expect_json=False,
                ctx=ctx,
            )
        except UpstreamError as exc:
            if exc.status == 404:
                return DeleteResult(deleted=True, detail="already gone upstream")
            raise
        return DeleteResult(deleted=True)  # 204 No Content


def _pixels(size: str) -> tuple[int, str]:
    width, _, height = size.partition("x")
    return int(width) * int(height), size


def _image(ref: InputReference | None) -> tuple[bytes, str] | None:
    """(bytes, mime) of the input image: the jobs API takes only the image itself."""
    if ref is None:
        return None
    if ref.data is not None:
        return ref.data, ref.content_type or "application/octet-stream"
    if ref.image_url and ref.image_url.startswith(DATA_URL_PREFIX):
        return decode_data_url(ref.image_url)
    raise bad_request(
        "invalid_input_reference",
        "The Azure jobs API takes the image itself: upload input_reference as a file or send "
        "a data:image/... URL (http(s) URLs and file ids are not accepted).",
        "input_reference",
    )
