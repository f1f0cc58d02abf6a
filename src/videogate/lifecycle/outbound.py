"""Outgoing sessions for addresses a tenant or an admin chose (webhook endpoints): they
connect through `netguard.PublicResolver` unless private networks are allowed in config.
The checks themselves live in `netguard` (adapters' sessions use them too)."""

from __future__ import annotations

from typing import Any

import aiohttp

from ..netguard import LOCAL_NAMES, SHARED, PublicResolver, check_url, is_internal

__all__ = ["LOCAL_NAMES", "SHARED", "PublicResolver", "check_url", "is_internal", "session"]


def session(*, allow_private: bool, **kwargs: Any) -> aiohttp.ClientSession:
    """A client session whose connections reach public addresses only (unless allowed)."""
    connector = aiohttp.TCPConnector(resolver=None if allow_private else PublicResolver())
    return aiohttp.ClientSession(connector=connector, **kwargs)
