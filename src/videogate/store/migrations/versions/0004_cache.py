"""Response cache: entries (with prompt embeddings), shared upstream jobs, counters.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Embedding = sa.LargeBinary().with_variant(postgresql.ARRAY(postgresql.REAL), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cache_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("scope", sa.String(120), nullable=False),
        sa.Column("params_key", sa.String(64), nullable=False),
        sa.Column("direct_key", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("embedding", Embedding),
        sa.Column("embedding_model", sa.String(200)),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("source_video_id", sa.String(600), nullable=False),
        sa.Column("hits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_hit_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_cache_direct", "cache_entries", ["namespace", "scope", "direct_key"])
    op.create_index(
        "ix_cache_semantic",
        "cache_entries",
        ["namespace", "scope", "params_key", "embedding_model"],
    )
    op.create_index("ix_cache_source", "cache_entries", ["source_video_id"])
    op.create_index("ix_cache_expires", "cache_entries", ["expires_at"])
    op.create_table(
        "cache_jobs",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("upstream_id", sa.String(512), primary_key=True),
        sa.Column("refs", sa.Integer, nullable=False),
        sa.Column("held_assets", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "cache_counters",
        sa.Column("namespace", sa.String(255), primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("direct_hits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("semantic_hits", sa.Integer, nullable=False, server_default="0"),
        sa.Column("misses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("saved_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_videos_upstream", "videos", ["provider", "upstream_id"])


def downgrade() -> None:
    op.drop_index("ix_videos_upstream", "videos")
    op.drop_table("cache_counters")
    op.drop_table("cache_jobs")
    op.drop_table("cache_entries")
