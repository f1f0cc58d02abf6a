"""Who is calling: a virtual key (`sk-bf-…`), a virtual-key JWT, an admin JWT, or nobody.

Keys are looked up by hash and cached for `auth.key_cache_seconds` (1 s by default), so a
revoked key stops working everywhere within that time without a database read per request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from ..errors import GatewayError
from ..store.keys import KEY_PREFIX, KeyStore, hash_key

__all__ = ["ADMIN_ROLE", "KEY_PREFIX", "LOCAL", "VK_ROLE", "Authenticator", "Principal", "mint_jwt"]
ADMIN_ROLE = "admin"
VK_ROLE = "virtual_key"
CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class Principal:
    kind: str  # admin | virtual_key | local
    owner: str  # what video rows record as their owner
    key_id: str | None = None
    name: str | None = None
    key: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def is_admin(self) -> bool:
        return self.kind in ("admin", "local")


LOCAL = Principal(kind="local", owner="local", name="no-auth")


def _denied(status: int, code: str, message: str) -> GatewayError:
    return GatewayError(status, code, message)


class Authenticator:
    def __init__(
        self, keys: KeyStore, jwt_secret: str, cache_seconds: float, issuer: str | None = None
    ) -> None:
        self.keys = keys
        self.jwt_secret = jwt_secret
        self.issuer = issuer
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._loading: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._generation = 0  # bumped by `forget`

    def forget(self) -> None:
        """Drop what is cached and what is being looked up (a key changed)."""
        self._generation += 1
        self._cache.clear()
        self._loading.clear()

    async def _key_row(self, cache_key: str, load: Any) -> dict[str, Any] | None:
        now = time.monotonic()
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1]
        # One lookup per key when its entry expires, however many requests are waiting on it
        # (under load every connection missed at once: dozens of identical queries a second).
        loading = self._loading.get(cache_key)
        if loading is None:
            loading = self._loading[cache_key] = asyncio.ensure_future(load())
            loading.add_done_callback(lambda done: self._drop(cache_key, done))
        generation = self._generation
        # shielded: a caller that goes away leaves the lookup to the others
        row: dict[str, Any] | None = await asyncio.shield(loading)
        if generation != self._generation:
            return row  # `forget` came meanwhile: this row may predate a revocation
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[cache_key] = (now + self.cache_seconds, row)
        return row

    def _drop(self, cache_key: str, done: asyncio.Future[Any]) -> None:
        if self._loading.get(cache_key) is done:  # not a newer lookup started after `forget`
            del self._loading[cache_key]

    @staticmethod
    def check_row(row: dict[str, Any] | None) -> Principal:
        if row is None:
            # 401 as Bifrost (plugins/governance/main.go): a key that names nobody
            raise _denied(401, "virtual_key_not_found", "This virtual key does not exist.")
        if row["revoked_at"] is not None:
            raise _denied(401, "virtual_key_revoked", "This virtual key has been revoked.")
        if row["blocked"]:
            raise _denied(403, "virtual_key_blocked", "This virtual key is blocked.")
        expires = row.get("expires_at")
        if expires is not None and expires <= time.time():
            raise _denied(403, "virtual_key_expired", "This virtual key has expired.")
        return Principal(
            kind="virtual_key", owner=row["id"], key_id=row["id"], name=row["name"], key=row
        )

    async def from_token(self, token: str | None) -> Principal:
        if not token:
            raise _denied(
                401,
                "virtual_key_required",
                "Send a virtual key (sk-bf-…) in 'x-bf-vk', 'Authorization: Bearer …', "
                "'x-api-key' or 'x-goog-api-key', or a JWT as 'Authorization: Bearer …'.",
            )
        if token.startswith(KEY_PREFIX):
            digest = hash_key(token)
            row = await self._key_row("h:" + digest, lambda: self.keys.by_secret(token))
            return self.check_row(row)
        if token.count(".") == 2:
            return await self._from_jwt(token)
        raise _denied(401, "invalid_token", "The bearer token is neither a virtual key nor a JWT.")

    async def _from_jwt(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.jwt_secret,
                algorithms=["HS256"],  # pinned: no 'none', no algorithm confusion
                options={"require": ["exp"]},
                issuer=self.issuer,
            )
        except jwt.ExpiredSignatureError:
            raise _denied(401, "token_expired", "The JWT has expired.") from None
        except jwt.ImmatureSignatureError:
            raise _denied(401, "token_not_yet_valid", "The JWT is not valid yet (nbf).") from None
        except jwt.InvalidTokenError as exc:
            raise _denied(401, "invalid_token", f"The JWT is not valid: {exc}.") from None
        # PyJWT takes a numeric string for exp/nbf/iat; RFC 7519 says NumericDate (a number).
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise _denied(401, "invalid_token", f"The JWT's {name!r} must be a number.")
        role = claims.get("role")
        if role == ADMIN_ROLE:
            return Principal(kind="admin", owner="admin", name=str(claims.get("sub") or "admin"))
        if role == VK_ROLE and isinstance(claims.get("vk"), str):
            key_id = claims["vk"]
            row = await self._key_row("i:" + key_id, lambda: self.keys.by_id(key_id))
            return self.check_row(row)
        raise _denied(401, "invalid_token", "The JWT names neither an admin nor a virtual key.")


def mint_jwt(
    secret: str,
    *,
    role: str,
    ttl_seconds: int,
    subject: str = "admin",
    vk: str | None = None,
    issuer: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "role": role,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
    }
    if vk is not None:
        claims["vk"] = vk
    if issuer is not None:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
