"""participant_transitions: parcours moves from parcours.transitioned.v1, for the 6/12-month outcomes
(a parcours `employed` or `training` on the measure date; a move out of `employed` ends a CDI). Moves
older than this revision come only with a replay of participants.events.

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
        "participant_transitions",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("parcours_id", sa.Uuid, nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("from_state", sa.String(20), nullable=False),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("exit_kind", sa.String(30), nullable=True),
        sa.Column("at", sa.Date, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_participant_transitions_participant", "participant_transitions", ["tenant", "participant_id"])


def downgrade() -> None:
    op.drop_index("ix_participant_transitions_participant", table_name="participant_transitions")
    op.drop_table("participant_transitions")
