"""funds, funders, envelopes, conventions, CDE workers, SMIC table (with the shipped values), runs,
disbursements (parts, lines, transitions), payment batches, individual aids, ledger

Revision ID: 0002
Revises: 0001
"""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(14, 2)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# DOMAIN.md: 11.65 € from 2024-01-01, 11.88 € from 2024-11-01; the "*" tenant holds the shipped values.
SHIPPED_SMIC = [(date(2024, 1, 1), "11.65"), (date(2024, 11, 1), "11.88")]


def upgrade() -> None:
    op.create_table(
        "funds",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("payer_name", sa.String(140), nullable=False),
        sa.Column("payer_iban", sa.String(34), nullable=False),
        sa.Column("payer_bic", sa.String(11), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "funders",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False, index=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("share", sa.Numeric(5, 2), nullable=False),  # percent
        sa.Column("position", sa.Integer, nullable=False),  # the order of the split's ties
    )
    op.create_table(
        "envelopes",
        sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
    )
    op.create_table(
        "conventions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),  # cde | operation | individual_aid
        sa.Column("beneficiary_name", sa.String(140), nullable=False),
        sa.Column("beneficiary_siret", sa.String(14), nullable=False),
        sa.Column("beneficiary_iban", sa.String(34), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("cde_rate", sa.Numeric(4, 2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_conventions_tenant_siret", "tenant", "beneficiary_siret"),
        sa.Index("ix_conventions_tenant_fund", "tenant", "fund_id"),
    )
    op.create_table(
        "cde_workers",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("convention_id", sa.Uuid, sa.ForeignKey("conventions.id"), nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("weekly_hours", sa.Numeric(4, 2), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=True),
        sa.Column("source", sa.String(30), nullable=False),  # api | placement.hired
        sa.Column("application_id", sa.Uuid, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("convention_id", "application_id", name="uq_cde_workers_application"),
        sa.Index("ix_cde_workers_convention", "convention_id"),
        sa.Index("ix_cde_workers_tenant_participant", "tenant", "participant_id"),
    )
    op.create_table(
        "smic_rates",
        sa.Column("tenant", sa.String(100), primary_key=True),  # DEFAULT_TENANT for the shipped values
        sa.Column("valid_from", sa.Date, primary_key=True),
        sa.Column("hourly", sa.Numeric(6, 2), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("tenant", "period", "sequence", name="uq_runs_tenant_period_sequence"),
    )
    op.create_table(
        "disbursements",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("convention_id", sa.Uuid, sa.ForeignKey("conventions.id"), nullable=False),
        sa.Column("run_id", sa.Uuid, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),  # cde | adjustment
        sa.Column("total", MONEY, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("prepared_by", sa.String(200), nullable=False),
        sa.Column("prepared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("batch_id", sa.Uuid, nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("ix_disbursements_tenant_period", "tenant", "period"),
        sa.Index("ix_disbursements_fund_year", "fund_id", "year"),
    )
    op.create_table(
        "disbursement_parts",
        sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), primary_key=True),
        sa.Column("funder_id", sa.Uuid, sa.ForeignKey("funders.id"), primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
    )
    op.create_table(
        "disbursement_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False),
        sa.Column("worker_id", sa.Uuid, sa.ForeignKey("cde_workers.id"), nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),  # cde | adjustment
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("expected", MONEY, nullable=False),  # the worker's CDE for the period as computed then
        sa.Column("days_present", sa.Integer, nullable=False),
        sa.Column("weekly_hours", sa.Numeric(4, 2), nullable=False),
        sa.Column("cde_rate", sa.Numeric(4, 2), nullable=False),
        sa.Column("smic", sa.JSON, nullable=False),  # [[hourly rate, days], …]
        sa.Index("ix_disbursement_lines_disbursement", "disbursement_id"),
        sa.Index("ix_disbursement_lines_tenant_period", "tenant", "period"),
    )
    op.create_table(
        "disbursement_transitions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False, index=True),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_table(
        "payment_batches",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # created | paid
        sa.Column("total", MONEY, nullable=False),
        sa.Column("transactions", sa.Integer, nullable=False),
        sa.Column("execution_date", sa.Date, nullable=False),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("sepa_xml", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_by", sa.String(200), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "aid_schemes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("monthly_amount", MONEY, nullable=False),
        sa.Column("max_months", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "aid_beneficiaries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("scheme_id", sa.Uuid, sa.ForeignKey("aid_schemes.id"), nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scheme_id", "participant_id", name="uq_aid_beneficiaries_scheme_participant"),
    )
    op.create_table(
        "aid_payments",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("beneficiary_id", sa.Uuid, sa.ForeignKey("aid_beneficiaries.id"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("beneficiary_id", "month", name="uq_aid_payments_beneficiary_month"),
    )
    op.create_table(
        "ledger",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("fund_id", sa.Uuid, nullable=False),
        sa.Column("funder_id", sa.Uuid, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("convention_id", sa.Uuid, nullable=True),
        sa.Column("disbursement_id", sa.Uuid, nullable=True),
        sa.Column("batch_id", sa.Uuid, nullable=True),
        sa.Column("aid_payment_id", sa.Uuid, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Index("ix_ledger_tenant_id", "tenant", "id"),
        sa.Index("ix_ledger_fund_year", "fund_id", "year"),
    )
    smic = sa.table(
        "smic_rates", sa.column("tenant", sa.String), sa.column("valid_from", sa.Date),
        sa.column("hourly", sa.Numeric(6, 2)), sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("updated_by", sa.String),
    )  # fmt: skip
    shipped_at = datetime(2024, 1, 1, tzinfo=UTC)
    op.bulk_insert(
        smic,
        [{"tenant": "*", "valid_from": day, "hourly": rate, "updated_at": shipped_at, "updated_by": "shipped"}
         for day, rate in SHIPPED_SMIC],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("ledger")
    op.drop_table("aid_payments")
    op.drop_table("aid_beneficiaries")
    op.drop_table("aid_schemes")
    op.drop_table("payment_batches")
    op.drop_table("disbursement_transitions")
    op.drop_table("disbursement_lines")
    op.drop_table("disbursement_parts")
    op.drop_table("disbursements")
    op.drop_table("runs")
    op.drop_table("smic_rates")
    op.drop_table("cde_workers")
    op.drop_table("conventions")
    op.drop_table("envelopes")
    op.drop_table("funders")
    op.drop_table("funds")
