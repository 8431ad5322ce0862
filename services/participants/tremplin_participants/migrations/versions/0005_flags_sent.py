"""participants.flags_sent, participants.flags_due_on: the flags other services hold and the next day
time alone changes them (the flags-refresh job, jobs.py)

No backfill: the rows already there are "not tracked yet" (both None) and the job's next pass takes
them up, from the day of their last change or registration (see jobs.py).

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
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("flags_sent", sa.JSON, nullable=True))
        batch.add_column(sa.Column("flags_due_on", sa.Date, nullable=True))
    live = sa.column("erased_at").is_(None)
    op.create_index("ix_participants_flags_due_on", "participants", ["flags_due_on"], postgresql_where=live,
                    sqlite_where=live)  # fmt: skip
    untracked = sa.and_(live, sa.column("flags_sent").is_(None))
    op.create_index("ix_participants_flags_untracked", "participants", ["id"], postgresql_where=untracked,
                    sqlite_where=untracked)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_participants_flags_untracked", "participants")
    op.drop_index("ix_participants_flags_due_on", "participants")
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("flags_due_on")
        batch.drop_column("flags_sent")
