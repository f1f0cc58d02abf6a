"""The one interface every provider adapter implements, and the values that cross it.

An adapter turns the gateway's OpenAI-shaped request into its provider's wire format and the
provider's answers back into `UpstreamVideo`. Adapters never see the store, auth or other
providers; the credential for each call is passed in, chosen from the video's own row, so a
job is always polled, downloaded and deleted with the key that created it.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ..config import ProviderConfig, UpstreamKey
from ..errors import GatewayError
from ..video import STATUSES, TERMINAL, Failure, Status, UpstreamVideo
from .balancer import CircuitBreaker, KeyPool
from .specs import ModelSpec, find_spec

__all__ = ["STATUSES", "TERMINAL", "Failure", "Status", "UpstreamVideo"]
SAFE_TOKEN = re.compile(r"[A-Za-z0-9._-]+")
UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._-]")
VARIANT_TYPES: dict[str, str] = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}


class Capability(StrEnum):
    """What an adapter can do; the API answers `unsupported_operation` for the rest."""

    CREATE = "create"
    RETRIEVE = "retrieve"
    CONTENT = "content"
    REMIX = "remix"
    DELETE = "delete"  # removes the job upstream once it has ended
    CANCEL = "cancel"  # stops a job that is still queued or running
    IMAGE_INPUT = "image_input"
    THUMBNAIL = "thumbnail"
    SPRITESHEET = "spritesheet"
    EDIT = "edit"  # a new video from an existing one and a prompt (video-to-video)
    EXTEND = "extend"  # a new video that continues an existing one by `seconds`
    AUDIO = "audio"  # `generate_audio` (a sound track rendered with the picture)
    REFERENCES = "references"  # `reference_images` / characters guide the render


class Operation(StrEnum):
    """What a create-like request makes: a new video, an edit of one, or its extension.

    Edits and extensions are creates with a `source`: the same unit of work (idempotency,
    budgets, cache, failover, webhooks) runs for all three, and the adapter's `prepare`
    picks the endpoint by `params.operation`.
    """

    CREATE = "create"
    EDIT = "edit"
    EXTEND = "extend"


OPERATION_CAPABILITY: dict[Operation, Capability] = {
    Operation.CREATE: Capability.CREATE,
    Operation.EDIT: Capability.EDIT,
    Operation.EXTEND: Capability.EXTEND,
}


VARIANT_CAPABILITY: dict[str, Capability] = {
    "video": Capability.CONTENT,
    "thumbnail": Capability.THUMBNAIL,
    "spritesheet": Capability.SPRITESHEET,
}


@dataclass
class InputReference:
    """An image guiding generation: uploaded bytes, a URL (http or data:), or a file id."""

    data: bytes | None = None
    content_type: str | None = None
    filename: str | None = None
    image_url: str | None = None
    file_id: str | None = None


@dataclass
class SourceVideo:
    """The video an edit or an extension starts from.

    `upstream_id` is set when the source is a job on the same provider (most native edit
    and extend APIs take their own id); `url` where the provider can fetch it (its own
    asset URL, or the gateway's mirrored copy); `data` for an upload or mirrored bytes.
    `seconds` is its duration, for input-second prices and extension totals.
    """

    upstream_id: str | None = None
    url: str | None = None
    data: bytes | None = None
    content_type: str = "video/mp4"
    seconds: float | None = None
    size: str | None = None
    video_id: str | None = None  # the gateway's public id of the source, when it has one
    # The upstream key that made the source job: its `upstream_id` is valid only on that
    # account, so a create sending the id must use this key (`starting.start`).
    key_name: str | None = None


@dataclass
class CharacterRef:
    """A stored character (`POST /v1/videos/characters`) named in a create: its name for
    prompt-driven providers, a still of it for providers that take reference images."""

    id: str
    name: str
    image: InputReference | None = None


# The normalised fields below, by name: the API also leaves the scalar ones in `extra` as
# sent (for adapters that take them under the same name); an adapter that maps the typed
# field drops these from its extras (`without_normalised`).
NORMALISED_FIELDS = frozenset(
    {"generate_audio", "negative_prompt", "seed", "aspect_ratio", "resolution", "fps", "n"}
)


def without_normalised(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in extra.items() if k.split("[", 1)[0] not in NORMALISED_FIELDS}


@dataclass
class CreateParams:
    """The OpenAI create body after parsing; `model` is the provider-side model name.

    The normalised generation fields below are validated against the model's `ModelSpec`
    (`providers/specs.py`) before any upstream call; each adapter maps the ones it takes
    onto its own wire names. None means "not asked for" (the provider's default).
    """

    model: str
    prompt: str
    seconds: str | None = None
    size: str | None = None
    input_reference: InputReference | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # A gateway-made id for this create (from its Idempotency-Key), for providers that take
    # a client reference and let it be looked up: the evidence `find_created` matches on.
    reference: str | None = None
    operation: Operation = Operation.CREATE
    source: SourceVideo | None = None  # set for EDIT and EXTEND
    generate_audio: bool | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    aspect_ratio: str | None = None  # "16:9", "9:16", "1:1", ...
    resolution: str | None = None  # "480p", "720p", "1080p", "4k"
    fps: int | None = None
    last_frame: InputReference | None = None  # `input_reference` is the first frame
    reference_images: list[InputReference] = field(default_factory=list)
    characters: list[CharacterRef] = field(default_factory=list)
    n: int | None = None  # clips per request, where a provider renders several


@dataclass(slots=True)
class Prepared:
    """A create checked and built once for one provider, before any upstream call.

    `prepare` raises every 400 it can without the network and returns this; `create` sends
    it as it is, so an upload is encoded once per request however many keys or fallbacks
    are tried.
    """

    params: CreateParams
    body: Any = None  # what `create` sends: a JSON object, or multipart fields
    shown: Any = None  # `body` as `raw_request` shows it (uploads shortened)
    route: str = ""  # the endpoint the adapter chose, where it has several
    size: str | None = None  # what the provider will render, recorded on the job
    seconds: str | None = None

    def accepted(self, video_id: str, raw: Any) -> UpstreamVideo:
        """The job the provider has just accepted: queued, echoing this request."""
        return UpstreamVideo(
            id=video_id,
            status="queued",
            model=self.params.model,
            prompt=self.params.prompt,
            size=self.size,
            seconds=self.seconds,
            raw=raw,
        )


@dataclass
class Content:
    """A streamed asset. `close` must run when the body is done or abandoned."""

    chunks: AsyncIterator[bytes]
    content_type: str
    content_length: int | None
    close: Callable[[], Awaitable[None]]
    content_range: str | None = None  # set when the provider answered a Range with 206


@dataclass
class DeleteResult:
    """`deleted`: the provider confirmed; `gone`: it no longer knows the job either way."""

    deleted: bool
    cancelled: bool = False
    pending: bool = False  # the provider cannot do it yet (job still running)
    detail: str | None = None


@dataclass
class CallContext:
    """Per-call bookkeeping: raw bodies for `extra_fields` when the caller asked for them."""

    capture_raw: bool = False
    raw_request: Any = None
    raw_response: Any = None
    reached: bool = False  # the provider was called (a record was made)
    byte_range: str | None = None  # a caller's `Range` for content streamed from upstream

    def record(self, request: Any = None, response: Any = None) -> None:
        if not self.capture_raw:
            return
        self.reached = True
        if request is not None:
            self.raw_request = request
        if response is not None:
            self.raw_response = response


class Provider(ABC):
    """Base for adapters. Subclasses declare `capabilities` and implement what they claim."""

    type_name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    default_poll_after_ms: ClassVar[int] = 2000
    needs_key: ClassVar[bool] = True  # False: works without any configured upstream key
    needs_state_dir: ClassVar[bool] = False  # True: gets options["state_dir"] in the data dir
    finds_created: ClassVar[bool] = False  # True: `find_created` can tell, by reference
    # What each model accepts (fnmatch patterns → ModelSpec): `/v1/models` lists it and the
    # gateway checks requests against it before any upstream call (providers/specs.py).
    models: ClassVar[dict[str, ModelSpec]] = {}

    def __init__(self, provider_id: str, config: ProviderConfig) -> None:
        self.id = provider_id
        self.config = config
        self.keys = KeyPool(list(config.keys), config.unhealthy_key_seconds)
        self.breaker = CircuitBreaker(config.breaker_threshold, config.breaker_cooldown_seconds)
        # Hosts of admin-registered base URLs (kept current, in place, by the governance
        # sync): connections to them resolve to public addresses only (netguard).
        self.guarded_hosts: set[str] = set()

    @property
    def poll_after_ms(self) -> int:
        return self.config.poll_after_ms or self.default_poll_after_ms

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def spec(self, model: str) -> ModelSpec | None:
        """What `model` accepts here, or None when this adapter declares nothing for it."""
        return find_spec(self.models, model)

    def candidate_keys(self, model: str, allowed: list[str] | None = None) -> list[UpstreamKey]:
        """Keys to try for a new job on `model`, in order (weighted, healthy first);
        `allowed` narrows them to the names a virtual key may use."""
        if not self.keys.keys and self.needs_key is False:
            return [UpstreamKey(name="none")]
        found = [k for k in self.keys.candidates(model) if allowed is None or k.name in allowed]
        if found:
            return found
        raise GatewayError(
            400,
            "no_upstream_key",
            f"Provider {self.id!r} has no upstream key configured for model {model!r}.",
            param="model",
            provider=self.id,
        )

    def key_named(self, name: str | None) -> UpstreamKey:
        """The key a stored video was created with; it must still be configured."""
        for key in self.keys.keys:
            if key.name == name:
                return key
        if not self.keys.keys and self.needs_key is False:
            return UpstreamKey(name="none")
        raise GatewayError(
            503,
            "upstream_key_unavailable",
            f"The upstream key {name!r} that created this video is no longer configured "
            f"for provider {self.id!r}.",
            provider=self.id,
        )

    def public_token(self, upstream_id: str) -> str:
        """The provider's id as it appears before `:<provider>` in public ids.

        Must be unique and URL-path safe (no '/', '?', '#'); override for providers whose
        ids are resource names such as `models/veo/operations/abc`. The store keeps the
        real upstream id, so this never needs reversing. By default an id holding anything
        but letters, digits, '.', '_' and '-' has each other character written `~xx` (its
        code in hex; '~' itself too, so two ids never meet): a provider that answers
        `a/b?c` still gets a video that can be retrieved and deleted.
        """
        if SAFE_TOKEN.fullmatch(upstream_id):
            return upstream_id
        return UNSAFE_CHAR.sub(
            lambda m: "".join(f"~{b:02x}" for b in m.group().encode()), upstream_id
        )

    def prepare(self, params: CreateParams) -> Prepared:
        """Check `params` for this provider (400s before any upstream call) and build what
        `create` will send. The default sends nothing of its own; adapters override it."""
        return Prepared(params, size=params.size, seconds=params.seconds)

    @abstractmethod
    async def create(self, prepared: Prepared, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        """Start the job `prepare` built."""

    @abstractmethod
    async def retrieve(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> UpstreamVideo:
        """The job's current state."""

    def created_reference(self, prepared: Prepared) -> str | None:
        """The reference `find_created` will match for this create (None: it cannot find
        it): kept with the create's intent, so a job whose create died can be found."""
        return prepared.params.reference if self.finds_created else None

    async def find_created(
        self, prepared: Prepared, key: UpstreamKey, ctx: CallContext
    ) -> UpstreamVideo | None:
        """After a create timed out: the job it started, found by the reference the create
        sent (`params.reference`), never by prompt (that adopts another client's job on a
        shared account). None: there is none. Only adapters with `finds_created` override it."""
        return None

    async def content(
        self, video_id: str, variant: str, key: UpstreamKey, ctx: CallContext
    ) -> Content:
        raise unsupported(self.id, "content")

    async def remix(
        self, video_id: str, prompt: str, key: UpstreamKey, ctx: CallContext
    ) -> UpstreamVideo:
        raise unsupported(self.id, "remix")

    async def delete(self, video_id: str, key: UpstreamKey, ctx: CallContext) -> DeleteResult:
        raise unsupported(self.id, "delete")

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release pooled connections."""


def unsupported(provider: str, operation: str) -> GatewayError:
    return GatewayError(
        400,
        "unsupported_operation",
        f"Provider {provider!r} does not support {operation}.",
        provider=provider,
    )
