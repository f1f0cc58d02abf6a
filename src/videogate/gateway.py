"""The running gateway: settings, providers, stores and auth, built once per process.

HTTP handlers (`api/`), background jobs (`jobs/`) and the CLI all work through this object,
so there is one place that knows how a model name becomes a provider and how a video id
becomes a row the caller may see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .api.auth import Authenticator, Principal
from .assets.store import AssetStore
from .cache.service import CacheService
from .config import Settings
from .errors import bad_request, not_found
from .governance.limits import LimitBackend, RedisLimits, SqlLimits
from .governance.policy import Governance
from .governance.prices import PriceTable
from .governance.registry import Registry
from .governance.sync import GovernanceSync
from .ids import parse_video_id
from .providers.base import Provider
from .providers.registry import build_providers
from .store.db import make_engine, migrate, normalise_url
from .store.fast import fast_path_for
from .store.idempotency import IdempotencyStore
from .store.keys import KeyStore
from .store.outbox import DeletionOutbox
from .store.videos import VideoStore
from .store.webhooks import WebhookStore

log = logging.getLogger("videogate")


@dataclass
class Gateway:
    settings: Settings
    providers: dict[str, Provider]
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
    gov_sync: GovernanceSync = field(init=False)
    _closers: list[Any] = field(default_factory=list)
    _http: aiohttp.ClientSession | None = None

    @classmethod
    async def start(cls, settings: Settings) -> Gateway:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        await migrate(engine)
        keys = KeyStore(engine)
        fast = fast_path_for(normalise_url(settings.effective_database_url))
        limits: LimitBackend = (
            RedisLimits(settings.redis_url) if settings.redis_url else SqlLimits(engine, fast)
        )
        gw = cls(
            settings=settings,
            providers=build_providers(settings),
            videos=VideoStore(engine, fast),
            keys=keys,
            outbox=DeletionOutbox(engine, fast),
            auth=Authenticator(
                keys,
                settings.jwt_secret(),
                settings.auth.key_cache_seconds,
                settings.auth.jwt_issuer,
            ),
            assets=AssetStore.from_config(settings.assets, settings.data_dir),
            webhooks=WebhookStore(engine),
            idempotency=IdempotencyStore(engine),
            gov=Governance(engine, limits, PriceTable(settings.governance.prices)),
            registry=Registry(engine),
            cache=await CacheService.start(engine, settings.cache),
        )
        gw._closers += [limits.aclose, engine.dispose]
        if fast is not None:
            gw._closers.insert(0, fast.aclose)
        gw._closers.insert(0, gw.cache.aclose)
        gw.gov_sync = GovernanceSync(
            gw.registry,
            gw.gov.prices,
            gw.providers,
            settings.governance.refresh_seconds,
            forget=(gw.auth.forget, gw.gov.forget),
        )
        gw._closers.insert(0, gw.gov_sync.stop)
        await gw.gov_sync.reload()
        return gw

    def http_session(self) -> aiohttp.ClientSession:
        """A pooled session for the gateway's own outgoing calls (webhooks)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        if self._http is not None:
            await self._http.close()
        for closer in self._closers:
            await closer()

    # -- routing --------------------------------------------------------------------------
    def provider(self, provider_id: str) -> Provider:
        found = self.providers.get(provider_id)
        if found is None:
            raise bad_request(
                "unknown_provider",
                f"Provider {provider_id!r} is not configured; configured: "
                f"{', '.join(sorted(self.providers))}.",
                "provider",
            )
        return found

    def resolve_model(self, model: str | None, _depth: int = 0) -> tuple[Provider, str]:
        """`provider/model`, a configured alias, or a bare model on the default provider."""
        model = model or self.settings.models.default_model
        alias = self.settings.models.aliases.get(model)
        if alias and _depth < 3:
            return self.resolve_model(alias, _depth + 1)
        pid, sep, name = model.partition("/")
        if sep and pid in self.providers and name:
            return self.providers[pid], name
        default = self.settings.models.default_provider
        if default and default in self.providers:
            return self.providers[default], model
        if sep:
            raise bad_request(
                "unknown_provider",
                f"Model {model!r} names provider {pid!r}, which is not configured; configured: "
                f"{', '.join(sorted(self.providers))}.",
                "model",
            )
        raise bad_request(
            "unknown_model",
            f"Model {model!r} has no provider: use 'provider/model' (e.g. "
            f"'{self.settings.models.default_model}') or configure an alias.",
            "model",
        )

    async def owned_video(self, principal: Principal, video_id: str) -> dict[str, Any]:
        """The row for `video_id` if the caller may see it; 404 otherwise (never 403)."""
        _, provider_id = parse_video_id(video_id)
        row = await self.videos.get(video_id)
        if row is None and provider_id not in self.providers:
            raise bad_request(
                "unknown_provider",
                f"Video id {video_id!r} names provider {provider_id!r}, which is not "
                f"configured; configured: {', '.join(sorted(self.providers))}.",
                "video_id",
            )
        if row is None or not (principal.is_admin or row["owner"] == principal.owner):
            raise not_found(video_id)
        return row
