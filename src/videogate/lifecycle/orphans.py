"""Upstream jobs of creates that died before recording them (issue 18, Low 13).

A create writes its *intent* before the first upstream call, in its reservation ledger row
(`store/reservations.py`): the owner, the targets it may try (provider, deployment, keys,
the reference it sends) and what the job would be billed as. Recording the job names the
row from its usage row, which completes the intent at no extra write. A process killed
between the upstream call and that record (kill -9, OOM, a lost node) leaves the row
untaken; after `worker.create_grace_seconds` the worker's sweep resolves it here:

* a provider that can look a job up by the create's reference (`finds_created`) is asked:
  a job found is *adopted* — recorded as the owner's video, billed like any job, its
  reservation taken over — unless the owner's key is gone, revoked or blocked, then the
  job is deleted upstream (where the provider can) instead;
* a provider that cannot be asked leaves an *unresolvable* record: logged, written to the
  audit log for admins (`GET /api/governance/audit`, action `create.orphaned`), and the
  reservation is given back.

Every outcome is an audit entry (actor `worker`, target type `upstream_job`, target the
reference).
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import GatewayError
from ..governance.auth import Principal
from ..governance.limits import Claim
from ..governance.policy import Governance, Reservation
from ..governance.prices import Usage
from ..ids import public_id
from ..providers.base import CallContext, Capability, CreateParams, Prepared, Provider
from ..store.idempotency import IdempotencyStore
from ..store.keys import KeyStore
from ..store.videos import VideoStore
from ..video import UpstreamVideo, Video
from .progress import JobProgress
from .routing import Plan, usage_of
from .starting import candidate_keys

log = logging.getLogger("videogate.orphans")


def intent_of(
    principal: Principal,
    model_requested: str | None,
    idempotency_key: str | None,
    plan: Plan,
    allowed_keys: list[str] | None,
    estimates: dict[str, float],
) -> dict[str, Any]:
    """What a create is about to ask, written with its reservation before any upstream
    call: enough to look the job up and to record and bill it as the create would have."""
    targets = []
    for target in plan:
        provider, prepared = target
        params = prepared.params
        try:
            keys = [k.name for k in candidate_keys(target, allowed_keys)]
        except GatewayError:  # start() fails the same way if it gets to this target
            keys = []
        use = usage_of(provider, prepared)
        targets.append(
            {
                "provider": provider.id,
                "deployment": params.model,
                "reference": provider.created_reference(prepared),
                "route": prepared.route,
                "keys": keys,
                "prompt": params.prompt,
                "size": prepared.size,
                "seconds": prepared.seconds,
                "estimate_usd": estimates[target.deployment],
                "usage": {
                    "seconds": use.seconds,
                    "size": use.size,
                    "resolution": use.resolution,
                    "audio": use.audio,
                    "input_seconds": use.input_seconds,
                    "fps": use.fps,
                },
            }
        )
    return {
        "owner": principal.owner,
        "key_id": principal.key_id,
        "model_requested": model_requested or "",
        "idempotency_key": idempotency_key,
        "route": plan.route,
        "targets": targets,
    }


class Orphans:
    def __init__(
        self,
        providers: dict[str, Provider],
        gov: Governance,
        videos: VideoStore,
        keys: KeyStore,
        idempotency: IdempotencyStore,
        progress: JobProgress,
    ) -> None:
        self.providers = providers
        self.gov = gov
        self.videos = videos
        self.keys = keys
        self.idempotency = idempotency
        self.progress = progress

    async def sweep(self, grace_seconds: float) -> int:
        """Resolve (or give back) every ledger row older than the grace; how many were
        given back."""
        return await self.gov.sweep_reservations(grace_seconds, self.resolve)

    async def resolve(self, reservation_id: str, claims: list[Any], intent: dict[str, Any]) -> bool:
        """Look the dead create's job up; True when it was adopted (its usage row holds
        the reservation's claims now). Raises when a provider could not be asked (the row
        is tried again later)."""
        ledger = self.gov.ledger
        if await ledger.taken(reservation_id):
            return True  # recorded after all (the create was slow, not dead)
        unresolvable = []
        for target in intent.get("targets") or []:
            provider = self.providers.get(target["provider"])
            reference = target.get("reference")
            if provider is None or not (provider.finds_created and reference):
                unresolvable.append(target)
                continue
            prepared = _prepared(target)
            for name in target.get("keys") or []:
                try:
                    key = provider.key_named(name)
                except GatewayError:
                    unresolvable.append(target)
                    continue
                up = await provider.find_created(prepared, key, CallContext())
                if up is None:
                    continue
                found = (target, provider, key.name, up)
                return await self._found(reservation_id, claims, intent, *found)
        details = {"reservation_id": reservation_id, **_summary(intent)}
        if unresolvable:
            names = sorted({t["provider"] for t in unresolvable})
            log.warning(
                "a create of %s died before recording its job and %s cannot be asked for it "
                "by reference: an upstream job may be left (reference %s)",
                intent.get("owner"),
                ", ".join(names),
                unresolvable[0].get("reference"),
            )
            details["unresolvable_providers"] = names
            await ledger.note("create.orphaned", _reference(intent), details)
        else:
            await ledger.note("create.not_started", _reference(intent), details)
        return False

    async def _found(
        self,
        reservation_id: str,
        claims: list[Any],
        intent: dict[str, Any],
        target: dict[str, Any],
        provider: Provider,
        key_name: str,
        up: UpstreamVideo,
    ) -> bool:
        ledger = self.gov.ledger
        video_id = public_id(provider.public_token(up.id), provider.id)
        details = {
            "reservation_id": reservation_id,
            "provider": provider.id,
            "upstream_id": up.id,
            "video_id": video_id,
            **_summary(intent),
        }
        if await self.videos.get(video_id) is not None:  # a retry's look-up adopted it
            await ledger.note("create.already_recorded", target["reference"], details)
            return False
        key_row = None
        if intent.get("key_id"):
            key_row = await self.keys.by_id(intent["key_id"])
        if intent.get("key_id") and (
            key_row is None or key_row.get("revoked_at") or key_row.get("blocked")
        ):
            await self._delete(provider, target, up, details)
            return False
        video = await self._adopt(
            reservation_id, claims, intent, target, provider, key_name, up, key_row
        )
        log.warning("adopted %s: its create died after %s had started it", video.id, provider.id)
        await ledger.note("create.adopted", target["reference"], details)
        return True

    async def _adopt(
        self,
        reservation_id: str,
        claims: list[Any],
        intent: dict[str, Any],
        target: dict[str, Any],
        provider: Provider,
        key_name: str,
        up: UpstreamVideo,
        key_row: dict[str, Any] | None,
    ) -> Video:
        """Record the job as the create would have, its usage row taking the claims over."""
        video = Video.started(
            up,
            provider=provider.id,
            public_token=provider.public_token(up.id),
            owner=intent["owner"],
            model_requested=intent.get("model_requested") or "",
            deployment=target["deployment"],
            key_name=key_name,
            prompt=target.get("prompt") or "",
            size=target.get("size"),
            seconds=target.get("seconds"),
            idempotency_key=intent.get("idempotency_key"),
        )
        self.progress.schedule(video)
        subject = await self.gov.subject(key_row)
        held = [Claim.from_json(c) for c in claims]
        use = Usage(**target["usage"])
        estimate = float(target["estimate_usd"])
        reservation = Reservation(held, estimate, use.seconds, reservation_id)
        usage_row = self.gov.usage_row(
            video,
            subject,
            reservation,
            target["deployment"],
            use,
            estimate_usd=estimate,
            route=intent.get("route"),
        )
        await self.videos.insert(video, usage_row)
        idem = intent.get("idempotency_key")
        if idem:  # a retry with the key replays this video instead of looking again
            await self.idempotency.set_state(
                intent["owner"], idem, "done", video_id=video.id, provider=provider.id
            )
        if video.ended:
            await self.progress.settle_ended(video, up)
        return video

    async def _delete(
        self,
        provider: Provider,
        target: dict[str, Any],
        up: UpstreamVideo,
        details: dict[str, Any],
    ) -> None:
        """The owner's key is gone: nobody to hand the job to, so it is deleted upstream
        where the provider can, and recorded as an orphan where it cannot."""
        ledger = self.gov.ledger
        if provider.supports(Capability.DELETE):
            for name in target.get("keys") or []:
                try:
                    await provider.delete(up.id, provider.key_named(name), CallContext())
                except GatewayError as exc:
                    details["delete_error"] = exc.code
                    continue
                await ledger.note("create.deleted_upstream", target["reference"], details)
                return
        log.warning("the job %s of a dead create of a revoked key is left upstream", up.id)
        await ledger.note("create.orphaned", target["reference"], details)


def _prepared(target: dict[str, Any]) -> Prepared:
    """The create's request as far as `find_created` reads it: model, reference, route."""
    params = CreateParams(
        model=target["deployment"],
        prompt=target.get("prompt") or "",
        seconds=target.get("seconds"),
        size=target.get("size"),
        reference=target["reference"],
    )
    return Prepared(
        params, route=target.get("route") or "", size=target.get("size"), seconds=params.seconds
    )


def _reference(intent: dict[str, Any]) -> str:
    refs = [t.get("reference") for t in intent.get("targets") or [] if t.get("reference")]
    return str(refs[0]) if refs else "-"


def _summary(intent: dict[str, Any]) -> dict[str, Any]:
    return {
        "owner": intent.get("owner"),
        "key_id": intent.get("key_id"),
        "model_requested": intent.get("model_requested"),
        "targets": [
            {k: t.get(k) for k in ("provider", "deployment", "reference", "keys")}
            for t in intent.get("targets") or []
        ],
    }
