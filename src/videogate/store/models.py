"""Table definitions. Alembic migrations under `migrations/` create exactly these.

Queries use SQLAlchemy Core on these tables (no ORM session on the hot path).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


def limit_columns() -> list[Column]:  # type: ignore[type-arg]
    """Budget and rate limits; every level (customer, team, key) may carry them."""
    return [
        Column("budget_usd", Float, nullable=True),
        Column("budget_period", String(16), nullable=True),  # daily|weekly|monthly|never
        Column("rpm", Integer, nullable=True),
        Column("max_active_jobs", Integer, nullable=True),
        Column("video_seconds_per_day", Float, nullable=True),
    ]


customers = Table(
    "customers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    *limit_columns(),
    Column("created_at", Float, nullable=False),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("customer_id", String(40), nullable=True, index=True),
    Column("allowed_models", JSON, nullable=True),
    *limit_columns(),
    Column("created_at", Float, nullable=False),
)

virtual_keys = Table(
    "virtual_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # the current secret
    Column("key_prefix", String(24), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("description", Text, nullable=True),
    Column("team_id", String(40), nullable=True),
    *limit_columns(),
    Column("allowed_models", JSON, nullable=True),  # patterns like "openai/*"
    Column("allowed_providers", JSON, nullable=True),
    Column("provider_keys", JSON, nullable=True),  # upstream key names it may use
    Column("expires_at", Float, nullable=True),
)

# Every secret that resolves to a key: the current one, and rotated ones until their grace
# period ends.
key_hashes = Table(
    "key_hashes",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("key_id", String(40), nullable=False, index=True),
    Column("valid_until", Float, nullable=True),
    Column("created_at", Float, nullable=False),
)

# Budget, rate and concurrency counters (used when no Redis is configured).
limit_counters = Table(
    "limit_counters",
    metadata,
    Column("scope", String(120), primary_key=True),
    Column("window", String(40), primary_key=True),
    Column("used", Float, nullable=False, default=0.0),
    Column("reserved", Float, nullable=False, default=0.0),
    Column("expires_at", Float, nullable=True),
)

usage = Table(
    "usage",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("video_id", String(600), nullable=False, unique=True),
    Column("key_id", String(40), nullable=True, index=True),
    Column("team_id", String(40), nullable=True, index=True),
    Column("customer_id", String(40), nullable=True, index=True),
    Column("provider", String(64), nullable=False),
    Column("model", String(300), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("resolution", String(16), nullable=True),
    Column("estimate_usd", Float, nullable=False),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("status", String(16), nullable=False),  # reserved|completed|failed|deleted
    Column("claims", JSON, nullable=True),  # the counter reservations to settle
    Column("created_at", Float, nullable=False),
    Column("settled_at", Float, nullable=True),
    Column("reservation_id", String(40), nullable=True, index=True),
    # audio, input_seconds, fps, tokens, route, reported cost (migration 0010)
    Column("dimensions", JSON, nullable=True),
    Index("ix_usage_created", "created_at"),
)

# Counter reservations taken for a create, until the create's usage row takes them over: a
# create that dies between the two (kill -9) leaves a row here that the worker's sweep
# finds old, with no usage row naming it, and gives back.
reservations = Table(
    "reservations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("claims", JSON, nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)

prices = Table(
    "prices",
    metadata,
    Column("pattern", String(300), primary_key=True),  # provider/model, wildcards allowed
    Column("per_second", Float, nullable=False),
    Column("tiers", JSON, nullable=True),  # {"720p": 0.3, "1080p": 0.5}
    Column("bill_failures", Boolean, nullable=False, default=False),
    # audio_per_second, per_million_tokens, input_per_second, minimum (migration 0010)
    Column("dimensions", JSON, nullable=True),
)

# Public models served by deployments on several hosts, set through the admin API; config's
# `models.routes` are not stored (a stored route of the same name takes their place).
model_routes = Table(
    "model_routes",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("strategy", String(16), nullable=False),
    Column("deployments", JSON, nullable=False),
    Column("description", String(500), nullable=True),
    Column("updated_at", Float, nullable=False),
)

# Measured time from create to completion per `provider/model`, a moving mean over recent
# jobs, for the `fastest` strategy and the catalogue; one row per deployment.
deployment_speed = Table(
    "deployment_speed",
    metadata,
    Column("deployment", String(400), primary_key=True),
    Column("samples", Integer, nullable=False),
    Column("mean_seconds", Float, nullable=False),
    Column("last_seconds", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_type", String(40), nullable=False),
    Column("target_id", String(120), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
)

# One row (id 1): every audited governance change bumps `version` in its own transaction, so
# each process notices with one read and reloads prices and upstream keys (governance/sync.py).
governance_version = Table(
    "governance_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

provider_keys = Table(
    "provider_keys",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("secret_encrypted", Text, nullable=False),
    Column("weight", Float, nullable=False, default=1.0),
    Column("models", JSON, nullable=True),
    Column("base_url", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)

videos = Table(
    "videos",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(600), nullable=False, unique=True),
    Column("provider", String(64), nullable=False),
    Column("upstream_id", String(512), nullable=False),
    Column("model_requested", String(300), nullable=True),
    Column("model_deployment", String(300), nullable=True),
    Column("provider_key", String(200), nullable=True),
    Column("owner", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("prompt", Text, nullable=True),
    Column("size", String(32), nullable=True),
    Column("seconds", String(16), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("completed_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("remixed_from", String(600), nullable=True),
    Column("error_code", String(200), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("assets", JSON, nullable=True),
    Column("extra", JSON, nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("next_poll_at", Float, nullable=True),
    Column("poll_failures", Integer, nullable=False, default=0),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("mirror_state", String(16), nullable=True),  # pending | done | failed | expired
    Column("idempotency_key", String(255), nullable=True),
    Index("ix_videos_owner_seq", "owner", "seq"),
    Index("ix_videos_owner_provider_seq", "owner", "provider", "seq"),
    Index("ix_videos_provider_seq", "provider", "seq"),
    Index("ix_videos_status", "status"),
    Index("ix_videos_due", "status", "next_poll_at"),
    Index("ix_videos_mirror_due", "mirror_state", "next_poll_at"),
    Index("ix_videos_expires", "expires_at"),
)

# The deletion outbox: written in the same transaction that removes the video row, so an
# accepted delete is carried out upstream even if the gateway dies right after answering.
deletions = Table(
    "deletions",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("video_id", String(600), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("upstream_id", String(512), nullable=False),
    Column("provider_key", String(200), nullable=True),
    Column("owner", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # pending | done | abandoned
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("done_at", Float, nullable=True),
    Column("assets", JSON, nullable=True),  # asset-store keys still to remove
    Index("ix_deletions_state_next", "state", "next_attempt_at"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", String(200), nullable=False),
    Column("events", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("endpoint_id", String(40), nullable=False, index=True),
    Column("event_type", String(64), nullable=False),
    Column("video_id", String(600), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("video_id", String(600), nullable=True),
    Column("state", String(16), nullable=False),  # started | done | unknown
    Column("provider", String(64), nullable=True),
    Column("started_at", Float, nullable=False),
)

# -- response cache (videogate.cache, docs/cache.md) -----------------------------------------
from sqlalchemy import LargeBinary  # noqa: E402  (appended section)
from sqlalchemy.dialects.postgresql import ARRAY, REAL  # noqa: E402

# Unit-length prompt embeddings: float32 blobs for sqlite-vec, real[] for in-database search
# on PostgreSQL.
EmbeddingType = LargeBinary().with_variant(ARRAY(REAL), "postgresql")

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("namespace", String(255), nullable=False),
    Column("scope", String(120), nullable=False),  # who may hit it: team:…, key:…, owner:…
    Column("params_key", String(64), nullable=False),  # provider/model + every non-prompt param
    Column("direct_key", String(64), nullable=False),  # params_key + prompt
    Column("provider", String(64), nullable=False),  # as requested
    Column("model", String(300), nullable=False),
    Column("prompt", Text, nullable=False),  # for operators; never shown to callers
    Column("embedding", EmbeddingType, nullable=True),
    Column("embedding_model", String(200), nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("source_video_id", String(600), nullable=False),  # the job that fills it
    Column("hits", Integer, nullable=False, default=0),
    Column("last_hit_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_cache_direct", "namespace", "scope", "direct_key"),
    Index("ix_cache_semantic", "namespace", "scope", "params_key", "embedding_model"),
    Index("ix_cache_source", "source_video_id"),
    Index("ix_cache_expires", "expires_at"),
)

# An upstream job referenced by more than one video row (a cache hit shares it): `refs` counts
# those rows; asset keys of rows deleted while others remain wait in `held_assets` until the
# last reference goes.
cache_jobs = Table(
    "cache_jobs",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("upstream_id", String(512), primary_key=True),
    Column("refs", Integer, nullable=False),
    Column("held_assets", JSON, nullable=True),
    Column("created_at", Float, nullable=False),
)

cache_counters = Table(
    "cache_counters",
    metadata,
    Column("namespace", String(255), primary_key=True),
    Column("hits", Integer, nullable=False, default=0),
    Column("direct_hits", Integer, nullable=False, default=0),
    Column("semantic_hits", Integer, nullable=False, default=0),
    Column("misses", Integer, nullable=False, default=0),
    Column("saved_usd", Float, nullable=False, default=0.0),
    Column("updated_at", Float, nullable=False),
)

# An identical create in flight: the first instance to miss holds the claim until its entry
# is stored (or the create fails); identical creates elsewhere wait for it, then attach.
# A crashed holder's claim is taken over once `expires_at` passes.
cache_claims = Table(
    "cache_claims",
    metadata,
    Column("namespace", String(255), primary_key=True),
    Column("scope", String(120), primary_key=True),
    Column("direct_key", String(64), primary_key=True),
    Column("holder", String(40), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Rows sharing one upstream job are found by it (mirroring reuses a sibling's copy).
Index("ix_videos_upstream", videos.c.provider, videos.c.upstream_id)

# -- characters (POST /v1/videos/characters) -------------------------------------------------
# A character made from a clip: its still frame lives in the asset store under `still_key`;
# only its owner sees it (404 for anyone else, as for videos).
characters = Table(
    "characters",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("still_key", String(300), nullable=False),
    Column("still_type", String(40), nullable=False),
    Column("source_seconds", Float, nullable=True),
    Column("source_size", String(16), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_characters_owner", "owner"),
)

# One row per API request (store/requestlog.py): who, which route and provider, how it
# ended, how long it took; pruned by the worker past `logging.request_log_retention_days`.
request_log = Table(
    "request_log",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=True),
    Column("created_at", Float, nullable=False, index=True),
    Column("method", String(10), nullable=False),
    Column("route", String(200), nullable=False),
    Column("path", String(600), nullable=False),
    Column("status", Integer, nullable=False),
    Column("key_id", String(40), nullable=True, index=True),
    Column("provider", String(64), nullable=True),
    Column("model", String(300), nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("cost_usd", Float, nullable=True),
)

# The background workers' liveness, one row each: /ready fails when the newest is stale.
worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker_id", String(200), primary_key=True),
    Column("beat_at", Float, nullable=False),
)
