"""Upstream HTTP for adapters: one pooled aiohttp session per provider, errors in one place.

Every adapter calls `HttpProvider.request` / `.stream`; connection failures, timeouts and
unparseable bodies become gateway-made envelopes (502/504), and non-2xx answers become
`UpstreamError` with the provider's own status and message (via the adapter's
`error_message` hook), so no adapter repeats this logic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from ..config import ProviderConfig
from ..errors import UpstreamError, UpstreamUnavailable
from .base import Content, Provider

STREAM_CHUNK = 256 * 1024


class HttpProvider(Provider):
    """A provider spoken to over HTTP; subclasses add routes and mappings."""

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        super().__init__(provider_id, config)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=self.config.connect_timeout_seconds,
                sock_read=self.config.timeout_seconds,
            )
            connector = aiohttp.TCPConnector(limit=256, ttl_dns_cache=300)
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

    def _raise_for(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
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
    ) -> tuple[int, Any, Mapping[str, str]]:
        """Send one request; returns (status, parsed body or None, headers) for 2xx."""
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if json is not None:
            kwargs["data"] = orjson.dumps(json)
            kwargs["headers"] = {**(headers or {}), "Content-Type": "application/json"}
        elif data is not None:
            kwargs["data"] = data
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                raw = await resp.read()
                body = _parse(raw)
                if resp.status >= 400:
                    self._raise_for(
                        resp.status,
                        body if body is not _GARBAGE else raw.decode("utf-8", "replace"),
                        resp.headers,
                    )
                if expect_json and body is _GARBAGE:
                    raise UpstreamUnavailable(
                        502,
                        "upstream_bad_response",
                        f"Provider {self.id!r} answered HTTP {resp.status} with a non-JSON body.",
                        provider=self.id,
                    )
                return resp.status, (None if body is _GARBAGE else body), resp.headers
        except TimeoutError:
            raise UpstreamUnavailable(
                504, "upstream_timeout", f"Provider {self.id!r} did not answer in time.", self.id
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                502,
                "upstream_unreachable",
                f"Provider {self.id!r} could not be reached: {exc}",
                self.id,
            ) from None

    async def stream(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> Content:
        """GET an asset and hand back its body as chunks without buffering it whole."""
        try:
            resp = await self.session.get(url, headers=headers, params=params)
        except TimeoutError:
            raise UpstreamUnavailable(
                504, "upstream_timeout", f"Provider {self.id!r} did not answer in time.", self.id
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                502,
                "upstream_unreachable",
                f"Provider {self.id!r} could not be reached: {exc}",
                self.id,
            ) from None
        if resp.status >= 400:
            raw = await resp.read()
            resp.release()
            body = _parse(raw)
            self._raise_for(
                resp.status,
                body if body is not _GARBAGE else raw.decode("utf-8", "replace"),
                resp.headers,
            )

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_chunked(STREAM_CHUNK):
                    yield chunk
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise UpstreamUnavailable(
                    502, "upstream_stream_broken", f"Provider {self.id!r} broke off: {exc}", self.id
                ) from None

        async def close() -> None:
            resp.release()

        ctype = content_type or resp.headers.get("Content-Type") or "application/octet-stream"
        return Content(chunks(), ctype.split(";")[0].strip(), resp.content_length, close)


_GARBAGE = object()


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _GARBAGE


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)
