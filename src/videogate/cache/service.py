"""The cache as the create path sees it: look up before spending, remember after creating.

A hit becomes a new video row of the caller's own, `cache_<hex>:<provider>`, pointing at the
source's upstream job: a finished source lends its mirrored media (shared, reference
counted per job), a running one is attached to (the new row is polled like any job, so the
existing poller, leases and webhooks drive it; its mirror reuses the sibling's copy). No
reservation is made and the usage row says `cache_hit` at cost 0.

Identical creates racing each other start one upstream job: the first to miss holds a claim
(an in-process lock, then a `cache_claims` row shared by every instance on the database)
until its entry is stored or the create fails; the others wait for it, look again and
attach. A claim expires after `cache.claim_ttl_seconds`, so a crashed holder blocks nobody
for longer than that.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import text

from ..config import CacheConfig
from ..governance.auth import Principal
from ..governance.policy import Subject
from ..lifecycle.policy import PollPolicy
from ..providers.base import Prepared, Provider
from ..store.videos import DeleteHook
from ..telemetry import metrics
from ..video import ACTIVE, Video
from . import fingerprint, vectors
from .embeddings import Embedder, EmbeddingError, build_embedder
from .options import DIRECT, SEMANTIC, CacheOptions
from .store import SHARED, CacheStore

log = logging.getLogger("videogate.cache")
Row = dict[str, Any]
# (provider, prepared request) pairs of a planned create, the model first
Targets = Sequence[tuple[Provider, Prepared]]
# A mirrored copy this close to its retention is not handed out any more.
EXPIRY_MARGIN_SECONDS = 60.0
SWEEP_INTERVAL_SECONDS = 60.0
CANDIDATES = 5
# The poll interval of an attached hit whose provider is unknown to whoever built this.
DEFAULT_POLL_MS = 5000
# How often a create waiting for another instance's claim on the same request looks again.
CLAIM_POLL_SECONDS = 0.05


@dataclass
class CacheLookup:
    """One create's dealings with the cache; `debug()` is `extra_fields.cache_debug`."""

    options: CacheOptions
    scope: str
    requested_provider: str
    requested_model: str
    params_key: str
    direct_key: str
    prompt: str
    saves_usd: float
    video: Video | None = None  # the hit's new video
    entry_id: str | None = None
    hit_type: str | None = None
    provider_used: str | None = None
    model_used: str | None = None
    vector: list[float] | None = field(default=None, repr=False)
    embedding_model: str | None = None
    input_tokens: int | None = None
    threshold: float | None = None
    similarity: float | None = None
    # Held from a direct miss until the job is remembered (or the create fails), so an
    # identical create arriving meanwhile waits and then attaches instead of going upstream:
    # the lock within this process, the claim (its holder id) across instances.
    inflight: asyncio.Lock | None = field(default=None, repr=False)
    claim: str | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.options.namespace, self.scope, self.direct_key)

    def release(self) -> None:
        if self.inflight is not None and self.inflight.locked():
            self.inflight.release()
        self.inflight = None

    def debug(self) -> dict[str, Any]:
        return {
            "cache_hit": self.video is not None,
            "cache_id": self.entry_id,
            "hit_type": self.hit_type,
            "requested_provider": self.requested_provider,
            "requested_model": self.requested_model,
            "provider_used": self.provider_used,
            "model_used": self.model_used,
            "input_tokens": self.input_tokens,
            "threshold": self.threshold,
            "similarity": round(self.similarity, 6) if self.similarity is not None else None,
        }


