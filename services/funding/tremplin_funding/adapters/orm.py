import sqlalchemy as sa

from tremplin_shared.db import UtcDateTime
from tremplin_shared.messaging.tables import messaging_metadata, tombstone_metadata

metadata = sa.MetaData()

# Money is NUMERIC(14, 2) (Decimal in Python; SQLite stores it as a number and hands back Decimal too).
Money = sa.Numeric(14, 2)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
# The tenant of the SMIC values shipped with the service; a territory's own values override them.
DEFAULT_TENANT = "*"

# The participants this service has heard of, from participants events (ids only, no names).
known_participants = sa.Table(
    "known_participants",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("participant_id", sa.Uuid, primary_key=True),
    sa.Column("registered_at", UtcDateTime, nullable=False),
)

# A fund (ETCLD, FSE/PLIE, a Département's budget…) and the account it pays from (the SEPA debtor).
funds = sa.Table(
    "funds",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False, index=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("payer_name", sa.String(140), nullable=False),
    sa.Column("payer_iban", sa.String(34), nullable=False),
    sa.Column("payer_bic", sa.String(11), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

funders = sa.Table(
    "funders",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False, index=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("share", sa.Numeric(5, 2), nullable=False),  # percent
    sa.Column("position", sa.Integer, nullable=False),  # the order of the split's ties
)

envelopes = sa.Table(
    "envelopes",
    metadata,
    sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("amount", Money, nullable=False),
)

conventions = sa.Table(
    "conventions",
    metadata,
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
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_conventions_tenant_siret", "tenant", "beneficiary_siret"),
    sa.Index("ix_conventions_tenant_fund", "tenant", "fund_id"),
)

# EBE workers on a CDE convention. `application_id` is set when a placement.hired added the worker
# (unique per convention: a redelivered hire adds nobody).
workers = sa.Table(
    "cde_workers",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("convention_id", sa.Uuid, sa.ForeignKey("conventions.id"), nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("weekly_hours", sa.Numeric(4, 2), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date, nullable=True),
    sa.Column("source", sa.String(30), nullable=False),  # api | placement.hired
    sa.Column("application_id", sa.Uuid, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("convention_id", "application_id", name="uq_cde_workers_application"),
    sa.Index("ix_cde_workers_convention", "convention_id"),
    sa.Index("ix_cde_workers_tenant_participant", "tenant", "participant_id"),
)

# The dated history of a worker's weekly hours: `weekly_hours` in force from `valid_from` until the
# next row (a row at the worker's start always exists: written with the worker, backfilled by 0005).
# cde_workers.weekly_hours is the value of the latest row.
worker_hours = sa.Table(
    "worker_hours",
    metadata,
    sa.Column("worker_id", sa.Uuid, sa.ForeignKey("cde_workers.id"), primary_key=True),
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("weekly_hours", sa.Numeric(4, 2), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("recorded_by", sa.String(200), nullable=False),
    sa.Index("ix_worker_hours_tenant_worker", "tenant", "worker_id"),
)

smic_rates = sa.Table(
    "smic_rates",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),  # DEFAULT_TENANT for the shipped values
    sa.Column("valid_from", sa.Date, primary_key=True),
    sa.Column("hourly", sa.Numeric(6, 2), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

# One row per run that created something; (tenant, period, sequence) is unique, so two runs of one
# period racing cannot both write (the loser gets a 409).
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("tenant", "period", "sequence", name="uq_runs_tenant_period_sequence"),
)

disbursements = sa.Table(
    "disbursements",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
    sa.Column("convention_id", sa.Uuid, sa.ForeignKey("conventions.id"), nullable=False),
    sa.Column("run_id", sa.Uuid, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # cde | adjustment
    sa.Column("total", Money, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("prepared_by", sa.String(200), nullable=False),
    sa.Column("prepared_at", UtcDateTime, nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", UtcDateTime, nullable=True),
    sa.Column("decision_reason", sa.Text, nullable=True),
    sa.Column("batch_id", sa.Uuid, nullable=True),
    sa.Column("paid_at", UtcDateTime, nullable=True),
    sa.Index("ix_disbursements_tenant_period", "tenant", "period"),
    sa.Index("ix_disbursements_fund_year", "fund_id", "year"),
)

disbursement_parts = sa.Table(
    "disbursement_parts",
    metadata,
    sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), primary_key=True),
    sa.Column("funder_id", sa.Uuid, sa.ForeignKey("funders.id"), primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("amount", Money, nullable=False),
)

# The lines of a disbursement: one per worker, the CDE of the month or an adjustment of it.
disbursement_lines = sa.Table(
    "disbursement_lines",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False),
    sa.Column("worker_id", sa.Uuid, sa.ForeignKey("cde_workers.id"), nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # cde | adjustment
    sa.Column("amount", Money, nullable=False),
    sa.Column("expected", Money, nullable=False),  # the worker's CDE for the period as computed then
    sa.Column("days_present", sa.Integer, nullable=False),
    sa.Column("weekly_hours", sa.Numeric(4, 2), nullable=False),
    sa.Column("cde_rate", sa.Numeric(4, 2), nullable=False),
    sa.Column("smic", sa.JSON, nullable=False),  # [[hourly rate, days], …]
    sa.Index("ix_disbursement_lines_disbursement", "disbursement_id"),
    sa.Column("hours", sa.JSON, nullable=True),  # [[weekly hours, days], …]; null on lines before 0005
    sa.Index("ix_disbursement_lines_tenant_period", "tenant", "period"),
)

disbursement_transitions = sa.Table(
    "disbursement_transitions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False, index=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
)

payment_batches = sa.Table(
    "payment_batches",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False, index=True),
    sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # created | paid
    sa.Column("total", Money, nullable=False),
    sa.Column("transactions", sa.Integer, nullable=False),
    sa.Column("execution_date", sa.Date, nullable=False),
    sa.Column("message_id", sa.String(100), nullable=False),
    sa.Column("sepa_xml", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("paid_by", sa.String(200), nullable=True),
    sa.Column("paid_at", UtcDateTime, nullable=True),
)

aid_schemes = sa.Table(
    "aid_schemes",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False, index=True),
    sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("monthly_amount", Money, nullable=False),
    sa.Column("max_months", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

aid_beneficiaries = sa.Table(
    "aid_beneficiaries",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("scheme_id", sa.Uuid, sa.ForeignKey("aid_schemes.id"), nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("scheme_id", "participant_id", name="uq_aid_beneficiaries_scheme_participant"),
)

aid_payments = sa.Table(
    "aid_payments",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("beneficiary_id", sa.Uuid, sa.ForeignKey("aid_beneficiaries.id"), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # prepared | approved | paid | rejected
    sa.Column("prepared_by", sa.String(200), nullable=False),
    sa.Column("prepared_at", UtcDateTime, nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", UtcDateTime, nullable=True),
    sa.Column("decision_reason", sa.Text, nullable=True),
    sa.Column("paid_at", UtcDateTime, nullable=True),
    sa.Column("paid_by", sa.String(200), nullable=True),
    # one payment per beneficiary and month, a rejected one aside (the month may be prepared again)
    sa.Index(
        "uq_aid_payments_beneficiary_month_live",
        "beneficiary_id",
        "month",
        unique=True,
        postgresql_where=sa.text("status <> 'rejected'"),
        sqlite_where=sa.text("status <> 'rejected'"),
    ),
)

# Every money movement, never updated nor deleted: committed (a disbursement or an aid payment
# prepared), released (a prepared one rejected, negative), paid (a batch, or an aid payment, marked
# paid), aid_paid (an aid payment recorded before aid approvals existed: committed and paid at once),
# offset (a negative adjustment deducted from a payment of a batch marked paid, negative).
# One row per funder part.
ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("fund_id", sa.Uuid, nullable=False),
    sa.Column("funder_id", sa.Uuid, nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("convention_id", sa.Uuid, nullable=True),
    sa.Column("disbursement_id", sa.Uuid, nullable=True),
    sa.Column("batch_id", sa.Uuid, nullable=True),
    sa.Column("aid_payment_id", sa.Uuid, nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Index("ix_ledger_tenant_id", "tenant", "id"),
    sa.Index("ix_ledger_fund_year", "fund_id", "year"),
    # offset rows: the payment (a positive disbursement) the negative adjustment `disbursement_id` was deducted from
    sa.Column("absorbed_by", sa.Uuid, nullable=True),
)

# What a payment batch deducted of an approved negative adjustment (`disbursement_id`) from a payment of
# the same convention (`absorbed_by`, a positive disbursement of the batch): `amount` > 0. Written with
# the batch (its SEPA file holds the net transfers), never updated nor deleted (a trigger); what is left
# of a negative adjustment = its total + Σ amount of its offsets. Its ledger rows (`offset`, per funder)
# are written when the batch is paid.
offsets = sa.Table(
    "disbursement_offsets",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("fund_id", sa.Uuid, sa.ForeignKey("funds.id"), nullable=False),
    sa.Column("convention_id", sa.Uuid, sa.ForeignKey("conventions.id"), nullable=False),
    sa.Column("batch_id", sa.Uuid, sa.ForeignKey("payment_batches.id"), nullable=False),
    sa.Column("disbursement_id", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False),
    sa.Column("absorbed_by", sa.Uuid, sa.ForeignKey("disbursements.id"), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.CheckConstraint("amount > 0", name="ck_disbursement_offsets_positive"),
    sa.Index("ix_disbursement_offsets_tenant_convention", "tenant", "convention_id"),
    sa.Index("ix_disbursement_offsets_batch", "batch_id"),
)

target_metadata = [metadata, messaging_metadata, tombstone_metadata]
