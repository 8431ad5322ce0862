"""dated weekly hours: the history of each CDE worker's weekly hours (from which day each value is in
force), backfilled with every worker's current hours from their start; the hours a disbursement line
was computed from ([[weekly hours, days]])

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
        "worker_hours",
        sa.Column("worker_id", sa.Uuid, sa.ForeignKey("cde_workers.id"), primary_key=True),
        sa.Column("valid_from", sa.Date, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("weekly_hours", sa.Numeric(4, 2), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Index("ix_worker_hours_tenant_worker", "tenant", "worker_id"),
    )
    op.execute(
        "INSERT INTO worker_hours (worker_id, valid_from, tenant, weekly_hours, recorded_at, recorded_by) "
        "SELECT id, start_date, tenant, weekly_hours, updated_at, 'migration 0005' FROM cde_workers"
    )
    op.add_column("disbursement_lines", sa.Column("hours", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("disbursement_lines", "hours")
    op.drop_table("worker_hours")
