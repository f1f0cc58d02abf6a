"""What a create names by id, made ready before it is planned: the source video of an edit
or extension, and stored characters.

An edit or extension is a create with a source (`CreateParams.source`), so it runs the
create unit of work unchanged (ownership, budgets, Idempotency-Key, the cache, webhooks,
DELETE). This module only turns the request's reference into values providers take:

- a gateway video id: the caller's own (else 404 `video_not_found`, as retrieve answers),
  completed (else 409 `video_not_ready`); by default the edit goes to that video's provider
  and model. The provider that made it gets its own job id (`upstream_id`); any other
  target gets the bytes, from the gateway's mirrored copy or else the provider's content.
- an upload: its bytes, probed for duration and size (400 `invalid_video` if unreadable).

`SourceVideo.seconds` is always filled (input-second prices, extension totals). A target
without the operation's capability is refused (400 `unsupported_operation`) naming the
configured providers that have it, before anything is spent.
"""

from __future__ import annotations

import asyncio

from ..assets.store import AssetStore
from ..errors import GatewayError
from ..governance.auth import Principal
from ..providers.base import OPERATION_CAPABILITY, Operation, Provider, SourceVideo
from ..providers.footage import UnreadableVideo, probe
from ..video import Video, VideoStatus
from .call import Call
from .characters import Characters, unreadable
from .reading import Reader
from .requests import CreateRequest, ResolvedSource, SourceRef
from .routing import Routing


def _seconds(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


class Inputs:
    def __init__(
        self,
        reader: Reader,
        routing: Routing,
        assets: AssetStore,
        characters: Characters,
        max_bytes: int,
    ) -> None:
        self.reader = reader
        self.routing = routing
        self.assets = assets
        self.characters = characters
        self.max_bytes = max_bytes  # a source's bytes are held in memory, like an upload

    async def resolve(self, principal: Principal, request: CreateRequest, call: Call) -> None:
        """Fill `request.source` and `request.characters`."""
        if request.source_ref is not None:
            await self._source(principal, request, request.source_ref, call)
        if request.character_ids:
            request.characters = await self.characters.refs(principal, request.character_ids)

    async def _source(
        self, principal: Principal, request: CreateRequest, ref: SourceRef, call: Call
    ) -> None:
        if ref.upload is not None:
            upload = ref.upload
            assert upload.data is not None
            await self._probe(upload)
            self._targets(request)
            request.source = ResolvedSource(provider=None, native=upload)
            return
        assert ref.video_id is not None
        video = await self.reader.owned(principal, ref.video_id, call)
        video = await self.reader.refresh(video, call)
        if video.status != VideoStatus.COMPLETED:
            raise GatewayError(
                409,
                "video_not_ready",
                f"Video {video.id!r} is {video.status}; only a completed video can be "
                f"{'edited' if request.operation is Operation.EDIT else 'extended'}.",
                param="video",
                provider=video.provider,
            )
        if request.model is None:  # by default the provider and model that made it
            request.model = f"{video.provider}/{video.model_deployment or video.model_requested}"
        targets = self._targets(request)
        native = SourceVideo(
            upstream_id=video.upstream_id,
            video_id=video.id,
            seconds=_seconds(video.seconds),
            size=video.size,
            key_name=video.provider_key,
        )
        portable = None
        if any(p.id != video.provider for p in targets) or native.seconds is None:
            data = await self._bytes(video, call)
            portable = SourceVideo(data=data, video_id=video.id, content_type="video/mp4")
            await self._probe(portable)
            native.seconds = native.seconds if native.seconds is not None else portable.seconds
            native.size = native.size or portable.size
        request.source = ResolvedSource(video.provider, native, portable, video.provider_key)

    def _targets(self, request: CreateRequest) -> list[Provider]:
        """The providers the request may be planned on (a public model: each of its
        deployments), checked for the operation: 400 `unsupported_operation` naming the
        configured providers that can, when none of a model's can."""
        capability = OPERATION_CAPABILITY[request.operation]
        providers: list[Provider] = []
        for model in (request.model, *request.fallbacks):
            route = self.routing.route(model)
            if route is not None:
                found = [self.routing.deployment(ref) for ref in route[1].deployments]
                candidates = [pair[0] for pair in found if pair is not None]
            else:
                candidates = [self.routing.resolve_model(model, request.mount)[0]]
            able = [p for p in candidates if p.supports(capability)]
            if not able:
                everyone = sorted(
                    p.id for p in self.routing.providers.values() if p.supports(capability)
                )
                first = candidates[0].id if candidates else str(model)
                raise GatewayError(
                    400,
                    "unsupported_operation",
                    f"Provider {first!r} does not support {request.operation.value}; "
                    f"configured providers that do: {', '.join(everyone) or 'none'}.",
                    param="model",
                    provider=first,
                )
            providers.extend(able)
        return providers

    async def _probe(self, source: SourceVideo) -> None:
        assert source.data is not None
        try:
            footage = await asyncio.to_thread(probe, source.data)
        except UnreadableVideo as exc:
            raise unreadable(exc) from None
        source.seconds = footage.seconds
        source.size = source.size or footage.size

    async def _bytes(self, video: Video, call: Call) -> bytes:
        """The completed video's MP4: the mirrored copy if there is one, else streamed from
        its provider with the key that made it."""
        stored = (video.assets or {}).get("video")
        chunks = await self.assets.open(stored["key"]) if stored else None
        close = None
        if chunks is None:
            provider = self.routing.provider(video.provider)
            content = await provider.content(
                video.upstream_id, "video", provider.key_named(video.provider_key), call.ctx
            )
            chunks, close = content.chunks, content.close
        data = bytearray()
        try:
            async for chunk in chunks:
                data += chunk
                if len(data) > self.max_bytes:
                    raise GatewayError(
                        413,
                        "source_too_large",
                        f"The source video exceeds the limit of {self.max_bytes} bytes.",
                        param="video",
                    )
        finally:
            if close is not None:
                await close()
        return bytes(data)
