"""`vertex`: Veo on Vertex AI, authenticated as a service account.

Create is `POST https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/
{location}/publishers/google/models/{model}:predictLongRunning`; the operation is polled with
`POST .../models/{model}:fetchPredictOperation {"operationName": name}` (python-genai
operations.py: the resource is the name before `/operations/`). A finished operation lists
`response.videos[]`, each inline (`bytesBase64Encoded`) or, when `storageUri` was given, a
`gcsUri` read back through the Cloud Storage JSON API (`GET /storage/v1/b/{bucket}/o/
{object}?alt=media`) with the same token. Vertex-only parameters (`storageUri`, `seed`,
`generateAudio`, ...) pass through from the create body, or come from the normalised fields
(seed, fps, generate_audio); `labels` goes beside `parameters`. An extension's source video
is `{"gcsUri"}` or inline `{"bytesBase64Encoded","mimeType"}` (python-genai
`_Video_to_vertex`), read from the source operation when only its id is known.

A key's `value` is the service-account JSON (its text, or a path to the file); `extra` may
set `project` (default: the JSON's `project_id`) and `location` (default us-central1). The
OAuth access token is minted with google-auth (it signs the JWT assertion and honours the
JSON's `token_uri`), refreshed in a worker thread because google-auth blocks, and reused
until google-auth reports it stale. `options.storage_base_url` overrides the storage host.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import google.auth.exceptions
import google.auth.transport.requests
from google.auth.credentials import TokenState
from google.oauth2 import service_account

from ..config import ConfigError, ProviderConfig, UpstreamKey
from ..errors import GatewayError, UpstreamError, UpstreamUnavailable, bad_request
from .base import CallContext, Content
from .http import bearer
from .specs import ModelSpec
from .veo import (
    COMMON_EXTRAS,
    VERTEX_ONLY_EXTRAS,
    OutputFields,
    VeoOutput,
    VeoProvider,
    veo_models,
)

DEFAULT_LOCATION = "us-central1"
DEFAULT_STORAGE_BASE_URL = "https://storage.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
OPERATIONS = "/operations/"
GCS_SCHEME = "gs://"


def default_base_url(location: str) -> str:
    """The regional endpoint; `global` has none (aiplatform.googleapis.com)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


@dataclass
class Account:
    """One key's service account and where it runs jobs; `lock` serialises refreshes."""

    credentials: service_account.Credentials
    project: str
    location: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def load_account(key: UpstreamKey) -> Account:
    """The service account behind `key`; a ConfigError naming the key if it is unusable."""
    text = key.value.strip()
    try:
        if not text.startswith("{"):
            text = Path(text).expanduser().read_text()
        info = json.loads(text)
        if not isinstance(info, dict):
            raise ValueError("it is not a JSON object")
        creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=SCOPES
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Vertex key {key.name!r} needs a service-account JSON (its text or a path to "
            f"it) as value: {exc}"
        ) from None
    project = key.extra.get("project") or info.get("project_id")
    if not project:
        raise ConfigError(
            f"Vertex key {key.name!r}: set extra.project (the JSON has no project_id)."
        )
    location = str(key.extra.get("location") or DEFAULT_LOCATION)
    return Account(creds, str(project), location)


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's HTTP transport with our timeout instead of its 120 s default."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(  # type: ignore[no-untyped-call]
            url, method, body, headers, timeout or self.timeout, **kwargs
        )


