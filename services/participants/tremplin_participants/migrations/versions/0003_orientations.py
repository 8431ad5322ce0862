"""orientations (France Travail job seeker registrations to orient), their transition log, and the
participants' France Travail id (nullable, unique per tenant)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("france_travail_id", sa.String(100), nullable=True))
        batch.create_unique_constraint("uq_participants_tenant_france_travail_id", ["tenant", "france_travail_id"])
    op.create_table(
        "orientations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("france_travail_id", sa.String(100), nullable=True),
        sa.Column("registered_on", sa.Date, nullable=False),
        sa.Column("category", sa.String(1), nullable=False),
        sa.Column("commune_insee", sa.String(5), nullable=False),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("rome_codes", sa.JSON, nullable=False),
        sa.Column("rsa", sa.Boolean, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=True),
        sa.Column("dismissal_reason", sa.Text, nullable=True),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
    )
    op.create_index("ix_orientations_queue", "orientations", ["tenant", "status", "registered_on", "id"])
    pending = sa.column("status") == "pending"
    op.create_index("uq_orientations_pending_per_id", "orientations", ["tenant", "france_travail_id"], unique=True,
                    postgresql_where=pending, sqlite_where=pending)  # fmt: skip
    op.create_index("ix_orientations_tenant_id", "orientations", ["tenant", "france_travail_id"])
    op.create_index("ix_orientations_participant", "orientations", ["participant_id"])
    op.create_table(
        "orientation_transitions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("orientation_id", sa.Uuid, sa.ForeignKey("orientations.id"), nullable=False, index=True),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("orientation_transitions")
    op.drop_table("orientations")
    with op.batch_alter_table("participants") as batch:
        batch.drop_constraint("uq_participants_tenant_france_travail_id")
        batch.drop_column("france_travail_id")
