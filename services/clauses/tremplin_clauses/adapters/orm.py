import sqlalchemy as sa

from tremplin_shared.db import UtcDateTime
from tremplin_shared.messaging.tables import messaging_metadata

metadata = sa.MetaData()

# The participants this service has heard of, from participants events (ids and flags, no names);
# deleted on participant.erased.
known_participants = sa.Table(
    "known_participants",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("participant_id", sa.Uuid, primary_key=True),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    # From participant.profile_changed: the publics (ParticipantFlags) as computed on flags_computed_on.
    sa.Column("clause_eligible", sa.Boolean, nullable=True),
    sa.Column("flags_computed_on", sa.Date, nullable=True),
    sa.Column("flags", sa.JSON, nullable=True),
)

target_metadata = [metadata, messaging_metadata]
