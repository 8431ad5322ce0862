"""aid_payments follow the disbursement lifecycle: status (prepared → approved → paid, or rejected),
who prepared and decided; one payment per beneficiary and month among those not rejected. Payments
recorded before this revision were paid at once: they stay `paid`, prepared by whoever paid them.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_LIVE = sa.text("status <> 'rejected'")


def upgrade() -> None:
    with op.batch_alter_table("aid_payments") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="paid"))
        batch.add_column(sa.Column("prepared_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("prepared_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("decision_reason", sa.Text, nullable=True))
        batch.alter_column("paid_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch.alter_column("paid_by", existing_type=sa.String(200), nullable=True)
        batch.drop_constraint("uq_aid_payments_beneficiary_month", type_="unique")
    op.execute("UPDATE aid_payments SET prepared_by = paid_by, prepared_at = paid_at")
    with op.batch_alter_table("aid_payments") as batch:
        batch.alter_column("prepared_by", existing_type=sa.String(200), nullable=False)
        batch.alter_column("prepared_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column("status", existing_type=sa.String(20), server_default=None)
    op.create_index("uq_aid_payments_beneficiary_month_live", "aid_payments", ["beneficiary_id", "month"],
                    unique=True, postgresql_where=_LIVE, sqlite_where=_LIVE)  # fmt: skip


def downgrade() -> None:
    op.drop_index("uq_aid_payments_beneficiary_month_live", table_name="aid_payments")
    op.execute("DELETE FROM aid_payments WHERE status <> 'paid'")  # only payments made existed before
    with op.batch_alter_table("aid_payments") as batch:
        batch.create_unique_constraint("uq_aid_payments_beneficiary_month", ["beneficiary_id", "month"])
        batch.alter_column("paid_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column("paid_by", existing_type=sa.String(200), nullable=False)
        for column in ("decision_reason", "decided_at", "decided_by", "prepared_at", "prepared_by", "status"):
            batch.drop_column(column)
