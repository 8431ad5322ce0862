"""candidate profile (participant.profile_changed.v1): wishes, mobility, hours, exclusions, flags, consent

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("'[]'")
COLUMNS = [
    ("commune_insee", sa.String(5), {"nullable": True}),
    ("wishes", sa.JSON, {"nullable": False, "server_default": EMPTY_LIST}),
    ("max_travel_km", sa.Float, {"nullable": True}),
    ("travel_modes", sa.JSON, {"nullable": False, "server_default": EMPTY_LIST}),
    ("weekly_hours_wanted", sa.Float, {"nullable": True}),
    ("schedule_exclusions", sa.JSON, {"nullable": False, "server_default": EMPTY_LIST}),
    ("driving_licence", sa.Boolean, {"nullable": False, "server_default": sa.false()}),
    ("vehicle", sa.Boolean, {"nullable": False, "server_default": sa.false()}),
    ("flags", sa.JSON, {"nullable": True}),
    ("consent_matching", sa.Boolean, {"nullable": False, "server_default": sa.false()}),
    ("active", sa.Boolean, {"nullable": False, "server_default": sa.false()}),
]


def upgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        for name, type_, options in COLUMNS:
            batch.add_column(sa.Column(name, type_, **options))


def downgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        for name, _, _ in reversed(COLUMNS):
            batch.drop_column(name)
