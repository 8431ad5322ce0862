"""erasure_tombstones: (tenant, participant_id, erased_at) of every erasure applied, so that an older
event about an erased participant (a DLQ replay, a rebuild) is skipped instead of bringing their
data back (tremplin_shared/messaging/erasure.py)

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from tremplin_shared.messaging.tables import create_erasure_tombstones_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_erasure_tombstones_table()


def downgrade() -> None:
    op.drop_table("erasure_tombstones")
