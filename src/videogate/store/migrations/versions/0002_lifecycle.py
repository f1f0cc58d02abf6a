"""Job life cycle: poll scheduling and leases, mirrored assets, webhooks, idempotency.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("next_poll_at", sa.Float))
        batch.add_column(sa.Column("poll_failures", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_owner", sa.String(64)))
        batch.add_column(sa.Column("lease_until", sa.Float))
        batch.add_column(sa.Column("mirror_state", sa.String(16)))
        batch.add_column(sa.Column("idempotency_key", sa.String(255)))
    op.create_index("ix_videos_due", "videos", ["status", "next_poll_at"])
    op.create_index("ix_videos_mirror_due", "videos", ["mirror_state", "next_poll_at"])
    op.create_index("ix_videos_expires", "videos", ["expires_at"])
    with op.batch_alter_table("deletions") as batch:
        batch.add_column(sa.Column("assets", sa.JSON))
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("endpoint_id", sa.String(40), nullable=False, index=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("video_id", sa.String(600), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
    )
    op.create_index("ix_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("video_id", sa.String(600)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("started_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    with op.batch_alter_table("deletions") as batch:
        batch.drop_column("assets")
    op.drop_index("ix_videos_expires", "videos")
    op.drop_index("ix_videos_mirror_due", "videos")
    op.drop_index("ix_videos_due", "videos")
    with op.batch_alter_table("videos") as batch:
        for col in (
            "idempotency_key",
            "mirror_state",
            "lease_until",
            "lease_owner",
            "poll_failures",
            "next_poll_at",
        ):
            batch.drop_column(col)
