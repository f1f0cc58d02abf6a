"""Upstream HTTP for adapters: one pooled aiohttp session per provider, errors in one place.

Every adapter calls `HttpProvider.request` / `.stream`; connection failures, timeouts and
unparseable bodies become gateway-made envelopes (502/504), and non-2xx answers become
`UpstreamError` with the provider's own status and message (via the adapter's
`error_message` hook), so no adapter repeats this logic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import aiohttp
import orjson
import yarl

from ..config import ProviderConfig, UpstreamKey
from ..errors import GatewayError, UpstreamError, UpstreamUnavailable
from ..netguard import GuardedResolver
from ..telemetry.upstream import Watch
from .base import CallContext, Content, Provider
from .media import media_type_for
from .multipart import Multipart

log = logging.getLogger("videogate.providers")

# Read buffer of a streamed download: aiohttp's 64 KiB default caps a proxied download near
# 0.7 GB/s on loopback; 1 MiB reaches ~1.7 GB/s (bench) and bounds what a slow client can
# make the gateway hold (twice this per download).
STREAM_BUFFER = 1024 * 1024
STREAM_CHUNK = 256 * 1024  # slices of a body already in memory


def bearer(token: str) -> dict[str, str]:
    """`Authorization: Bearer <token>`, the credential header most providers take."""
    return {"Authorization": f"Bearer {token}"}


class HttpProvider(Provider):
    """A provider spoken to over HTTP; subclasses add routes and mappings."""

    # The provider's public API root (the module's DEFAULT_BASE_URL); see `_base`.
    default_base_url: ClassVar[str] = ""

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        self._session: aiohttp.ClientSession | None = None

    def base_url(self, key: UpstreamKey, default: str) -> str:
        """The API root for calls made with `key`: the key's own `base_url`, else the
        provider's configured one, else `default`; without a trailing slash."""
        return (key.base_url or self.config.base_url or default).rstrip("/")

    def _base(self, key: UpstreamKey) -> str:
        """`base_url` with this class's `default_base_url` as the fallback."""
        return self.base_url(key, self.default_base_url)

    def _headers(self, key: UpstreamKey) -> dict[str, str]:
        """The credential headers for a call with `key`: a Bearer token by default; providers
        with another scheme, or required extra headers, override this."""
        return bearer(key.value)

    def bad_response(self, message: str, body: Any) -> UpstreamError:
        """A 502 `upstream_bad_response` for a 2xx answer the adapter cannot use; `body` is
        relayed as the raw response."""
        return UpstreamError(
            502, message, code="upstream_bad_response", provider=self.id, raw_response=body
        )

    def expect_object(
        self, body: Any, what: str, *, id_field: str | None = "id"
    ) -> Mapping[str, Any]:
        """`body` if it is a JSON object whose `id_field` (unless None) is a string, else a
        `bad_response` saying "Provider '<id>' <what>." (e.g. "answered without a task")."""
        if not isinstance(body, Mapping) or (
            id_field is not None and not isinstance(body.get(id_field), str)
        ):
            raise self.bad_response(f"Provider {self.id!r} {what}.", body)
        return body

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self.config.connect_timeout_seconds,
                sock_read=self.config.timeout_seconds,
            )
            connector = aiohttp.TCPConnector(
                limit=256, ttl_dns_cache=300, resolver=GuardedResolver(self.guarded_hosts)
            )
            self._session = aiohttp.ClientSession(
                timeout=timeout,
                connector=connector,
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def error_message(
        self, status: int, body: Any
    ) -> tuple[str, str | None, str | None, str | None]:
        """(message, code, type, param) from a provider's error body; override per format."""
        if isinstance(body, Mapping):
            err = body.get("error")
            if isinstance(err, Mapping):
                return (
                    str(err.get("message") or err),
                    _str_or_none(err.get("code")),
                    _str_or_none(err.get("type")),
                    _str_or_none(err.get("param")),
                )
            if isinstance(err, str):
                return err, None, None, None
            for k in ("detail", "message"):
                if k in body:
                    return str(body[k]), None, None, None
        return (str(body)[:500] if body else f"HTTP {status} from upstream"), None, None, None

    def _unavailable(self, exc: TimeoutError | aiohttp.ClientError) -> UpstreamUnavailable:
        """The gateway's own envelope for a call that got no answer: a timeout is a 504, a
        connection failure a 502."""
        if isinstance(exc, TimeoutError):
            return UpstreamUnavailable(
                504, "upstream_timeout", f"Provider {self.id!r} did not answer in time.", self.id
            )
        # The cause names the provider's host and port: the log keeps it, the caller (a
        # tenant) learns only the kind of failure.
        log.warning("provider %s unreachable: %s", self.id, exc)
        return UpstreamUnavailable(
            502,
            "upstream_unreachable",
            f"Provider {self.id!r} could not be reached ({type(exc).__name__}).",
            self.id,
        )

    def _raise_for(self, status: int, raw: bytes, headers: Mapping[str, str]) -> None:
        """Relay a non-2xx answer: its parsed body (or its text, if it is not JSON) as the
        UpstreamError's raw response, with the provider's status and `Retry-After`."""
        parsed = _parse(raw)
        body = parsed if parsed is not _GARBAGE else raw.decode("utf-8", "replace")
        message, code, etype, param = self.error_message(status, body)
        raise UpstreamError(
            status,
            message,
            code=code,
            type=etype,
            param=param,
            retry_after=headers.get("Retry-After"),
            provider=self.id,
            raw_response=body,
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        expect_json: bool = True,
        ctx: CallContext | None = None,
        shown: Any = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        """Send one request; returns (status, parsed body or None, headers) for 2xx.

        With `ctx`, what was sent (`shown`, else the JSON body, else the method and URL:
        never headers, so never credentials) and what came back are recorded for
        `raw_request`/`raw_response`, an error's body included. Every call is observed
        (telemetry/upstream.py: metrics, a span, `traceparent`)."""
        watch = Watch(self.id, method, url)
        try:
            answer = await self._request(
                method,
                url,
                headers=watch.headers(headers),
                json=json,
                data=data,
                params=params,
                expect_json=expect_json,
                ctx=ctx,
                shown=shown,
            )
        except GatewayError as exc:
            watch.end(exc.status if not exc.is_bifrost_error else None, exc)
            raise
        watch.end(answer[0])
        return answer

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        json: Any,
        data: Any,
        params: Mapping[str, str] | None,
        expect_json: bool,
        ctx: CallContext | None,
        shown: Any,
    ) -> tuple[int, Any, Mapping[str, str]]:
        if ctx is not None and ctx.capture_raw:
            sent = shown if shown is not None else json
            if sent is None:
                sent = {"method": method, "url": url, **({"query": dict(params)} if params else {})}
            ctx.record(request=sent)
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if json is not None:
            kwargs["data"] = orjson.dumps(json)
            kwargs["headers"] = {**(headers or {}), "Content-Type": "application/json"}
        elif isinstance(data, Multipart):
            kwargs["data"], ctype = data.encode()
            kwargs["headers"] = {**(headers or {}), "Content-Type": ctype}
        elif data is not None:
            kwargs["data"] = data
        try:
            async with (
                asyncio.timeout(self.config.total_timeout_seconds),
                # API calls follow no redirects: a 3xx could send the request, and the
                # credential header with it, to any host.
                self.session.request(method, url, allow_redirects=False, **kwargs) as resp,
            ):
                raw = await self._read_bounded(resp)
                if 300 <= resp.status < 400:
                    raise UpstreamUnavailable(
                        502,
                        "upstream_redirected",
                        f"Provider {self.id!r} answered HTTP {resp.status} (a redirect); API "
                        "calls do not follow redirects.",
                        provider=self.id,
                    )
                body = _parse(raw)
                if ctx is not None and ctx.capture_raw:
                    ctx.raw_response = raw.decode("utf-8", "replace") if body is _GARBAGE else body
                if resp.status >= 400:
                    self._raise_for(resp.status, raw, resp.headers)
                if expect_json and body is _GARBAGE:
                    raise UpstreamUnavailable(
                        502,
                        "upstream_bad_response",
                        f"Provider {self.id!r} answered HTTP {resp.status} with a non-JSON body.",
                        provider=self.id,
                    )
                return resp.status, (None if body is _GARBAGE else body), resp.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._unavailable(exc) from None

    async def _read_bounded(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_response_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise self._too_large()
        out = bytearray()
        async for chunk in resp.content.iter_any():
            out += chunk
            if len(out) > limit:
                raise self._too_large()
        return bytes(out)

    def _too_large(self) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            502,
            "upstream_response_too_large",
            f"Provider {self.id!r} answered more than {self.config.max_response_bytes} bytes.",
            provider=self.id,
        )

    async def call_api(
        self,
        method: str,
        url: str,
        key: UpstreamKey,
        ctx: CallContext,
        *,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, str] | None = None,
        shown: Any = None,
    ) -> Any:
        """`request` with `key`'s credentials (`_headers`); returns the JSON answer after
        recording it as the raw response, with `shown` (default: the `json` sent; pass a
        copy with media summarised) as the raw request."""
        _, body, _ = await self.request(
            method,
            url,
            headers=self._headers(key),
            json=json,
            data=data,
            params=params,
            ctx=ctx,
            shown=shown,
        )
        return body

    async def stream(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str | None = None,
        ctx: CallContext | None = None,
    ) -> Content:
        """GET an asset and hand back its body as chunks without buffering it whole.

        Redirects (CDNs, signed URLs) are followed by hand, at most MAX_REDIRECTS: only to
        https (`allow_http_redirects` also allows http), and the headers given here (the
        credential) only ever go to the origin they were meant for."""
        origin = _origin(url)
        wanted = {"Range": ctx.byte_range} if ctx is not None and ctx.byte_range else {}
        watch = Watch(self.id, "GET", url)  # timed to the response's head, not the body
        try:
            content = await self._stream(
                url, origin, watch.headers(headers), wanted, params, content_type
            )
        except GatewayError as exc:
            watch.end(exc.status if not exc.is_bifrost_error else None, exc)
            raise
        watch.end(206 if content.content_range else 200)
        return content

    async def _stream(
        self,
        url: str,
        origin: tuple[str, str, int | None],
        headers: Mapping[str, str] | None,
        wanted: dict[str, str],
        params: Mapping[str, str] | None,
        content_type: str | None,
    ) -> Content:
        try:
            for _ in range(MAX_REDIRECTS + 1):
                resp = await self.session.get(
                    url,
                    headers={**(headers or {}), **wanted} if _origin(url) == origin else wanted,
                    params=params,
                    read_bufsize=STREAM_BUFFER,
                    allow_redirects=False,
                )
                location = resp.headers.get("Location")
                if resp.status not in REDIRECTS or not location:
                    break
                resp.release()
                url, params = str(resp.url.join(yarl.URL(location))), None
                scheme = yarl.URL(url).scheme
                if scheme != "https" and not (
                    scheme == "http" and self.config.allow_http_redirects
                ):
                    raise UpstreamUnavailable(
                        502,
                        "upstream_redirect_refused",
                        f"Provider {self.id!r} redirected an asset to a {scheme} URL; only "
                        "https targets are followed.",
                        provider=self.id,
                    )
            else:
                raise UpstreamUnavailable(
                    502,
                    "upstream_redirect_loop",
                    f"Provider {self.id!r} redirected too often.",
                    provider=self.id,
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._unavailable(exc) from None
        if resp.status >= 400:
            raw = await resp.read()
            resp.release()
            self._raise_for(resp.status, raw, resp.headers)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_any():  # whatever has arrived, uncopied
                    yield chunk
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise UpstreamUnavailable(
                    502, "upstream_stream_broken", f"Provider {self.id!r} broke off: {exc}", self.id
                ) from None

        async def close() -> None:
            resp.release()

        ctype = content_type or resp.headers.get("Content-Type") or "application/octet-stream"
        ranged = resp.headers.get("Content-Range") if resp.status == 206 else None
        return Content(chunks(), ctype.split(";")[0].strip(), resp.content_length, close, ranged)

    async def stream_asset(
        self, url: str, fallback_type: str, ctx: CallContext | None = None
    ) -> Content:
        """Stream a provider's public or pre-signed asset URL, sent no credentials (they must
        not travel to a CDN). Its type is the one served unless generic, else a guess from
        the URL's extension, else `fallback_type`."""
        result = await self.stream(url, ctx=ctx)
        result.content_type = media_type_for(url, result.content_type, fallback_type)
        return result


_GARBAGE = object()
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = yarl.URL(url)
    return parsed.scheme, parsed.host or "", parsed.port


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _GARBAGE


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)
