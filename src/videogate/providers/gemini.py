"""`gemini`: Veo through the Gemini Developer API (generativelanguage.googleapis.com).

A job is a long-running operation: `POST /v1beta/models/{model}:predictLongRunning` with
`x-goog-api-key` answers `{"name": "models/{model}/operations/{id}"}`, polled with
`GET /v1beta/{name}`. A finished operation lists
`response.generateVideoResponse.generatedSamples[].video.uri` (or inline `encodedVideo`);
the URI is fetched with the same API key and redirects to signed storage, which is followed
(python-genai downloads with `follow_redirects=True`). Generated videos are kept for 2 days
(Gemini API docs), hence `expires_at`. The Gemini API takes no Vertex-only parameters
(python-genai raises for `seed`, `storageUri`/`output_gcs_uri`, `generateAudio`, ...), so
they are refused before any call. Veo 3.1 extends a video it generated earlier
(`instances[0].video = {"uri": <that video's file URI>}`), so an extension of a gateway job
reads the URI from the source operation. The request mapping and operation parsing live in
`veo`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..config import UpstreamKey
from ..errors import bad_request
from .base import CallContext, Content
from .specs import ModelSpec
from .veo import (
    COMMON_EXTRAS,
    VERTEX_ONLY_EXTRAS,
    OutputFields,
    VeoOutput,
    VeoProvider,
    veo_models,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
RETENTION_SECONDS = 2 * 24 * 3600


class GeminiProvider(VeoProvider):
    type_name = "gemini"
    surface = "the Gemini API"
    # python-genai `_Video_from_mldev`: samples[].video.{uri | encodedVideo, encoding}
    output_fields = OutputFields("uri", "encodedVideo", "encoding", wrapper="video")
    extra_kinds = COMMON_EXTRAS
    refused_extras = {
        name: "it exists on Vertex AI only (use a `vertex` provider)."
        for name in VERTEX_ONLY_EXTRAS
    }
    top_level_extras = frozenset({"webhookConfig"})
    retention_seconds = RETENTION_SECONDS
    default_base_url = DEFAULT_BASE_URL
    models: ClassVar[dict[str, ModelSpec]] = veo_models(vertex=False)

    def check_video_url(self, url: str) -> None:
        """An extension's source is a video Veo made, named by its Gemini API file URI."""
        if not url.startswith(("https://", "http://")):
            raise bad_request(
                "invalid_source",
                "Veo on the Gemini API extends a video it generated, named by its file URI "
                "(https://generativelanguage.googleapis.com/...); give that or the source job.",
                "source",
            )

    def create_url(self, key: UpstreamKey, model: str) -> str:
        return f"{self._base(key)}/{API_VERSION}/models/{model}:predictLongRunning"

    async def auth_headers(self, key: UpstreamKey) -> dict[str, str]:
        return {"x-goog-api-key": key.value}

    async def fetch_operation(self, name: str, key: UpstreamKey) -> Mapping[str, Any]:
        _, op, _ = await self.call("GET", f"{self._base(key)}/{API_VERSION}/{name}", key)
        return op if isinstance(op, Mapping) else {}

    def samples(self, response: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any]]:
        found = response.get("generateVideoResponse")
        holder: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        return holder.get("generatedSamples"), holder

    async def download(
        self, output: VeoOutput, key: UpstreamKey, ctx: CallContext | None = None
    ) -> Content:
        assert output.uri is not None
        return await self.stream(
            output.uri,
            headers=await self.auth_headers(key),
            content_type=output.mime_type,
            ctx=ctx,
        )
