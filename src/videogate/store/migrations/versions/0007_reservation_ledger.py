"""Reservation ledger: the counter claims a create holds before its usage row exists, so
the worker can give back those of a create that died in between (issue 18, High 1).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("claims", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_reservations_created_at", "reservations", ["created_at"])
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("reservation_id", sa.String(40), nullable=True))
        batch.create_index("ix_usage_reservation_id", ["reservation_id"])


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_index("ix_usage_reservation_id")
        batch.drop_column("reservation_id")
    op.drop_index("ix_reservations_created_at", "reservations")
    op.drop_table("reservations")
