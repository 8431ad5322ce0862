"""known participants: flags from participant.profile_changed.v1 (clause eligibility)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("known_participants") as batch:
        batch.add_column(sa.Column("clause_eligible", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("flags_computed_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("flags", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("known_participants") as batch:
        for name in ("flags", "flags_computed_on", "clause_eligible"):
            batch.drop_column(name)
