"""Characters: a name and a still frame taken from an uploaded clip, usable in later creates
(issue 20).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "characters",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("still_key", sa.String(300), nullable=False),
        sa.Column("still_type", sa.String(40), nullable=False),
        sa.Column("source_seconds", sa.Float, nullable=True),
        sa.Column("source_size", sa.String(16), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_characters_owner", "characters", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_characters_owner", "characters")
    op.drop_table("characters")
