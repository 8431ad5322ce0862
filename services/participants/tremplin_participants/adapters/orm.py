"""The participants service's tables. Every row carries its tenant; every query filters on it."""

import sqlalchemy as sa

from tremplin_shared.db import UtcDateTime
from tremplin_shared.messaging.tables import messaging_metadata

metadata = sa.MetaData()

participants = sa.Table(
    "participants",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False, index=True),
    # Identity and contact: personal data, anonymised on erasure.
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("birth_date", sa.Date, nullable=False),
    sa.Column("sex", sa.String(1), nullable=False),
    sa.Column("email", sa.String(254), nullable=True),
    sa.Column("phone", sa.String(30), nullable=True),
    sa.Column("address_line", sa.String(300), nullable=True),
    # Names folded for the free-text search (lower case, no accents): the same on SQLite and PostgreSQL.
    sa.Column("search_name", sa.String(201), nullable=True),
    # Keyed hash (HMAC-SHA256) of the NIR, for duplicates only; the NIR itself is never stored.
    sa.Column("nir_hash", sa.String(64), nullable=True),
    # France Travail's job seeker id, set when an orientation is accepted; dropped on erasure.
    sa.Column("france_travail_id", sa.String(100), nullable=True),
    # Location (kept coarse enough for matching; commune INSEE code).
    sa.Column("commune_insee", sa.String(5), nullable=True),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("skills", sa.JSON, nullable=False),
    # Situation: what the flags are computed from.
    sa.Column("rsa", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("unemployed_since", sa.Date, nullable=True),
    sa.Column("job_seeker_registered", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("rqth", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("qpv", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("education_level", sa.String(30), nullable=True),
    sa.Column("driving_licence", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("vehicle", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("childcare_need", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("siae_employee", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("consent_matching", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("registered_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=True),
    sa.Column("erased_at", UtcDateTime, nullable=True),
    # The flags other services hold (the last profile event's, ParticipantFlags as JSON, computed_on
    # included) and the next day time alone changes them; None/None: not tracked yet (a bulk import,
    # a row from before migration 0005): the flags-refresh job takes it up (jobs.py).
    sa.Column("flags_sent", sa.JSON, nullable=True),
    sa.Column("flags_due_on", sa.Date, nullable=True),
    sa.UniqueConstraint("tenant", "nir_hash", name="uq_participants_tenant_nir_hash"),
    sa.UniqueConstraint("tenant", "france_travail_id", name="uq_participants_tenant_france_travail_id"),
)
# The list's order: last name, first name, id within a tenant.
sa.Index("ix_participants_tenant_names", participants.c.tenant, participants.c.last_name, participants.c.first_name,
         participants.c.id)  # fmt: skip
# The flags-refresh job's two queries: live participants whose flags change by `today`, and those not tracked yet.
_live = participants.c.erased_at.is_(None)
sa.Index("ix_participants_flags_due_on", participants.c.flags_due_on, postgresql_where=_live, sqlite_where=_live)
_untracked = sa.and_(_live, participants.c.flags_sent.is_(None))
sa.Index("ix_participants_flags_untracked", participants.c.id, postgresql_where=_untracked, sqlite_where=_untracked)

parcours = sa.Table(
    "parcours",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False, index=True),
    sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=False, index=True),
    sa.Column("programme", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("oriented_at", sa.Date, nullable=False),
    sa.Column("state_since", sa.Date, nullable=False),  # date of the last transition (183-day rule)
    sa.Column("exit_kind", sa.String(30), nullable=True),
    sa.Column("exited_at", sa.Date, nullable=True),
    sa.Column("opened_at", UtcDateTime, nullable=False),
)
_open = parcours.c.exited_at.is_(None)
# At most one open parcours per participant and programme.
sa.Index(
    "uq_parcours_open_per_programme",
    parcours.c.tenant,
    parcours.c.participant_id,
    parcours.c.programme,
    unique=True,
    postgresql_where=_open,
    sqlite_where=_open,
)

parcours_transitions = sa.Table(
    "parcours_transitions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("parcours_id", sa.Uuid, sa.ForeignKey("parcours.id"), nullable=False, index=True),
    sa.Column("from_state", sa.String(20), nullable=True),  # None for the opening
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("at", sa.Date, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("exit_kind", sa.String(30), nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

referent_assignments = sa.Table(
    "referent_assignments",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("parcours_id", sa.Uuid, sa.ForeignKey("parcours.id"), nullable=False, index=True),
    sa.Column("referent", sa.String(200), nullable=False),
    sa.Column("started_at", sa.Date, nullable=False),
    sa.Column("ended_at", sa.Date, nullable=True),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)
_active = referent_assignments.c.ended_at.is_(None)
# One active référent per parcours (a new assignment ends the previous one in the same transaction).
sa.Index(
    "uq_referent_active_per_parcours",
    referent_assignments.c.parcours_id,
    unique=True,
    postgresql_where=_active,
    sqlite_where=_active,
)

diagnostics = sa.Table(
    "diagnostics",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=False, index=True),
    sa.Column("made_at", sa.Date, nullable=False),
    sa.Column("barriers", sa.JSON, nullable=False),  # {"mobility": 0-3, "health": 0-3, ...}
    sa.Column("skills", sa.JSON, nullable=False),
    sa.Column("wishes", sa.JSON, nullable=False),
    sa.Column("max_travel_km", sa.Float, nullable=True),
    sa.Column("travel_modes", sa.JSON, nullable=False),
    sa.Column("weekly_hours_wanted", sa.Float, nullable=True),
    sa.Column("schedule_exclusions", sa.JSON, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

cers = sa.Table(
    "cers",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("parcours_id", sa.Uuid, sa.ForeignKey("parcours.id"), nullable=False, index=True),
    sa.Column("objectives", sa.JSON, nullable=False),
    sa.Column("signed_at", sa.Date, nullable=False),
    sa.Column("review_at", sa.Date, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

hires = sa.Table(  # hires reported by matching (placement.hired), for the timeline
    "hires",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),  # the application id
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=False, index=True),
    sa.Column("offer_id", sa.Uuid, nullable=False),
    sa.Column("contract_type", sa.String(30), nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("weekly_hours", sa.Float, nullable=False),
    sa.Column("parcours_moved", sa.Boolean, nullable=False),  # did it move a parcours to employed?
    # a contract starting after the day it was reported: the moves wait for the start (jobs.py)
    sa.Column("awaiting_start", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Index(
        "ix_hires_awaiting_start",
        "start_date",
        postgresql_where=sa.text("awaiting_start"),
        sqlite_where=sa.text("awaiting_start"),
    ),
)

access_log = sa.Table(  # every read of personal data: who, tenant, when, which participant
    "access_log",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("participant_id", sa.Uuid, nullable=False, index=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
)

orientations = sa.Table(  # job seekers France Travail reported (demandeur.registered), to orient
    "orientations",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    # None once the person it led to was erased (the row stays for the counts, unlinkable).
    sa.Column("france_travail_id", sa.String(100), nullable=True),
    sa.Column("registered_on", sa.Date, nullable=False),  # dateInscription
    sa.Column("category", sa.String(1), nullable=False),
    sa.Column("commune_insee", sa.String(5), nullable=False),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
    sa.Column("rome_codes", sa.JSON, nullable=False),
    sa.Column("rsa", sa.Boolean, nullable=True),  # None: France Travail did not say
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("participant_id", sa.Uuid, sa.ForeignKey("participants.id"), nullable=True),
    sa.Column("dismissal_reason", sa.Text, nullable=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=True),
)
# The queue's order within a tenant and status: registration date, then id.
sa.Index("ix_orientations_queue", orientations.c.tenant, orientations.c.status, orientations.c.registered_on,
         orientations.c.id)  # fmt: skip
_pending = orientations.c.status == "pending"
# One pending orientation per France Travail id and tenant: a re-registration updates it.
sa.Index(
    "uq_orientations_pending_per_id",
    orientations.c.tenant,
    orientations.c.france_travail_id,
    unique=True,
    postgresql_where=_pending,
    sqlite_where=_pending,
)
sa.Index("ix_orientations_tenant_id", orientations.c.tenant, orientations.c.france_travail_id)
sa.Index("ix_orientations_participant", orientations.c.participant_id)

orientation_transitions = sa.Table(
    "orientation_transitions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    sa.Column("orientation_id", sa.Uuid, sa.ForeignKey("orientations.id"), nullable=False, index=True),
    sa.Column("from_status", sa.String(20), nullable=True),  # None for the creation
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

# What an erasure keeps of the person's France Travail id: its pseudonym (domain/erasure.py) and the
# latest registration date known for it, so a replay of that registration (or an older one) does not
# queue the erased person again, while a later registration is a new case.
france_travail_erasures = sa.Table(
    "france_travail_erasures",
    metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("pseudonym", sa.String(64), primary_key=True),
    sa.Column("registered_until", sa.Date, nullable=False),
    sa.Column("erased_at", UtcDateTime, nullable=False),
)

target_metadata = [metadata, messaging_metadata]
