"""offers, applications, application_transitions

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("'[]'")


def upgrade() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("external_source", sa.String(50), nullable=True),
        sa.Column("external_id", sa.String(100), nullable=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("employer_name", sa.String(300), nullable=True),
        sa.Column("employer_siret", sa.String(14), nullable=True),
        sa.Column("rome_code", sa.String(5), nullable=True),
        sa.Column("skills", sa.JSON, nullable=False, server_default=EMPTY_LIST),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("commune_insee", sa.String(5), nullable=True),
        sa.Column("contract_type", sa.String(30), nullable=False),
        sa.Column("weekly_hours", sa.Float, nullable=True),
        sa.Column("positions", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("open_positions", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("requires_driving_licence", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("night", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("weekend", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("early", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("clause_lot_id", sa.Uuid, nullable=True),
        sa.Column("status", sa.String(10), nullable=False, server_default=sa.text("'open'")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant", "external_source", "external_id", name="uq_offers_tenant_external"),
    )
    op.create_index("ix_offers_tenant_status", "offers", ["tenant", "status"])
    op.create_index("ix_offers_tenant_created", "offers", ["tenant", "created_at"])
    op.create_table(
        "applications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False),
        sa.Column("offer_id", sa.Uuid, sa.ForeignKey("offers.id"), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("contract_type", sa.String(30), nullable=True),
        sa.Column("weekly_hours", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_applications_tenant_offer", "applications", ["tenant", "offer_id"])
    op.create_index("ix_applications_tenant_participant", "applications", ["tenant", "participant_id"])
    active = sa.text("state IN ('proposed', 'sent', 'interview')")
    op.create_index(
        "uq_applications_active",
        "applications",
        ["tenant", "participant_id", "offer_id"],
        unique=True,
        postgresql_where=active,
        sqlite_where=active,
    )
    op.create_table(
        "application_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("application_id", sa.Uuid, sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_application_transitions_application", "application_transitions", ["application_id"])
    op.create_index("ix_application_transitions_tenant_to_at", "application_transitions", ["tenant", "to_state", "at"])


def downgrade() -> None:
    op.drop_table("application_transitions")
    op.drop_table("applications")
    op.drop_table("offers")
