"""known participants projection, outbox, inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from tremplin_shared.messaging.tables import create_messaging_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_participants",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("participant_id", sa.Uuid, primary_key=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    create_messaging_tables()


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
    op.drop_table("known_participants")
