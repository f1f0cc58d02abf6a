"""What makes two creates "the same": a digest of every parameter, with and without prompt.

`params_key` covers the target (provider/model and fallbacks) and every non-prompt parameter,
input-reference bytes by SHA-256, so a semantic hit can only differ in wording; `direct_key`
adds the exact prompt.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ..providers.base import CreateParams, InputReference, Operation, Provider


def _reference(ref: InputReference | None) -> list[Any] | None:
    if ref is None:
        return None
    digest = hashlib.sha256(ref.data).hexdigest() if ref.data is not None else None
    return [digest, ref.content_type if ref.data is not None else None, ref.image_url, ref.file_id]


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _inputs(params: CreateParams) -> dict[str, Any]:
    """The inputs beyond `extra` (which holds the scalar normalised fields): an edit's or
    extension's source, characters, reference images, a last frame. Empty for a plain
    create, whose key is then what it always was."""
    found: dict[str, Any] = {}
    if params.operation is not Operation.CREATE:
        found["operation"] = params.operation.value
    source = params.source
    if source is not None:
        data = hashlib.sha256(source.data).hexdigest() if source.data is not None else None
        found["source"] = source.video_id or source.upstream_id or data
    if params.characters:
        found["characters"] = [c.id for c in params.characters]
    if params.reference_images:
        found["reference_images"] = [_reference(r) for r in params.reference_images]
    if params.last_frame is not None:
        found["last_frame"] = _reference(params.last_frame)
    return found


def params_key(planned: list[tuple[Provider, CreateParams]]) -> str:
    """Digest of the targets in order and of the first target's non-prompt parameters."""
    _, first = planned[0]
    value = {
        "targets": [f"{provider.id}/{params.model}" for provider, params in planned],
        "seconds": first.seconds,
        "size": first.size,
        "extra": first.extra,
        "input_reference": _reference(first.input_reference),
    }
    inputs = _inputs(first)
    if inputs:
        value["inputs"] = inputs
    return _digest(value)


def direct_key(params: str, prompt: str) -> str:
    return _digest({"params": params, "prompt": prompt})
