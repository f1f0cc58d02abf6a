"""Routing on public models (issue 16): stored routes, measured speed per deployment, and
prices and usage in every billed dimension.

Revision ID: 0010
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_routes",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("deployments", sa.JSON, nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "deployment_speed",
        sa.Column("deployment", sa.String(400), primary_key=True),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("mean_seconds", sa.Float, nullable=False),
        sa.Column("last_seconds", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("prices") as batch:
        batch.add_column(sa.Column("dimensions", sa.JSON, nullable=True))
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("dimensions", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("dimensions")
    with op.batch_alter_table("prices") as batch:
        batch.drop_column("dimensions")
    op.drop_table("deployment_speed")
    op.drop_table("model_routes")
