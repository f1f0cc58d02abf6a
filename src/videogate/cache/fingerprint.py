"""What makes two creates "the same": a digest of every parameter, with and without prompt.

`params_key` covers the target (provider/model and fallbacks) and every non-prompt parameter,
input-reference bytes by SHA-256, so a semantic hit can only differ in wording; `direct_key`
adds the exact prompt.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ..providers.base import CreateParams, InputReference, Provider


def _reference(ref: InputReference | None) -> list[Any] | None:
    if ref is None:
        return None
    digest = hashlib.sha256(ref.data).hexdigest() if ref.data is not None else None
    return [digest, ref.content_type if ref.data is not None else None, ref.image_url, ref.file_id]


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def params_key(planned: list[tuple[Provider, CreateParams]]) -> str:
    """Digest of the targets in order and of the first target's non-prompt parameters."""
    _, first = planned[0]
    return _digest(
        {
            "targets": [f"{provider.id}/{params.model}" for provider, params in planned],
            "seconds": first.seconds,
            "size": first.size,
            "extra": first.extra,
            "input_reference": _reference(first.input_reference),
        }
    )


def direct_key(params: str, prompt: str) -> str:
    return _digest({"params": params, "prompt": prompt})
