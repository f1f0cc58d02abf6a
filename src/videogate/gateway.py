"""The composition root: settings, providers, stores and services, built once per process.

Only the API layer, the background worker and the CLI import this module. It wires each
service with the collaborators it needs (`lifecycle/`), and holds nothing else: no routing
rule, no policy and no SQL lives here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .assets.store import AssetStore
from .cache.service import CacheService
from .config import Settings, private_dir
from .governance.auth import Authenticator
from .governance.crypto import Sealer
from .governance.limits import LimitBackend, RedisLimits, SqlLimits
from .governance.policy import Governance
from .governance.prices import PriceTable
from .governance.registry import Registry
from .governance.sync import GovernanceSync
from .lifecycle.catalogue import Catalogue
from .lifecycle.characters import Characters
from .lifecycle.create import CreateVideo
from .lifecycle.delete import DeleteVideo
from .lifecycle.mirror import Mirror
from .lifecycle.outbox import Deletions
from .lifecycle.policy import PollPolicy
from .lifecycle.poll import Poller
from .lifecycle.progress import JobProgress
from .lifecycle.reading import Reader
from .lifecycle.remix import RemixVideo
from .lifecycle.routing import Routing
from .lifecycle.sources import Inputs
from .lifecycle.webhooks import WebhookDelivery
from .providers.base import Provider
from .providers.registry import build_providers
from .store.backend import backend_for
from .store.characters import CharacterStore
from .store.db import check_url, make_engine, migrate
from .store.idempotency import IdempotencyStore
from .store.keys import KeyStore
from .store.limits import LimitCounters
from .store.outbox import DeletionOutbox
from .store.requestlog import Liveness, RequestLog
from .store.speeds import SpeedStore
from .store.videos import VideoStore
from .store.webhooks import DELETE_HOOK, WebhookStore
from .telemetry import tracing

log = logging.getLogger("videogate")


@dataclass
class Gateway:
    settings: Settings
    providers: dict[str, Provider]
    routing: Routing
    policy: PollPolicy
    videos: VideoStore
    keys: KeyStore
    outbox: DeletionOutbox
    auth: Authenticator
    assets: AssetStore
    webhooks: WebhookStore
    idempotency: IdempotencyStore
    gov: Governance
    registry: Registry
    cache: CacheService
    # services
    progress: JobProgress
    reader: Reader
    create: CreateVideo
    remix: RemixVideo
    delete: DeleteVideo
    deletions: Deletions
    poller: Poller
    mirror: Mirror
    webhook_delivery: WebhookDelivery
    catalogue: Catalogue
    characters: Characters
    inputs: Inputs
    requestlog: RequestLog
    liveness: Liveness
    gov_sync: GovernanceSync = field(init=False)
    _closers: list[Any] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings) -> Gateway:
        private_dir(settings.data_dir)
        engine = make_engine(settings.effective_database_url)
        await migrate(engine)
        backend = backend_for(check_url(settings.effective_database_url))
        limits: LimitBackend = (
            RedisLimits(settings.redis_url, LimitCounters(engine, backend))
            if settings.redis_url
            else SqlLimits(LimitCounters(engine, backend))
        )
        providers = build_providers(settings)
        prices = PriceTable(settings.governance.prices)
        routing = Routing(providers, settings.models, prices, SpeedStore(engine))
        policy = PollPolicy(settings.worker)
        keys = KeyStore(engine)
        videos = VideoStore(engine, backend)
        outbox = DeletionOutbox(engine, backend)
        assets = AssetStore.from_config(settings.assets, settings.data_dir)
        webhooks = WebhookStore(engine)
        idempotency = IdempotencyStore(engine)
        gov = Governance(engine, limits, prices)
        registry = Registry(engine)
        cache = await CacheService.start(engine, settings.cache, routing.poll_after_ms)
        # Features that act on deletes register with the store (it names none of them).
        videos.on_delete(DELETE_HOOK)
        videos.on_delete(cache.delete_hook())
        progress = JobProgress(videos, routing, gov, policy, mirror=settings.assets.mirror)
        reader = Reader(videos, routing, progress, policy, assets)
        deletions = Deletions(outbox, routing, assets, policy)
        characters = Characters(CharacterStore(engine), assets)
        gw = cls(
            settings=settings,
            providers=providers,
            routing=routing,
            policy=policy,
            videos=videos,
            keys=keys,
            outbox=outbox,
            auth=Authenticator(
                keys,
                settings.jwt_secret(),
                settings.auth.key_cache_seconds,
                settings.auth.jwt_issuer,
            ),
            assets=assets,
            webhooks=webhooks,
            idempotency=idempotency,
            gov=gov,
            registry=registry,
            cache=cache,
            progress=progress,
            reader=reader,
            create=CreateVideo(routing, gov, idempotency, cache, videos, progress),
            catalogue=Catalogue(routing, gov),
            remix=RemixVideo(videos, reader, routing, gov, progress),
            delete=DeleteVideo(videos, reader, deletions, routing, gov),
            deletions=deletions,
            poller=Poller(videos, routing, progress, policy),
            mirror=Mirror(
                videos,
                routing,
                assets,
                policy,
                cache.shared_copy,
                retention_days=settings.assets.retention_days,
                lease_seconds=settings.worker.mirror_lease_seconds,
            ),
            webhook_delivery=WebhookDelivery(
                webhooks, settings.webhooks, Sealer(settings.sealing_key())
            ),
            characters=characters,
            inputs=Inputs(reader, routing, assets, characters, settings.limits.max_upload_bytes),
            requestlog=RequestLog(engine),
            liveness=Liveness(engine),
        )
        telemetry = settings.telemetry
        tracing.configure(telemetry.otlp_endpoint, telemetry.service_name, telemetry.otlp_headers)
        gw._closers += [
            gw.requestlog.aclose,
            cache.aclose,
            backend.aclose,
            limits.aclose,
            engine.dispose,
        ]
        gw.gov_sync = GovernanceSync(
            registry,
            gov.prices,
            providers,
            settings.governance.refresh_seconds,
            forget=(gw.auth.forget, gov.forget),
            on_routes=routing.set_stored_routes,
            allow_private_base_urls=settings.governance.allow_private_base_urls,
        )
        gw._closers.insert(0, gw.gov_sync.stop)
        await gw.gov_sync.reload()
        return gw

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.webhook_delivery.aclose()
        for closer in self._closers:
            await closer()
        tracing.shutdown()
