"""hires.awaiting_start: a contract starting after the day matching reported it moves the parcours on
its start date (the parcours pass of jobs.py), not before. Hires recorded before were applied at once.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hires") as batch:
        batch.add_column(sa.Column("awaiting_start", sa.Boolean, nullable=False, server_default=sa.false()))
    awaiting = sa.text("awaiting_start")
    op.create_index("ix_hires_awaiting_start", "hires", ["start_date"], postgresql_where=awaiting,
                    sqlite_where=awaiting)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_hires_awaiting_start", "hires")
    with op.batch_alter_table("hires") as batch:
        batch.drop_column("awaiting_start")
