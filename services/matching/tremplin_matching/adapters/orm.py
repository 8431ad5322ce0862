import sqlalchemy as sa

from tremplin_shared.db import UtcDateTime
from tremplin_shared.messaging.tables import messaging_metadata

metadata = sa.MetaData()

# Built only from participants events: ids, location, skills. No names.
candidates = sa.Table(
    "candidates",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("participant_id", sa.Uuid, primary_key=True),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

target_metadata = [metadata, messaging_metadata]
