"""erasure_tombstones: (tenant, participant_id, erased_at) of every erasure the webhook consumer saw, so
that an older event about an erased participant (a DLQ replay) is not sent to subscribers again
(tremplin_shared/messaging/erasure.py)

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from tremplin_shared.messaging.tables import create_erasure_tombstones_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_erasure_tombstones_table()


def downgrade() -> None:
    op.drop_table("erasure_tombstones")
