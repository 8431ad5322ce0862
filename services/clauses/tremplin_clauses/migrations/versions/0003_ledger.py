"""the clause ledger: markets, lots, placements, hours entries; sex, exits and hires projections

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("known_participants") as batch:
        batch.add_column(sa.Column("sex", sa.String(1), nullable=True))
    op.create_table(
        "participant_exits",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("parcours_id", sa.Uuid, primary_key=True),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("exit_kind", sa.String(30), nullable=False),
        sa.Column("at", sa.Date, nullable=False),
    )
    op.create_index("ix_participant_exits_participant", "participant_exits", ["tenant", "participant_id"])
    op.create_table(
        "participant_hires",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("application_id", sa.Uuid, primary_key=True),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("contract_type", sa.String(30), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
    )
    op.create_index("ix_participant_hires_participant", "participant_hires", ["tenant", "participant_id"])
    op.create_table(
        "markets",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("legal_basis", sa.String(500), nullable=True),
        sa.Column("buyer_name", sa.String(300), nullable=False),
        sa.Column("buyer_siret", sa.String(14), nullable=False),
        sa.Column("buyer_kind", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant", "reference", name="uq_markets_tenant_reference"),
    )
    op.create_table(
        "lots",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("market_id", sa.Uuid, sa.ForeignKey("markets.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("contractor_name", sa.String(300), nullable=False),
        sa.Column("contractor_siret", sa.String(14), nullable=False),
        sa.Column("required_centi", sa.BigInteger, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("market_id", "number", name="uq_lots_market_number"),
    )
    op.create_index("ix_lots_tenant_market", "lots", ["tenant", "market_id"])
    op.create_table(
        "placements",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("lot_id", sa.Uuid, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("mode", sa.String(30), nullable=False),
        sa.Column("contract_type", sa.String(30), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("eligible", sa.Boolean, nullable=True),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.Column("override_by", sa.String(200), nullable=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("application_id", sa.Uuid, nullable=True, unique=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("lot_id", "participant_id", name="uq_placements_lot_participant"),
    )
    op.create_index("ix_placements_tenant_participant", "placements", ["tenant", "participant_id"])
    op.create_table(
        "hours_entries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("lot_id", sa.Uuid, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("placement_id", sa.Uuid, sa.ForeignKey("placements.id"), nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("hours_centi", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("declared_by", sa.String(200), nullable=True),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_index("ix_hours_tenant_participant_month", "hours_entries", ["tenant", "participant_id", "month"])
    op.create_index("ix_hours_tenant_lot", "hours_entries", ["tenant", "lot_id"])
    op.create_index("ix_hours_tenant_month_status", "hours_entries", ["tenant", "month", "status"])


def downgrade() -> None:
    op.drop_table("hours_entries")
    op.drop_table("placements")
    op.drop_table("lots")
    op.drop_table("markets")
    op.drop_table("participant_hires")
    op.drop_table("participant_exits")
    with op.batch_alter_table("known_participants") as batch:
        batch.drop_column("sex")
