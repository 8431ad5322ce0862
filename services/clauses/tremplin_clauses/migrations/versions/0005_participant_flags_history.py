"""participant_flags: the dated history of the flags from participant.profile_changed.v1, so that
eligibility is the one in force at a placement's start; placements.eligibility_computed_on

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "participant_flags",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("participant_id", sa.Uuid, primary_key=True),
        sa.Column("computed_on", sa.Date, primary_key=True),
        sa.Column("clause_eligible", sa.Boolean, nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("sex", sa.String(1), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
    )
    # The latest flags known so far are the first entry of each history (their event's time is not
    # kept: registered_at is a lower bound, so any later event of the same day still supersedes them).
    op.execute(
        "INSERT INTO participant_flags (tenant, participant_id, computed_on, clause_eligible, flags, sex, changed_at, "
        "event_id) SELECT tenant, participant_id, flags_computed_on, clause_eligible, flags, sex, registered_at, "
        "'migration-0005' FROM known_participants WHERE flags_computed_on IS NOT NULL "
        "AND clause_eligible IS NOT NULL AND flags IS NOT NULL"
    )
    with op.batch_alter_table("placements") as batch:
        batch.add_column(sa.Column("eligibility_computed_on", sa.Date, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("placements") as batch:
        batch.drop_column("eligibility_computed_on")
    op.drop_table("participant_flags")