class CacheService:
    def __init__(
        self,
        store: CacheStore,
        config: CacheConfig,
        embedder: Embedder | None,
        poll_after_ms: Callable[[str], int],
    ) -> None:
        self.store = store
        self.poll_after_ms = poll_after_ms  # a provider's poll interval, for attached hits
        self.config = config
        self.embedder = embedder
        self._last_sweep = 0.0
        self._inflight: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._instance = secrets.token_hex(6)  # claim holders: this process, then a serial
        self._serial = 0
        self._releasing: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(
        cls,
        engine: AsyncEngine,
        config: CacheConfig,
        poll_after_ms: Callable[[str], int] = lambda _provider: DEFAULT_POLL_MS,
    ) -> CacheService:
        pgvector: vectors.PgVector | None = None
        if engine.dialect.name == "postgresql":
            pgvector = await vectors.prepare_pgvector(engine)
            index = vectors.PGVECTOR if pgvector is not None else vectors.POSTGRES
        else:
            index = vectors.SQLITE_VEC if vectors.register_sqlite_vec() else vectors.PYTHON
            await engine.dispose()  # pooled connections predate the extension: reopen them
            if index == vectors.SQLITE_VEC and not await _has_vec(engine):
                index = vectors.PYTHON
        store = CacheStore(engine, index, config.max_semantic_candidates, pgvector)
        return cls(store, config, build_embedder(config.embedding), poll_after_ms)

    async def aclose(self) -> None:
        if self._releasing:  # claims of creates that just ended
            await asyncio.gather(*self._releasing, return_exceptions=True)
        if self.embedder is not None:
            await self.embedder.aclose()

    # -- create path ----------------------------------------------------------------------
    def serves(self, principal: Principal) -> bool:
        """Whether this caller's creates may use the cache at all (then its options are
        read from the request)."""
        return self.config.enabled and not self._disabled(principal)

    @property
    def semantic_available(self) -> bool:
        return self.embedder is not None

    async def lookup(
        self,
        principal: Principal,
        subject: Subject,
        planned: Targets,
        model_requested: str,
        idempotency_key: str | None,
        options: CacheOptions,
        saves_usd: float,
    ) -> CacheLookup:
        """The lookup for a create that opted in, with `video` set on a hit (already
        written: the caller only answers with it). `saves_usd` is what a hit saves (the
        create's estimate)."""
        provider, prepared = planned[0]
        params = prepared.params
        pkey = fingerprint.params_key([(p, t.params) for p, t in planned])
        look = CacheLookup(
            options=options,
            scope=self._scope(principal, subject),
            requested_provider=provider.id,
            requested_model=params.model,
            params_key=pkey,
            direct_key=fingerprint.direct_key(pkey, params.prompt),
            prompt=params.prompt,
            saves_usd=saves_usd,
        )
        who = {
            "key_id": subject.key["id"] if subject.key else None,
            "team_id": subject.team["id"] if subject.team else None,
            "customer_id": subject.customer["id"] if subject.customer else None,
        }
        hit = _Hit(self, look, principal.owner, model_requested, idempotency_key, who)
        now = time.time()
        if DIRECT in options.types:
            if await self._direct(hit, look, now):
                return look
            if not options.no_store:
                # Miss: claim this exact request until it is remembered; whoever waited for
                # the claim looks again and attaches to the job the first one started.
                lock = self._inflight.setdefault(look.key, asyncio.Lock())
                await lock.acquire()
                look.inflight = lock
        try:
            if look.inflight is not None and await self._claim(hit, look):
                await self._finish(look)
                return look
            if SEMANTIC in options.types and await self._embed(look):
                assert look.vector is not None and look.embedding_model is not None
                look.threshold = options.threshold
                found = await self.store.semantic_candidates(
                    options.namespace,
                    look.scope,
                    pkey,
                    look.embedding_model,
                    look.vector,
                    now,
                    CANDIDATES,
                )
                look.similarity = found[0][2] if found else None  # the nearest, even on a miss
                for entry_id, _, similarity in found:
                    if similarity < options.threshold:
                        break
                    if await hit.take(entry_id, SEMANTIC, now):
                        look.similarity = similarity
                        await self._finish(look)  # a hit: nothing of ours is in flight
                        return look
            await self.store.count_miss(options.namespace)
        except BaseException:
            self.done(look)
            raise
        return look

    async def _claim(self, hit: _Hit, look: CacheLookup) -> bool:
        """Hold `look`'s claim across instances, or wait for whoever holds it and attach to
        the job it started. True on a (direct) hit; False when this create is to go upstream,
        normally holding the claim (without one only if the holder outlived the claim's TTL
        and someone else took it over, or the wait ran out)."""
        ttl = self.config.claim_ttl_seconds
        deadline = time.monotonic() + ttl
        self._serial += 1
        holder = f"{self._instance}:{self._serial}"
        while True:
            now = time.time()
            if await self.store.claim(look.key, holder, now, now + ttl):
                look.claim = holder
                # The previous holder, if any, stored its entry before letting go: look again.
                return await self._direct(hit, look, time.time())
            await self._claim_gone(look.key, deadline)
            if await self._direct(hit, look, time.time()):
                return True
            if time.monotonic() >= deadline:
                log.warning(
                    "gave up waiting %.0f s for an identical create in flight elsewhere; "
                    "starting another upstream job",
                    ttl,
                )
                return False

    async def _direct(self, hit: _Hit, look: CacheLookup, now: float) -> bool:
        for entry_id, _ in await self.store.direct_candidates(
            look.options.namespace, look.scope, look.direct_key, now
        ):
            if await hit.take(entry_id, DIRECT, now):
                return True
        return False

    async def _claim_gone(self, key: tuple[str, str, str], deadline: float) -> None:
        """Until nobody holds `key` (released, or expired) or `deadline` (monotonic)."""
        while True:
            if time.monotonic() >= deadline or not await self.store.claim_live(key, time.time()):
                return
            await asyncio.sleep(CLAIM_POLL_SECONDS)

    def done(self, look: CacheLookup) -> None:
        """The create that held `look`'s claim has finished (stored or failed). Synchronous
        for the create path's `finally`: a database claim still held (the create failed or
        stored nothing) is deleted by a task, and this process's lock is let go after it, so
        a local waiter finds the claim gone."""
        if look.claim is None:
            self._let_go(look)
            return
        task = asyncio.get_running_loop().create_task(self._finish(look))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _finish(self, look: CacheLookup) -> None:
        holder, look.claim = look.claim, None
        try:
            if holder is not None:
                await self.store.unclaim(look.key, holder)
        except SQLAlchemyError:
            log.exception("could not release a cache claim; it expires by itself")
        finally:
            self._let_go(look)

    def _let_go(self, look: CacheLookup) -> None:
        lock = look.inflight
        look.release()
        if lock is not None and not lock.locked() and self._inflight.get(look.key) is lock:
            del self._inflight[look.key]

    async def remember(self, look: CacheLookup, video: Video) -> None:
        """After a miss created `video`: store the entry that later identical (or, with an
        embedding, similar) creates will hit. Never fails the create."""
        look.provider_used, look.model_used = video.provider, video.model_deployment
        if look.options.no_store or video.status == "failed":
            return
        if look.vector is None and self.embedder is not None:
            await self._embed(look)  # so that later semantic lookups can find it
        now = time.time()
        entry_id = "ce_" + secrets.token_hex(12)
        try:
            await self.store.add_entry(
                {
                    "id": entry_id,
                    "namespace": look.options.namespace,
                    "scope": look.scope,
                    "params_key": look.params_key,
                    "direct_key": look.direct_key,
                    "provider": look.requested_provider,
                    "model": look.requested_model,
                    "prompt": look.prompt,
                    "embedding": look.vector,
                    "embedding_model": look.embedding_model,
                    "input_tokens": look.input_tokens,
                    "source_video_id": video.id,
                    "hits": 0,
                    "created_at": now,
                    "expires_at": now + look.options.ttl_seconds,
                },
                claim=(look.key, look.claim) if look.claim is not None else None,
            )
            look.claim = None  # released with the entry
            look.entry_id = entry_id
            if now - self._last_sweep > SWEEP_INTERVAL_SECONDS:
                self._last_sweep = now
                await self.store.sweep_expired(now)
        except SQLAlchemyError:
            log.exception("could not store cache entry for %s", video.id)

    # -- delete and mirror hooks ----------------------------------------------------------
    async def release(self, conn: AsyncConnection, video: Video) -> None:
        """In the delete's transaction (a store delete hook): see `CacheStore.release`."""
        await self.store.release(conn, video.to_row())

    def delete_hook(self) -> DeleteHook:
        """For the video store: deletes of a video the cache shares run `release`."""
        return DeleteHook(SHARED, self.release)

    async def shared_copy(self, video: Video) -> Row | None:
        """For the mirror: `{"assets", "expires_at"}` of a sibling's copy of a shared job."""
        return await self.store.shared_copy(video.to_row(), time.time() + EXPIRY_MARGIN_SECONDS)

    # -- helpers --------------------------------------------------------------------------
    def _disabled(self, principal: Principal) -> bool:
        off = self.config.disabled_keys
        return (
            bool(off)
            and principal.key_id is not None
            and (principal.key_id in off or principal.name in off)
        )

    def _scope(self, principal: Principal, subject: Subject) -> str:
        """Who may hit entries this caller stores: its team by default; a key without a
        team shares only with itself; admin and no-auth callers with their own kind."""
        if subject.key is None:
            return f"owner:{principal.owner}"
        share = self.config.share
        if share == "customer" and subject.customer is not None:
            return f"customer:{subject.customer['id']}"
        if share in ("customer", "team") and subject.team is not None:
            return f"team:{subject.team['id']}"
        return f"key:{subject.key['id']}"

    async def _embed(self, look: CacheLookup) -> bool:
        if look.vector is not None:
            return True
        if self.embedder is None:
            return False
        try:
            emb = await self.embedder.embed(look.prompt)
        except EmbeddingError as exc:
            log.warning("prompt embedding failed, semantic lookup skipped: %s", exc)
            return False
        look.vector = emb.vector
        look.embedding_model = f"{self.embedder.label}/{len(emb.vector)}"
        look.input_tokens = emb.tokens
        return True

    def hit_row(
        self,
        source: Video,
        *,
        owner: str,
        model_requested: str,
        prompt: str,
        idempotency_key: str | None,
        extra: Row,
        now: float,
    ) -> Video | None:
        """The caller's new video sharing `source`'s job, or None if it cannot serve."""
        video = Video(
            id=f"cache_{secrets.token_hex(12)}:{source.provider}",
            provider=source.provider,
            upstream_id=source.upstream_id,
            owner=owner,
            status=source.status,
            created_at=int(now),
            updated_at=now,
            model_requested=model_requested,
            model_deployment=source.model_deployment,
            provider_key=source.provider_key,
            prompt=prompt,  # the caller's own words, never the source's
            size=source.size,
            seconds=source.seconds,
            extra=extra,
            idempotency_key=idempotency_key,
        )
        if source.status in ACTIVE:  # attach: polled like any job, on the same upstream id
            video.progress = source.progress
            video.next_poll_at = PollPolicy.attached_poll(self.poll_after_ms(source.provider), now)
            return video
        if source.status != "completed":
            return None
        mirror = source.mirror_state
        expires = source.expires_at
        if mirror == "expired" or (expires is not None and expires <= now + EXPIRY_MARGIN_SECONDS):
            return None
        if mirror == "done" and not source.assets:
            return None
        video.progress = 100
        video.completed_at = int(now)
        video.expires_at = expires
        video.assets = source.assets if mirror == "done" else None
        video.mirror_state = mirror
        video.next_poll_at = now if mirror == "pending" else None
        return video


