"""france_travail_erasures: the pseudonym of an erased person's France Travail id and the latest
registration date known for it (a replay of it does not queue the person again)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "france_travail_erasures",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("pseudonym", sa.String(64), primary_key=True),
        sa.Column("registered_until", sa.Date, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("france_travail_erasures")
