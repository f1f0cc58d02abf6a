"""Encrypting upstream provider secrets at rest with a master key from the environment."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken

from ..errors import GatewayError

MASTER_KEY_ENV = "VIDEOGATE_MASTER_KEY"


def _fernet(master: str) -> Fernet:
    # Any string works as a master key: it is stretched to Fernet's 32-byte key.
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(master.encode()).digest()))


def master_key() -> str:
    value = os.environ.get(MASTER_KEY_ENV)
    if not value:
        raise GatewayError(
            503,
            "master_key_missing",
            f"Set {MASTER_KEY_ENV} to store provider secrets (they are encrypted with it).",
        )
    return value


def encrypt(secret: str, master: str | None = None) -> str:
    return _fernet(master or master_key()).encrypt(secret.encode()).decode()


def decrypt(token: str, master: str | None = None) -> str:
    try:
        return _fernet(master or master_key()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise GatewayError(
            500,
            "master_key_mismatch",
            f"A stored provider secret cannot be decrypted with the current {MASTER_KEY_ENV}.",
        ) from None
