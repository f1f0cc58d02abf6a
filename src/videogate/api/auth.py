"""Which credential a request carries, read from its headers as Bifrost reads them.

Checking the credential (virtual keys, virtual-key JWTs, admin JWTs) is the service's job
(`governance/auth.py`); this module only finds it, and re-exports what callers of the API
layer (the CLI, tests) use to mint tokens.
"""

from __future__ import annotations

from typing import Any

from ..governance.auth import (
    ADMIN_ROLE,
    KEY_PREFIX,
    LOCAL,
    VK_ROLE,
    Authenticator,
    Principal,
    mint_jwt,
)

__all__ = ["ADMIN_ROLE", "LOCAL", "VK_ROLE", "Authenticator", "Principal", "bearer", "mint_jwt"]


# Headers that may carry a virtual key after `x-bf-vk` and `Authorization`, in Bifrost's
# order (plugins/governance/utils.go: x-bf-vk, Authorization Bearer, x-api-key,
# x-goog-api-key, then api-key); each counts only when its value is an `sk-bf-` key.
KEY_HEADERS = ("x-api-key", "x-goog-api-key", "api-key")


def bearer(headers: Any) -> str | None:
    """The credential a request carries, read as Bifrost reads it.

    `x-bf-vk` wins over everything (Bifrost's docs give the OpenAI SDK `api_key="dummy-key"`
    and the key in `x-bf-vk`). Then `Authorization: Bearer` when it holds a virtual key or a
    JWT (virtual-key and admin JWTs travel only there), then the other key headers. A Bearer
    value that is neither is returned only when nothing else carries a key, so the caller
    hears `invalid_token` rather than `virtual_key_required`.
    """
    vk = headers.get("x-bf-vk")
    if vk and vk.strip():
        return str(vk.strip())
    token = None
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = str(value.strip())
            if token.lower().startswith(KEY_PREFIX) or token.count(".") == 2:
                return token
    for name in KEY_HEADERS:
        value = headers.get(name)
        if value and value.strip().lower().startswith(KEY_PREFIX):
            return str(value.strip())
    return token
