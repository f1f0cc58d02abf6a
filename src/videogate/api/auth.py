"""Which credential a request carries, read from its headers as Bifrost reads them.

Checking the credential (virtual keys, virtual-key JWTs, admin JWTs) is the service's job
(`governance/auth.py`); this module only finds it, and re-exports what callers of the API
layer (the CLI, tests) use to mint tokens.
"""

from __future__ import annotations

from typing import Any

from ..governance.auth import ADMIN_ROLE, LOCAL, VK_ROLE, Authenticator, Principal, mint_jwt

__all__ = ["ADMIN_ROLE", "LOCAL", "VK_ROLE", "Authenticator", "Principal", "bearer", "mint_jwt"]


def bearer(headers: Any) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return str(value.strip())
    vk = headers.get("x-bf-vk")
    return str(vk).strip() if vk else None
