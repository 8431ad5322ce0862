"""situation, NIR hash, parcours, transitions, referents, diagnostics, CER, hires, access log

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        for name, type_ in [("email", sa.String(254)), ("phone", sa.String(30)), ("address_line", sa.String(300)),
                            ("search_name", sa.String(201)), ("nir_hash", sa.String(64)),
                            ("commune_insee", sa.String(5)), ("unemployed_since", sa.Date),
                            ("education_level", sa.String(30)), ("updated_at", TZ), ("erased_at", TZ)]:  # fmt: skip
            batch.add_column(sa.Column(name, type_, nullable=True))
        for name in ("rsa", "job_seeker_registered", "rqth", "qpv", "driving_licence", "vehicle", "childcare_need",
                     "siae_employee", "consent_matching"):  # fmt: skip
            batch.add_column(sa.Column(name, sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_unique_constraint("uq_participants_tenant_nir_hash", ["tenant", "nir_hash"])
    op.create_index("ix_participants_tenant_names", "participants", ["tenant", "last_name", "first_name", "id"])

    op.create_table(
        "parcours",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False, index=True),
        sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=False, index=True),
        sa.Column("programme", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("oriented_at", sa.Date, nullable=False),
        sa.Column("state_since", sa.Date, nullable=False),
        sa.Column("exit_kind", sa.String(30), nullable=True),
        sa.Column("exited_at", sa.Date, nullable=True),
        sa.Column("opened_at", TZ, nullable=False),
    )
    is_open = sa.column("exited_at").is_(None)
    op.create_index("uq_parcours_open_per_programme", "parcours", ["tenant", "participant_id", "programme"],
                    unique=True, postgresql_where=is_open, sqlite_where=is_open)  # fmt: skip
    op.create_table(
        "parcours_transitions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("parcours_id", sa.Uuid, sa.ForeignKey("parcours.id"), nullable=False, index=True),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("at", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("exit_kind", sa.String(30), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_table(
        "referent_assignments",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("parcours_id", sa.Uuid, sa.ForeignKey("parcours.id"), nullable=False, index=True),
        sa.Column("referent", sa.String(200), nullable=False),
        sa.Column("started_at", sa.Date, nullable=False),
        sa.Column("ended_at", sa.Date, nullable=True),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    is_active = sa.column("ended_at").is_(None)
    op.create_index("uq_referent_active_per_parcours", "referent_assignments", ["parcours_id"], unique=True,
                    postgresql_where=is_active, sqlite_where=is_active)  # fmt: skip
    op.create_table(
        "diagnostics",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=False, index=True),
        sa.Column("made_at", sa.Date, nullable=False),
        sa.Column("barriers", sa.JSON, nullable=False),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("wishes", sa.JSON, nullable=False),
        sa.Column("max_travel_km", sa.Float, nullable=True),
        sa.Column("travel_modes", sa.JSON, nullable=False),
        sa.Column("weekly_hours_wanted", sa.Float, nullable=True),
        sa.Column("schedule_exclusions", sa.JSON, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_table(
        "cers",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("parcours_id", sa.Uuid, sa.ForeignKey("parcours.id"), nullable=False, index=True),
        sa.Column("objectives", sa.JSON, nullable=False),
        sa.Column("signed_at", sa.Date, nullable=False),
        sa.Column("review_at", sa.Date, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_table(
        "hires",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=False, index=True),
        sa.Column("offer_id", sa.Uuid, nullable=False),
        sa.Column("contract_type", sa.String(30), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("weekly_hours", sa.Float, nullable=False),
        sa.Column("parcours_moved", sa.Boolean, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("participant_id", sa.Uuid, nullable=False, index=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("access_log", "hires", "cers", "diagnostics", "referent_assignments", "parcours_transitions",
                  "parcours"):  # fmt: skip
        op.drop_table(table)
    op.drop_index("ix_participants_tenant_names", "participants")
    with op.batch_alter_table("participants") as batch:
        batch.drop_constraint("uq_participants_tenant_nir_hash")
        for name in ("email", "phone", "address_line", "search_name", "nir_hash", "commune_insee",
                     "unemployed_since", "education_level", "updated_at", "erased_at", "rsa", "job_seeker_registered",
                     "rqth", "qpv", "driving_licence", "vehicle", "childcare_need", "siae_employee",
                     "consent_matching"):  # fmt: skip
            batch.drop_column(name)