def parse_gcs_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/path/to/obj` -> (bucket, object name)."""
    bucket, _, name = uri[len(GCS_SCHEME) :].partition("/")
    if not uri.startswith(GCS_SCHEME) or not bucket or not name:
        raise GatewayError(
            502, "upstream_bad_response", f"Vertex AI named an unreadable video URI {uri!r}."
        )
    return bucket, name


class VertexProvider(VeoProvider):
    type_name = "vertex"
    surface = "Vertex AI"
    # python-genai `_Video_from_vertex`: videos[].{gcsUri | bytesBase64Encoded, mimeType}
    output_fields = OutputFields("gcsUri", "bytesBase64Encoded", "mimeType")
    extra_kinds = {**COMMON_EXTRAS, **VERTEX_ONLY_EXTRAS, "labels": dict}
    refused_extras = {"webhookConfig": "Vertex AI has no webhooks (use pubsubTopic)."}
    top_level_extras = frozenset({"labels"})
    takes_vertex_parameters = True
    models: ClassVar[dict[str, ModelSpec]] = veo_models(vertex=True)

    def check_video_url(self, url: str) -> None:
        """Vertex AI reads an extension's source from Cloud Storage only."""
        if not url.startswith(GCS_SCHEME):
            raise bad_request(
                "invalid_source",
                "Veo on Vertex AI extends a video stored in Cloud Storage (gs://...); give "
                "that URI, the bytes, or the source job.",
                "source",
            )

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        # A broken key fails at start-up, not on the first video.
        self._accounts = {key.name: load_account(key) for key in config.keys}

    def account(self, key: UpstreamKey) -> Account:
        found = self._accounts.get(key.name)
        if found is None:
            found = self._accounts[key.name] = load_account(key)
        return found

    def _regional_base(self, key: UpstreamKey, location: str) -> str:
        return self.base_url(key, default_base_url(location))

    # -- auth -----------------------------------------------------------------------------

    async def auth_headers(self, key: UpstreamKey) -> dict[str, str]:
        return bearer(await self.access_token(key))

    async def access_token(self, key: UpstreamKey) -> str:
        """A fresh OAuth access token for `key`, minted at most once at a time."""
        acct = self.account(key)
        creds = acct.credentials
        if creds.token_state is not TokenState.FRESH:
            async with acct.lock:
                if creds.token_state is not TokenState.FRESH:
                    await self._refresh(creds)
        return str(creds.token)

    async def _refresh(self, creds: service_account.Credentials) -> None:
        """Exchange the signed assertion at the JSON's `token_uri`; its refusal is relayed
        as a 401 (a wrong or revoked key), so the key pool can skip the key."""
        request = _TimedRequest(self.config.timeout_seconds)
        try:
            await asyncio.to_thread(creds.refresh, request)
        except google.auth.exceptions.RefreshError as exc:
            detail = exc.args[1] if len(exc.args) > 1 else None
            code = detail.get("error") if isinstance(detail, Mapping) else None
            raise UpstreamError(
                503 if exc.retryable else 401,
                f"Google refused the service account's token request: {exc.args[0]}",
                code=str(code) if code else "token_refresh_failed",
                provider=self.id,
                raw_response=detail,
            ) from None
        except google.auth.exceptions.TransportError as exc:
            raise UpstreamUnavailable(
                502,
                "upstream_unreachable",
                f"Google's token endpoint could not be reached: {exc}",
                self.id,
            ) from None

    async def call(
        self, method: str, url: str, key: UpstreamKey, **kwargs: Any
    ) -> tuple[int, Any, Mapping[str, str]]:
        """`request` with the bearer token; a 401 drops the cached token so the next call
        mints a new one instead of repeating a revoked one until it expires."""
        token = await self.access_token(key)
        try:
            return await self.request(method, url, headers=bearer(token), **kwargs)
        except UpstreamError as exc:
            self._forget_rejected(key, token, exc)
            raise

    def _forget_rejected(self, key: UpstreamKey, token: str, exc: UpstreamError) -> None:
        """After a 401, drop `token` unless a concurrent call already replaced it."""
        creds = self.account(key).credentials
        if exc.status == 401 and creds.token == token:
            creds.token = None

    # -- the Veo hooks --------------------------------------------------------------------

    def create_url(self, key: UpstreamKey, model: str) -> str:
        acct = self.account(key)
        return (
            f"{self._regional_base(key, acct.location)}/v1/projects/{acct.project}/locations/"
            f"{acct.location}/publishers/google/models/{model}:predictLongRunning"
        )

    async def fetch_operation(self, name: str, key: UpstreamKey) -> Mapping[str, Any]:
        resource, sep, _ = name.rpartition(OPERATIONS)
        parts = resource.split("/")
        if not sep or len(parts) < 4 or parts[0] != "projects" or parts[2] != "locations":
            raise GatewayError(
                404,
                "video_not_found",
                f"{name!r} is not a Vertex AI operation name.",
                param="video_id",
                provider=self.id,
            )
        base = self._regional_base(key, parts[3])
        _, op, _ = await self.call(
            "POST", f"{base}/v1/{resource}:fetchPredictOperation", key, json={"operationName": name}
        )
        return op if isinstance(op, Mapping) else {}

    def samples(self, response: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any]]:
        return response.get("videos"), response

    async def download(
        self, output: VeoOutput, key: UpstreamKey, ctx: CallContext | None = None
    ) -> Content:
        """A `gs://` output through the Cloud Storage JSON API (object name fully encoded)."""
        assert output.uri is not None
        bucket, name = parse_gcs_uri(output.uri)
        base = str(self.config.options.get("storage_base_url") or DEFAULT_STORAGE_BASE_URL)
        url = f"{base.rstrip('/')}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        token = await self.access_token(key)
        try:
            return await self.stream(
                url,
                headers=bearer(token),
                params={"alt": "media"},
                content_type=output.mime_type,
                ctx=ctx,
            )
        except UpstreamError as exc:
            self._forget_rejected(key, token, exc)
            raise
