import sqlalchemy as sa

from tremplin_shared.db import UtcDateTime
from tremplin_shared.messaging.tables import messaging_metadata, tombstone_metadata

metadata = sa.MetaData()

EMPTY_LIST = sa.text("'[]'")

# Built only from participants events (registered, profile_changed; a row is deleted on erased):
# ids, location, skills, wishes, mobility, hours, exclusions, flags, consent. No names.
candidates = sa.Table(
    "candidates",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("participant_id", sa.Uuid, primary_key=True),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("commune_insee", sa.String(5), nullable=True),
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("wishes", sa.JSON, nullable=False, server_default=EMPTY_LIST),
    sa.Column("max_travel_km", sa.Float, nullable=True),
    sa.Column("travel_modes", sa.JSON, nullable=False, server_default=EMPTY_LIST),
    sa.Column("weekly_hours_wanted", sa.Float, nullable=True),
    sa.Column("schedule_exclusions", sa.JSON, nullable=False, server_default=EMPTY_LIST),
    sa.Column("driving_licence", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("vehicle", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("flags", sa.JSON, nullable=True),  # ParticipantFlags, with computed_on
    sa.Column("consent_matching", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# Job offers: written through the API, the France Travail import and the inbound.france-travail topic.
# (external_source, external_id) is unique per tenant: the intake is idempotent by external id.
# PART B (ranking) reads this table: latitude/longitude, rome_code, weekly_hours, requirements,
# schedule flags and status are the columns the hard filters and the score use.
offers = sa.Table(
    "offers",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("external_source", sa.String(50), nullable=True),  # "france_travail" for the intake
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
    sa.Column("status", sa.String(10), nullable=False, server_default=sa.text("'open'")),  # open|filled|closed
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("tenant", "external_source", "external_id", name="uq_offers_tenant_external"),
    sa.Index("ix_offers_tenant_status", "tenant", "status"),
    sa.Index("ix_offers_tenant_created", "tenant", "created_at"),
)

# Applications (positionnements): a participant on an offer, the machine of domain/applications.py.
applications = sa.Table(
    "applications",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False),
    sa.Column("offer_id", sa.Uuid, sa.ForeignKey("offers.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("start_date", sa.Date, nullable=True),  # the hired fields
    sa.Column("contract_type", sa.String(30), nullable=True),
    sa.Column("weekly_hours", sa.Float, nullable=True),
    sa.Column("employer_siret", sa.String(14), nullable=True),  # the offer's, copied at the hire
    sa.Column("clause_lot_id", sa.Uuid, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_applications_tenant_offer", "tenant", "offer_id"),
    sa.Index("ix_applications_tenant_participant", "tenant", "participant_id"),
    # One active application per participant and offer (the service layer checks first; this holds
    # under concurrent requests too).
    sa.Index(
        "uq_applications_active",
        "tenant",
        "participant_id",
        "offer_id",
        unique=True,
        postgresql_where=sa.text("state IN ('proposed', 'sent', 'interview')"),
        sqlite_where=sa.text("state IN ('proposed', 'sent', 'interview')"),
    ),
)

# Every transition of an application, including its creation (from_state NULL → proposed).
application_transitions = sa.Table(
    "application_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("application_id", sa.Uuid, sa.ForeignKey("applications.id"), nullable=False),
    sa.Column("from_state", sa.String(20), nullable=True),
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index("ix_application_transitions_application", "application_id"),
    sa.Index("ix_application_transitions_tenant_to_at", "tenant", "to_state", "at"),
)

target_metadata = [metadata, messaging_metadata, tombstone_metadata]
