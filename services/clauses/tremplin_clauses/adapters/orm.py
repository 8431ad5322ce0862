import sqlalchemy as sa

from tremplin_shared.db import UtcDateTime
from tremplin_shared.messaging.tables import messaging_metadata, tombstone_metadata

metadata = sa.MetaData()

# Hours are stored as whole hundredths of an hour (`*_centi` columns), exact on SQLite and PostgreSQL
# alike (sums included); the repositories hand back Decimal hours.

# The participants this service has heard of, from participants events (ids, flags and sex, no names);
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
    sa.Column("sex", sa.String(1), nullable=True),  # F | M, for the reports' participants by sex
)

# The dated history of those flags: one row per participant and day of computation (the latest sent
# that day, by the event's changed_at, then its id: a redelivered or older event never replaces a
# newer one). Eligibility at a placement's start is chosen from it (domain/eligibility.in_force).
# Deleted on participant.erased.
participant_flags = sa.Table(
    "participant_flags",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("participant_id", sa.Uuid, primary_key=True),
    sa.Column("computed_on", sa.Date, primary_key=True),
    sa.Column("clause_eligible", sa.Boolean, nullable=False),
    sa.Column("flags", sa.JSON, nullable=False),  # ParticipantFlags as sent
    sa.Column("sex", sa.String(1), nullable=True),  # as the same event gave it, if it did
    sa.Column("changed_at", UtcDateTime, nullable=False),  # of the event, in UTC
    sa.Column("event_id", sa.String(200), nullable=False),
)

# What happened to participants after (or besides) their clause work, for the 6/12-month outcomes:
# parcours exits and transitions (participants events) and hires (matching's placement.hired). Purged
# on erasure.
participant_exits = sa.Table(
    "participant_exits",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("parcours_id", sa.Uuid, primary_key=True),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("exit_kind", sa.String(30), nullable=False),
    sa.Column("at", sa.Date, nullable=False),
    sa.Index("ix_participant_exits_participant", "tenant", "participant_id"),
)

participant_hires = sa.Table(
    "participant_hires",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("application_id", sa.Uuid, primary_key=True),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("contract_type", sa.String(30), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Index("ix_participant_hires_participant", "tenant", "participant_id"),
)

# Every parcours move (parcours.transitioned), one row per event: which parcours is `employed` or
# `training` on a measure date, and when someone left `employed`. `event_time` orders one day's moves.
participant_transitions = sa.Table(
    "participant_transitions",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("event_id", sa.String(200), primary_key=True),
    sa.Column("parcours_id", sa.Uuid, nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("from_state", sa.String(20), nullable=False),
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("exit_kind", sa.String(30), nullable=True),
    sa.Column("at", sa.Date, nullable=False),
    sa.Column("event_time", UtcDateTime, nullable=False),
    sa.Index("ix_participant_transitions_participant", "tenant", "participant_id"),
)

# A market (operation) of a buyer, with its lots. (tenant, reference) is unique.
markets = sa.Table(
    "markets",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("reference", sa.String(100), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("legal_basis", sa.String(500), nullable=True),
    sa.Column("buyer_name", sa.String(300), nullable=False),
    sa.Column("buyer_siret", sa.String(14), nullable=False),
    sa.Column("buyer_kind", sa.String(10), nullable=False),  # public | private
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("tenant", "reference", name="uq_markets_tenant_reference"),
)

lots = sa.Table(
    "lots",
    metadata,
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
    sa.Column("completed_at", UtcDateTime, nullable=True),  # when validated first reached required
    sa.UniqueConstraint("market_id", "number", name="uq_lots_market_number"),
    sa.Index("ix_lots_tenant_market", "tenant", "market_id"),
)

# A participant on a lot: fulfilment mode, contract type, start; eligibility at the start (from the
# flags computed on `eligibility_computed_on`, see participant_flags), and the facilitator's override
# reason when the placement stands on it. One per lot and participant.
placements = sa.Table(
    "placements",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("lot_id", sa.Uuid, sa.ForeignKey("lots.id"), nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("mode", sa.String(30), nullable=False),
    sa.Column("contract_type", sa.String(30), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("eligible", sa.Boolean, nullable=True),
    sa.Column("eligibility_computed_on", sa.Date, nullable=True),  # null: no flags known (or before 0005)
    sa.Column("override_reason", sa.Text, nullable=True),
    sa.Column("override_by", sa.String(200), nullable=True),
    sa.Column("source", sa.String(10), nullable=False),  # api | hire | import
    sa.Column("application_id", sa.Uuid, nullable=True, unique=True),  # the hire it came from
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("lot_id", "participant_id", name="uq_placements_lot_participant"),
    sa.Index("ix_placements_tenant_participant", "tenant", "participant_id"),
)

# Hours of one participant on one lot for one month (`month`: its first day).
hours_entries = sa.Table(
    "hours_entries",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("lot_id", sa.Uuid, sa.ForeignKey("lots.id"), nullable=False),
    sa.Column("placement_id", sa.Uuid, sa.ForeignKey("placements.id"), nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("month", sa.Date, nullable=False),
    sa.Column("hours_centi", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(30), nullable=False),  # this month's, the placement's by default
    sa.Column("contract_type", sa.String(30), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # declared | validated | rejected
    sa.Column("declared_by", sa.String(200), nullable=True),
    sa.Column("declared_at", UtcDateTime, nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", UtcDateTime, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),  # of a rejection
    sa.Index("ix_hours_tenant_participant_month", "tenant", "participant_id", "month"),
    sa.Index("ix_hours_tenant_lot", "tenant", "lot_id"),
    sa.Index("ix_hours_tenant_month_status", "tenant", "month", "status"),
)

# Idempotency-Key of machine POSTs: the key, per tenant and route, and what it created. The row is
# written in the transaction of the creation, so a replay finds it or nothing was created.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("scope", sa.String(100), primary_key=True),  # e.g. "hours:<lot id>"
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.Uuid, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

target_metadata = [metadata, messaging_metadata, tombstone_metadata]
