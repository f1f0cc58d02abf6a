"""Virtual keys, videos and the deletion outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "virtual_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(24), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("description", sa.Text, nullable=True),
    )
    op.create_table(
        "videos",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(600), nullable=False, unique=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("upstream_id", sa.String(512), nullable=False),
        sa.Column("model_requested", sa.String(300)),
        sa.Column("model_deployment", sa.String(300)),
        sa.Column("provider_key", sa.String(200)),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("prompt", sa.Text),
        sa.Column("size", sa.String(32)),
        sa.Column("seconds", sa.String(16)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("remixed_from", sa.String(600)),
        sa.Column("error_code", sa.String(200)),
        sa.Column("error_message", sa.Text),
        sa.Column("assets", sa.JSON),
        sa.Column("extra", sa.JSON),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_videos_owner_seq", "videos", ["owner", "seq"])
    op.create_index("ix_videos_owner_provider_seq", "videos", ["owner", "provider", "seq"])
    op.create_index("ix_videos_provider_seq", "videos", ["provider", "seq"])
    op.create_index("ix_videos_status", "videos", ["status"])
    op.create_table(
        "deletions",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("video_id", sa.String(600), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("upstream_id", sa.String(512), nullable=False),
        sa.Column("provider_key", sa.String(200)),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("done_at", sa.Float),
    )
    op.create_index("ix_deletions_state_next", "deletions", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("deletions")
    op.drop_table("videos")
    op.drop_table("virtual_keys")
