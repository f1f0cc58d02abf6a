"""Response cache: claims on identical in-flight creates; pgvector where the server has it.

`cache_claims` lets gateway instances sharing a database start one upstream job for identical
creates that race each other. On PostgreSQL the `vector` extension is created when the server
has it and the role may (in a savepoint: otherwise nothing changes and the cache keeps scoring
by brute force), and the embedding dimensions already stored get their HNSW index. Later
dimensions are indexed when first stored (videogate.cache.vectors), since no migration can
know them.

Revision ID: 0005
Revises: 0004
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("videogate.cache")
# The cache's DDL lock (videogate.cache.vectors._SCHEMA_LOCK): a gateway creating the
# extension at start waits for this migration, and the other way round.
SCHEMA_LOCK = 0x76676361636865


def upgrade() -> None:
    op.create_table(
        "cache_claims",
        sa.Column("namespace", sa.String(255), primary_key=True),
        sa.Column("scope", sa.String(120), primary_key=True),
        sa.Column("direct_key", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _pgvector(bind)


def _pgvector(bind: sa.engine.Connection) -> None:
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).scalar()
    if available is None:
        return
    bind.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:
        log.warning(
            "CREATE EXTENSION vector failed (%s): the cache scores by brute force until a "
            "superuser creates it (docs/cache.md)",
            str(exc.orig).strip(),
        )
        return
    stored = bind.execute(
        sa.text(
            "SELECT DISTINCT array_length(embedding, 1) FROM cache_entries "
            "WHERE embedding IS NOT NULL"
        )
    )
    for (dims,) in stored.all():
        if not dims or dims > 4000:  # HNSW indexes vector up to 2,000, halfvec up to 4,000
            continue
        kind, ops = (
            ("vector", "vector_cosine_ops") if dims <= 2000 else ("halfvec", "halfvec_cosine_ops")
        )
        bind.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS ix_cache_hnsw_{int(dims)} ON cache_entries "
                f"USING hnsw ((CAST(embedding AS {kind}({int(dims)}))) {ops}) "
                f"WHERE array_length(embedding, 1) = {int(dims)}"
            )
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        names = bind.execute(
            sa.text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = 'cache_entries' AND indexname LIKE 'ix\\_cache\\_hnsw\\_%'"
            )
        )
        for (name,) in names.all():
            bind.execute(sa.text(f'DROP INDEX IF EXISTS "{name}"'))
        # The extension stays: other objects in the database may use it.
    op.drop_table("cache_claims")
