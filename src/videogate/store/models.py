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

virtual_keys = Table(
    "virtual_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(24), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("blocked", Boolean, nullable=False, default=False),
    Column("description", Text, nullable=True),
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
