"""Encrypting upstream provider secrets at rest with a master key from the environment."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.fernet import Fernet, InvalidToken

from ..config import MASTER_KEY_ENV
from ..errors import GatewayError

__all__ = ["MASTER_KEY_ENV", "Sealer", "decrypt", "encrypt", "master_key"]


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


class Sealer:
    """Encrypts secrets the gateway must read back (webhook signing secrets) with the
    master key when one is set, else with a key generated once in the data dir (0600), so
    a copy of the database alone (a dump, a backup) does not give them away."""

    PLAIN_PREFIX = "whsec_"  # rows written before sealing: plaintext, still readable

    def __init__(self, key: str) -> None:
        self._fernet = _fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if stored.startswith(self.PLAIN_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise GatewayError(
                500,
                "sealing_key_mismatch",
                "A stored webhook secret cannot be decrypted with this gateway's key.",
            ) from None
