"""negative adjustments netted against the next payments of their convention: the offsets decided by
payment batches (append-only, like the ledger) and, on the ledger, the payment an `offset` row was
deducted from (absorbed_by)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MESSAGE = "offsets are immutable: record a new one instead"


def upgrade() -> None:
    op.create_table(
        "disbursement_offsets",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("convention_id", sa.Uuid, sa.ForeignKey("conventions.id"), nullable=False),
        sa.Column("batch_id", sa.Uuid, sa.ForeignKey("payment_batches.id"), nullable=False),
        sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False),
        sa.Column("absorbed_by", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.CheckConstraint("amount > 0", name="ck_disbursement_offsets_positive"),
        sa.Index("ix_disbursement_offsets_tenant_convention", "tenant", "convention_id"),
        sa.Index("ix_disbursement_offsets_batch", "batch_id"),
    )
    op.add_column("ledger", sa.Column("absorbed_by", sa.Uuid, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION offsets_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$""")
        op.execute("""CREATE TRIGGER offsets_no_update_or_delete BEFORE UPDATE OR DELETE ON disbursement_offsets
                      FOR EACH ROW EXECUTE FUNCTION offsets_immutable()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER offsets_no_{action.lower()} BEFORE {action} ON disbursement_offsets
                           BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER offsets_no_update_or_delete ON disbursement_offsets")
        op.execute("DROP FUNCTION offsets_immutable()")
    op.drop_column("ledger", "absorbed_by")
    op.drop_table("disbursement_offsets")
