import sqlalchemy as sa

from tremplin_shared.db import UtcDateTime
from tremplin_shared.messaging.tables import messaging_metadata

metadata = sa.MetaData()

participants = sa.Table(
    "participants",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False, index=True),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("registered_at", UtcDateTime, nullable=False),
)

target_metadata = [metadata, messaging_metadata]
