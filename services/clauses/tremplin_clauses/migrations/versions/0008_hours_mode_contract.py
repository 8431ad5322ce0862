"""hours_entries.mode and .contract_type: each month's hours carry their own fulfilment mode and
contract (an ETTI mission, then a direct hire on the same lot); existing entries take their placement's.

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
    with op.batch_alter_table("hours_entries") as batch:
        batch.add_column(sa.Column("mode", sa.String(30), nullable=True))
        batch.add_column(sa.Column("contract_type", sa.String(30), nullable=True))
    op.execute(
        "UPDATE hours_entries SET "
        "mode = (SELECT p.mode FROM placements p WHERE p.id = hours_entries.placement_id), "
        "contract_type = (SELECT p.contract_type FROM placements p WHERE p.id = hours_entries.placement_id)"
    )
    with op.batch_alter_table("hours_entries") as batch:
        batch.alter_column("mode", existing_type=sa.String(30), nullable=False)
        batch.alter_column("contract_type", existing_type=sa.String(30), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("hours_entries") as batch:
        batch.drop_column("contract_type")
        batch.drop_column("mode")
