"""Governance: customers, teams, key limits and rotation, limit counters, usage, prices,
audit log, upstream keys stored encrypted.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _limit_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("budget_usd", sa.Float),
        sa.Column("budget_period", sa.String(16)),
        sa.Column("rpm", sa.Integer),
        sa.Column("max_active_jobs", sa.Integer),
        sa.Column("video_seconds_per_day", sa.Float),
    ]


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        *_limit_columns(),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(40), index=True),
        sa.Column("allowed_models", sa.JSON),
        *_limit_columns(),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("virtual_keys") as batch:
        batch.add_column(sa.Column("team_id", sa.String(40)))
        for col in _limit_columns():
            batch.add_column(col)
        batch.add_column(sa.Column("allowed_models", sa.JSON))
        batch.add_column(sa.Column("allowed_providers", sa.JSON))
        batch.add_column(sa.Column("provider_keys", sa.JSON))
        batch.add_column(sa.Column("expires_at", sa.Float))
    op.create_table(
        "key_hashes",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(40), nullable=False, index=True),
        sa.Column("valid_until", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.execute(
        "INSERT INTO key_hashes (key_hash, key_id, valid_until, created_at) "
        "SELECT key_hash, id, NULL, created_at FROM virtual_keys"
    )
    op.create_table(
        "limit_counters",
        sa.Column("scope", sa.String(120), primary_key=True),
        sa.Column("window", sa.String(40), primary_key=True),
        sa.Column("used", sa.Float, nullable=False, server_default="0"),
        sa.Column("reserved", sa.Float, nullable=False, server_default="0"),
        sa.Column("expires_at", sa.Float),
    )
    op.create_table(
        "usage",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("video_id", sa.String(600), nullable=False, unique=True),
        sa.Column("key_id", sa.String(40), index=True),
        sa.Column("team_id", sa.String(40), index=True),
        sa.Column("customer_id", sa.String(40), index=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("resolution", sa.String(16)),
        sa.Column("estimate_usd", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claims", sa.JSON),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("settled_at", sa.Float),
    )
    op.create_index("ix_usage_created", "usage", ["created_at"])
    op.create_table(
        "prices",
        sa.Column("pattern", sa.String(300), primary_key=True),
        sa.Column("per_second", sa.Float, nullable=False),
        sa.Column("tiers", sa.JSON),
        sa.Column("bill_failures", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False, index=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(40), nullable=False),
        sa.Column("target_id", sa.String(120), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_table(
        "provider_keys",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("secret_encrypted", sa.Text, nullable=False),
        sa.Column("weight", sa.Float, nullable=False, server_default="1"),
        sa.Column("models", sa.JSON),
        sa.Column("base_url", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "provider_keys",
        "audit_log",
        "prices",
        "usage",
        "limit_counters",
        "key_hashes",
        "teams",
        "customers",
    ):
        op.drop_table(table)
    with op.batch_alter_table("virtual_keys") as batch:
        for col in (
            "team_id",
            "budget_usd",
            "budget_period",
            "rpm",
            "max_active_jobs",
            "video_seconds_per_day",
            "allowed_models",
            "allowed_providers",
            "provider_keys",
            "expires_at",
        ):
            batch.drop_column(col)
