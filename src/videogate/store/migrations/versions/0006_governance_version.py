"""Governance stamp: one row whose version every audited governance change bumps, in the
change's own transaction, so every process and instance notices it with one cheap read and
reloads the stored prices and upstream keys (videogate.governance.sync).

Revision ID: 0006
Revises: 0005
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "governance_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 1, "updated_at": time.time()}])


def downgrade() -> None:
    op.drop_table("governance_version")
