"""Addresses the gateway refuses to call when a tenant or an admin chose them.

Private, loopback, link-local (cloud metadata at 169.254.169.254 among them), shared and
reserved addresses are refused: once when the URL is registered (an IP literal or a
localhost name), and again at connect time after DNS resolution, so a name that later
resolves to an internal address (DNS rebinding) is refused too. A bottom-layer module:
webhooks (services) and provider sessions (adapters) both resolve through it.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from .errors import bad_request

SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not is_private in 3.11
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in SHARED
    )


def check_url(url: Any, param: str, *, allow_private: bool) -> str:
    """`url` if it is an http(s) URL the gateway may call; a 400 naming `param` if not."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("invalid_url", f"{param} must be an http(s) URL with a host.", param)
    if parts.username is not None or parts.password is not None:
        raise bad_request("invalid_url", f"{param} may not carry credentials.", param)
    if allow_private:
        return str(url)
    host = parts.hostname.rstrip(".").lower()
    try:
        internal = is_internal(host)
    except ValueError:  # a name: checked again at connect time, after resolution
        internal = host in LOCAL_NAMES or host.endswith(".localhost")
    if internal:
        raise bad_request(
            "private_address",
            f"{param} points at a private, loopback or link-local address; the gateway does "
            "not call those (set allow_private_networks in config for local setups).",
            param,
        )
    return str(url)


class PublicResolver(AbstractResolver):
    """aiohttp's resolver, keeping only public addresses (refusing a name with none)."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = [
            r for r in await self._inner.resolve(host, port, family) if not is_internal(r["host"])
        ]
        if not found:
            raise OSError(f"{host} resolves only to private addresses; refused")
        return found

    async def close(self) -> None:
        await self._inner.close()


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for a provider's session: names in `guarded` (the hosts of
    admin-registered base URLs, kept current by the governance sync) resolve to public
    addresses only; every other name (the operator's own config) resolves as usual."""

    def __init__(self, guarded: set[str]) -> None:
        self.guarded = guarded
        self._inner = aiohttp.ThreadedResolver()
        self._public = PublicResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host.rstrip(".").lower() in self.guarded:
            return await self._public.resolve(host, port, family)
        return await self._inner.resolve(host, port, family)

    async def close(self) -> None:
        await self._inner.close()
        await self._public.close()


def host_of(url: str) -> str | None:
    host = urlsplit(url).hostname
    return host.rstrip(".").lower() if host else None
