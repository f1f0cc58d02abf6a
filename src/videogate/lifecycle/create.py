"""Creating a video: one unit of work.

    plan -> idempotency replay -> cache -> reserve -> start upstream -> record

`plan` validates and builds the request for every target before anything is spent. Each
claim taken on the way registers its undo once (`UnitOfWork`): the Idempotency-Key is
released (or marked "unknown" once an upstream job may exist, so a retry looks it up), the
budget reservation is given back, the cache claim is let go. Whatever fails — a provider's
refusal, a timeout, or a bug — runs those steps; recording the job commits them away.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..cache.options import CacheOptions
from ..cache.service import CacheLookup, CacheService
from ..config import UpstreamKey
from ..errors import GatewayError, bad_request, not_found
from ..governance.auth import Principal
from ..governance.policy import Governance, Reservation, Subject
from ..providers.base import Prepared, Provider
from ..store.idempotency import IdempotencyStore
from ..store.videos import VideoStore
from ..video import UpstreamVideo, Video
from .call import Call
from .orphans import intent_of
from .policy import STARTED_GIVE_UP_SECONDS
from .progress import JobProgress
from .requests import CreateRequest
from .routing import Plan, Routing, Target, budget_levels, usage_of
from .starting import request_hash, start
from .undo import UnitOfWork


@dataclass
class Created:
    """The new (or replayed, or shared) video, and what its `extra_fields` add."""

    video: Video
    extra: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False


def create_reference(owner: str, idempotency_key: str) -> str:
    """The client reference sent with a create that has an Idempotency-Key: the same for
    its retries (so a lost answer can be found), different for every owner and key."""
    digest = hashlib.sha256(f"{owner}\0{idempotency_key}".encode()).hexdigest()
    return "vg-" + digest[:40]


def idempotency_conflict(message: str, code: str = "idempotency_key_reused") -> GatewayError:
    return GatewayError(409, code, message, param="Idempotency-Key")


class CreateVideo:
    def __init__(
        self,
        routing: Routing,
        gov: Governance,
        idempotency: IdempotencyStore,
        cache: CacheService,
        videos: VideoStore,
        progress: JobProgress,
    ) -> None:
        self.routing = routing
        self.gov = gov
        self.idempotency = idempotency
        self.cache = cache
        self.videos = videos
        self.progress = progress

    async def __call__(
        self,
        principal: Principal,
        request: CreateRequest,
        call: Call,
        *,
        idempotency_key: str | None = None,
        cache_options: CacheOptions | None = None,
    ) -> Created:
        call.model_requested = self.routing.requested_name(request.model)
        # Every create sends a reference where the provider takes one, so a timed-out
        # create can be looked up before failing over (the same one for a retried
        # Idempotency-Key, so a retry finds the job too).
        reference = (
            create_reference(principal.owner, idempotency_key)
            if idempotency_key
            else "vg-" + secrets.token_hex(20)
        )
        route = self.routing.route(request.model)
        if route is not None and route[1].strategy == "fastest":
            await self.routing.speeds.fresh()
        targets = self.routing.plan(request, reference)
        subject = await self.gov.subject(principal.key)
        targets = self.allowed(subject, targets)
        idem = idempotency_key
        async with UnitOfWork() as uow:
            if idem is not None:
                replay = await self._replay(principal, subject, request, idem, targets, call)
                if replay is not None:
                    return replay
                self._maybe_started(uow, principal.owner, idem)
            # each target's estimate, computed once (the price lookup scans the tables)
            estimates = {t.deployment: self.routing.estimate(t) for t in targets}
            estimate = max(estimates.values())
            look: CacheLookup | None = None
            if cache_options is not None:
                look = found = await self.cache.lookup(
                    principal, subject, targets, call.model_requested, idem, cache_options, estimate
                )
                uow.finally_(lambda: self.cache.done(found))
                if found.video is not None:  # a hit: nothing is spent (the request was counted)
                    call.provider = found.video.provider
                    if idem is not None:
                        await self.idempotency.set_state(
                            principal.owner,
                            idem,
                            "done",
                            video_id=found.video.id,
                            provider=call.provider,
                        )
                    uow.commit()
                    return Created(found.video, {"cache_debug": found.debug()})
            allowed = self.gov.upstream_keys(subject)

            def intent(kept: Plan) -> dict[str, Any]:  # kept with the reservation (orphans.py)
                model = call.model_requested
                return intent_of(principal, model, idem, kept, allowed, estimates)

            reservation, targets = await self.reserve(subject, targets, estimates, intent)

            async def give_back(exc: BaseException) -> None:
                # A timed-out upstream create may have started a job: its intent stays for
                # the worker's sweep to look it up (or record it as a possible orphan).
                timed_out = isinstance(exc, GatewayError) and exc.code == "upstream_timeout"
                await self.gov.release(reservation, keep_intent=timed_out)

            uow.on_failure("reservation", give_back)
            started = await start(targets, call.ctx, allowed)
            if idem is not None:  # a job exists upstream now: a failed retry must find it
                self._started(uow, principal.owner, idem)
            used = Target(started.provider, started.prepared)
            video = await self._record(
                principal,
                call,
                started.provider,
                started.prepared,
                started.key,
                started.video,
                idem,
                usage=(subject, reservation, estimates[used.deployment]),
                route=targets.route,
            )
            uow.commit()
            # Committed: nothing below is undone. Still inside the unit, so the cache claim
            # is let go only once the entry is stored (a waiting identical create finds it).
            if video.ended:  # some providers answer a finished job at once
                await self.progress.settle_ended(video, started.video)
            more: dict[str, Any] = {}
            if look is not None:  # remember this job for later identical (or similar) creates
                await self.cache.remember(look, video)
                more["cache_debug"] = look.debug()
        if started.fallback_index:
            more["fallback_index"] = started.fallback_index
        if targets.route is not None:
            more["routing"] = {
                "model": targets.route,
                "strategy": targets.strategy,
                "skipped": [s.deployment for s in targets.skipped],
            }
        if targets.route is not None or len(started.attempts) > 1:
            more["attempts"] = started.attempts
        if started.adopted:
            more["reconciled"] = True
        return Created(video, more)

    def allowed(self, subject: Subject, plan: Plan) -> Plan:
        """The targets this key may use (see `Routing.allowed`)."""

        def check(provider_id: str, model: str, route: str | None) -> None:
            self.gov.check_access(subject, provider_id, model, route)

        return self.routing.allowed(plan, check)

    async def reserve(
        self,
        subject: Subject,
        plan: Plan,
        estimates: dict[str, float],
        intent: Callable[[Plan], dict[str, Any]] | None = None,
    ) -> tuple[Reservation, Plan]:
        """Reserve what the dearest target would cost, so failing over never overruns a
        budget. When that is over budget, reserve for fewer: the targets that cost no more
        than the first level the budget admits (`budget_levels`), dropping dearer ones.
        `intent` gives what the create is about to ask those targets, written with the
        reservation before any upstream call (`lifecycle/orphans.py`)."""
        levels = list(budget_levels(plan, [estimates[t.deployment] for t in plan]))
        for i, (level, kept) in enumerate(levels):
            seconds = max(usage_of(t.provider, t.prepared).seconds for t in kept)
            meant = intent(kept) if intent is not None else None
            try:
                return await self.gov.reserve(subject, level, seconds, meant), kept
            except GatewayError as exc:
                if exc.code != "budget_exceeded" or i == len(levels) - 1:
                    raise
        raise AssertionError("a plan has at least one target")

    async def _reconcile(
        self,
        principal: Principal,
        subject: Subject,
        idem: str,
        targets: list[Target],
        call: Call,
    ) -> Created | None:
        """The earlier upstream create timed out: a job may exist or not. Where every
        target can look its job up by the reference the create sent, adopt what is found
        (billed like any job) or, if nothing is, create now; otherwise refuse. Matching by
        prompt would adopt another client's job on a shared account (issue 18)."""
        if not all(target.provider.finds_created for target in targets):
            raise idempotency_conflict(
                "The earlier create with this Idempotency-Key timed out upstream, and the "
                "provider cannot tell whether it started a job. The gateway will not guess "
                "(it could hand you another client's video) nor start a second one: check "
                "GET /v1/videos, then retry with a new Idempotency-Key.",
                "idempotency_outcome_unknown",
            )
        allowed = self.gov.upstream_keys(subject)
        for target in targets:
            provider, prepared = target
            for key in provider.candidate_keys(prepared.params.model, allowed):
                up = await provider.find_created(prepared, key, call.ctx)
                if up is None:
                    continue
                estimate = self.routing.estimate(target)
                seconds = usage_of(provider, prepared).seconds
                try:  # it runs (and bills) upstream already: count it like any job
                    reservation = await self.gov.reserve(subject, estimate, seconds)
                except GatewayError:  # over a limit: still recorded and billed, not refused
                    reservation = Reservation([], estimate, seconds)
                usage = (subject, reservation, estimate)
                try:
                    video = await self._record(
                        principal, call, provider, prepared, key, up, idem, usage=usage
                    )
                except BaseException:
                    await self.gov.release(reservation)
                    raise
                return Created(video, {"reconciled": True})
        await self.idempotency.set_state(principal.owner, idem, "started")
        return None  # the providers say no job was started: create it now

    def _maybe_started(self, uow: UnitOfWork, owner: str, idem: str) -> None:
        """Until a job exists upstream: a timeout of the upstream create may have started one
        (keep the key, as "unknown", for the retry to look up); any other failure (nothing
        before the upstream call times out) frees the key."""

        async def undo(exc: BaseException) -> None:
            if isinstance(exc, GatewayError) and exc.code == "upstream_timeout":
                await self.idempotency.set_state(owner, idem, "unknown")
            else:
                await self.idempotency.release(owner, idem)

        uow.on_failure("idempotency", undo)

    def _started(self, uow: UnitOfWork, owner: str, idem: str) -> None:
        async def undo(exc: BaseException) -> None:
            await self.idempotency.set_state(owner, idem, "unknown")

        uow.on_failure("idempotency", undo)

    async def _record(
        self,
        principal: Principal,
        call: Call,
        provider: Provider,
        prepared: Prepared,
        key: UpstreamKey,
        up: UpstreamVideo,
        idem: str | None,
        usage: tuple[Subject, Reservation, float] | None = None,
        route: str | None = None,
    ) -> Video:
        """Insert the new video (with its usage row, in the same transaction); `usage` is
        who pays, what was reserved, and the estimate of the deployment used."""
        call.provider = provider.id
        params = prepared.params
        video = Video.started(
            up,
            provider=provider.id,
            public_token=provider.public_token(up.id),
            owner=principal.owner,
            model_requested=call.model_requested or "",
            deployment=params.model,
            key_name=key.name,
            prompt=params.prompt,
            size=params.size,
            seconds=params.seconds,
            idempotency_key=idem,
        )
        self.progress.schedule(video)
        usage_row = None
        if usage is not None:
            subject, reservation, estimate = usage
            usage_row = self.gov.usage_row(
                video,
                subject,
                reservation,
                params.model,
                usage_of(provider, prepared),
                estimate_usd=estimate,
                route=route,
            )
        await self.videos.insert(video, usage_row)
        if idem is not None:
            await self.idempotency.set_state(
                principal.owner, idem, "done", video_id=video.id, provider=provider.id
            )
        return video

    async def _replay(
        self,
        principal: Principal,
        subject: Subject,
        request: CreateRequest,
        idem: str,
        targets: list[Target],
        call: Call,
    ) -> Created | None:
        """The earlier create's answer for a retried `Idempotency-Key`, or None to go ahead
        (then this create holds the key)."""
        if not 0 < len(idem) <= 255:
            raise bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1-255 characters.",
                "Idempotency-Key",
            )
        digest = request.digest(request_hash(request))
        held = await self.idempotency.claim(principal.owner, idem, digest)
        if held is None:
            return None
        if held["request_hash"] != digest:
            raise idempotency_conflict(
                "This Idempotency-Key was used with a different request body."
            )
        if (
            held["state"] == "started"
            and time.time() - held["started_at"] > STARTED_GIVE_UP_SECONDS
        ):
            held["state"] = "unknown"  # its process died mid-create: look the job up instead
        if held["state"] == "started":
            raise idempotency_conflict(
                "A create with this Idempotency-Key is still in progress; retry shortly.",
                "idempotency_in_progress",
            )
        if held["state"] == "unknown":
            return await self._reconcile(principal, subject, idem, targets, call)
        replayed = await self.videos.get(held["video_id"])
        if replayed is None:
            raise not_found(held["video_id"])
        call.provider = replayed.provider
        return Created(replayed, {"idempotent_replay": True}, replayed=True)
