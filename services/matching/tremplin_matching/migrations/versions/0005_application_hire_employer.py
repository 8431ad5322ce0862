"""applications: employer_siret and clause_lot_id, copied from the offer at the hire, so that a later
change to the offer does not rewrite the hire (DOMAIN.md §Matching). Hires recorded before stay null:
the offer may have changed since, its current values are not the hire's.

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
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("employer_siret", sa.String(14), nullable=True))
        batch.add_column(sa.Column("clause_lot_id", sa.Uuid, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("clause_lot_id")
        batch.drop_column("employer_siret")
