"""What a client asked for, parsed and checked by the API layer, handed to the services."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ..providers.base import CharacterRef, CreateParams, InputReference, Operation, SourceVideo


@dataclass
class SourceRef:
    """The video an edit or extension names, as parsed: a gateway video id (`{"id": …}`),
    or an upload (`data`, with its duration and size probed)."""

    video_id: str | None = None
    upload: SourceVideo | None = None


@dataclass
class ResolvedSource:
    """A source made ready for the targets (`lifecycle/sources.py`): `native` for the
    provider that made it (its own id), `portable` (the bytes) for any other provider."""

    provider: str | None  # the source video's provider; None for an upload
    native: SourceVideo
    portable: SourceVideo | None = None
    # The upstream key that made the source: a provider's own id is only valid on its
    # account, so a native edit must be sent with this key (see `starting.start`).
    key_name: str | None = None

    def for_provider(self, provider_id: str | None) -> SourceVideo:
        """The form `provider_id` gets: its own job id for the source's provider, the bytes
        for another (without them, no id it could not read: the adapter refuses the
        request as missing its source). Unknown provider: the bytes if loaded, else the
        source's own form (an edit goes to the source's provider by default)."""
        if provider_id == self.provider or (provider_id is None and self.portable is None):
            return self.native
        if self.portable is not None:
            return self.portable
        return replace(self.native, upstream_id=None)


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _image_identity(ref: InputReference | None) -> list[Any] | None:
    if ref is None:
        return None
    return [_digest(ref.data), ref.image_url, ref.file_id]


@dataclass
class CreateRequest:
    """A create body: multipart (the openai SDK), a form or JSON all become this.

    Edits and extensions are creates too (`operation`, `source`); the normalised generation
    fields reach every target's `CreateParams` (`params_for`). The scalar ones also stay in
    `extra` under their wire names, as sent, for adapters that read them there.
    """

    prompt: str
    model: str | None
    seconds: str | None
    size: str | None
    input_reference: InputReference | None
    fallbacks: list[str]
    extra: dict[str, Any] = field(default_factory=dict)
    # The provider type whose integration mount the request came in on (`/openai/...`):
    # a bare model goes to that provider, as Bifrost's ParseModelString defaults it.
    mount: str | None = None
    operation: Operation = Operation.CREATE
    source_ref: SourceRef | None = None
    generate_audio: bool | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    fps: int | None = None
    n: int | None = None
    last_frame: InputReference | None = None
    reference_images: list[InputReference] = field(default_factory=list)
    character_ids: list[str] = field(default_factory=list)
    # Filled by `lifecycle/sources.Inputs` before the create runs: the source ready for
    # each target and the stored characters named.
    source: ResolvedSource | None = None
    characters: list[CharacterRef] = field(default_factory=list)

    @property
    def names_inputs(self) -> bool:
        """Whether something here is named by id and must be looked up before planning."""
        return self.source_ref is not None or bool(self.character_ids)

    def params_for(self, model: str, reference: str | None, provider: str) -> CreateParams:
        """The provider-side parameters for one routing target serving `model` (on
        `provider`, which picks the form of the source video it is sent)."""
        source = None
        if self.source is not None:
            source = replace(self.source.for_provider(provider))
        return CreateParams(
            model=model,
            prompt=self.prompt,
            seconds=self.seconds,
            size=self.size,
            input_reference=self.input_reference,
            extra=dict(self.extra),
            reference=reference,
            operation=self.operation,
            source=source,
            generate_audio=self.generate_audio,
            negative_prompt=self.negative_prompt,
            seed=self.seed,
            aspect_ratio=self.aspect_ratio,
            resolution=self.resolution,
            fps=self.fps,
            last_frame=self.last_frame,
            reference_images=list(self.reference_images),
            characters=list(self.characters),
            n=self.n,
        )

    def identity(self) -> dict[str, Any]:
        """What defines the job beyond the fields `starting.request_hash` digests (those
        and `extra`, which holds the scalar normalised fields): empty for a plain create,
        so its Idempotency-Key digest is what it always was."""
        found: dict[str, Any] = {}
        if self.operation is not Operation.CREATE:
            found["operation"] = self.operation.value
        ref = self.source_ref
        if ref is not None:
            found["source"] = ref.video_id or _digest(ref.upload.data if ref.upload else None)
        if self.character_ids:
            found["characters"] = self.character_ids
        if self.last_frame is not None:
            found["last_frame"] = _image_identity(self.last_frame)
        if self.reference_images:
            found["reference_images"] = [_image_identity(r) for r in self.reference_images]
        return found

    def digest(self, base: str) -> str:
        """`base` (the `request_hash` of the classic fields) extended by `identity()`; the
        same as `base` for a plain create."""
        more = self.identity()
        if not more:
            return base
        canonical = orjson.dumps({"base": base, **more}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()
