"""Remixing a video the caller owns: a new job on the same provider and key, reserved and
billed like a create, polled like any job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..errors import GatewayError
from ..governance.auth import Principal
from ..governance.policy import Governance
from ..governance.prices import Usage
from ..providers.base import Capability
from ..store.videos import VideoStore
from ..video import Video
from .call import Call
from .progress import JobProgress
from .reading import Reader
from .routing import ESTIMATE_SECONDS, Routing
from .undo import UnitOfWork


class RemixVideo:
    def __init__(
        self,
        videos: VideoStore,
        reader: Reader,
        routing: Routing,
        gov: Governance,
        progress: JobProgress,
    ) -> None:
        self.videos = videos
        self.reader = reader
        self.routing = routing
        self.gov = gov
        self.progress = progress

    async def __call__(
        self,
        principal: Principal,
        video_id: str,
        read_prompt: Callable[[], Awaitable[str]],
        call: Call,
    ) -> Video:
        """`read_prompt` reads the body only once the source is known to be remixable, so
        a missing video is a 404 and an incapable provider a 400 whatever the body says."""
        source = await self.reader.owned(principal, video_id, call)
        provider = self.routing.provider(source.provider)
        if not provider.supports(Capability.REMIX):
            raise GatewayError(
                400,
                "unsupported_operation",
                f"Provider {provider.id!r} does not support remix.",
                provider=provider.id,
            )
        prompt = await read_prompt()
        model = source.model_deployment or ""
        subject = await self.gov.subject(principal.key)
        self.gov.check_access(subject, provider.id, model)
        secs = float(source.seconds) if source.seconds else ESTIMATE_SECONDS
        use = Usage(seconds=secs, size=source.size)
        estimate, seconds = self.gov.estimate([(f"{provider.id}/{model}", use)])
        async with UnitOfWork() as uow:
            reservation = await self.gov.reserve(subject, estimate, seconds)

            async def give_back(exc: BaseException) -> None:
                await self.gov.release(reservation)

            uow.on_failure("reservation", give_back)
            key = provider.key_named(source.provider_key)
            up = await provider.remix(source.upstream_id, prompt, key, call.ctx)
            video = Video.started(
                up,
                provider=provider.id,
                public_token=provider.public_token(up.id),
                owner=principal.owner,
                model_requested=source.model_requested or "",
                deployment=source.model_deployment,
                key_name=key.name,
                prompt=prompt,
                size=source.size,
                seconds=source.seconds,
                remixed_from=source.id,
            )
            self.progress.schedule(video)  # its polls are scheduled like any new job's
            usage = self.gov.usage_row(video, subject, reservation, model, use)
            await self.videos.insert(video, usage)
            uow.commit()
        return video