class _Hit:
    """Turns a candidate entry into the caller's video, or reports it could not."""

    def __init__(
        self,
        service: CacheService,
        look: CacheLookup,
        owner: str,
        model_requested: str,
        idempotency_key: str | None,
        who: Row,
    ) -> None:
        self.service = service
        self.look = look
        self.owner = owner
        self.model_requested = model_requested
        self.idempotency_key = idempotency_key
        self.who = who

    async def take(self, entry_id: str, hit_type: str, now: float) -> bool:
        look = self.look

        def build(source: Row) -> Row | None:
            video = self.service.hit_row(
                Video.from_row(source),
                owner=self.owner,
                model_requested=self.model_requested,
                prompt=look.prompt,
                idempotency_key=self.idempotency_key,
                extra={"cache_hit": {"entry_id": entry_id, "hit_type": hit_type}},
                now=now,
            )
            return video.to_row() if video is not None else None

        row = await self.service.store.create_hit(
            entry_id, now, build, self.who, look.options.namespace, hit_type, look.saves_usd
        )
        if row is None:
            return False
        look.video, look.entry_id, look.hit_type = Video.from_row(row), entry_id, hit_type
        metrics.cache_hit(hit_type)
        look.provider_used, look.model_used = look.video.provider, look.video.model_deployment
        return True


async def _has_vec(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT vec_version()"))
    except SQLAlchemyError:
        return False
    return True
