"""The candidate projection, kept current from participants events.

registered → the candidate appears; profile_changed → its profile (mobility, hours, flags, consent…)
is replaced; erased → the candidate is deleted. Every write is scoped by the event's tenant.
Each handler also stages the candidate's new state for the ranking index, which applies it once the
consumer's transaction commits (adapters/spatial_index.py), never before.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import (
    CloudEvent,
    ParticipantErasedV1,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
)
from tremplin_shared.messaging.consumer import BatchHandler

from .orm import candidates
from .spatial_index import candidate_from_row, stage_candidate, stage_candidate_removed

REGISTERED_FIELDS = ("latitude", "longitude", "skills", "registered_at", "updated_at")
PROFILE_FIELDS = (
    "latitude", "longitude", "commune_insee", "skills", "wishes", "max_travel_km", "travel_modes",
    "weekly_hours_wanted", "schedule_exclusions", "driving_licence", "vehicle", "flags", "consent_matching",
    "active", "updated_at",
)  # fmt: skip
_UPSERTS: dict[tuple[str, tuple[str, ...]], object] = {}


def _upsert(session: AsyncSession, fields: tuple[str, ...]):
    """INSERT … ON CONFLICT (tenant, participant_id) DO UPDATE of `fields` RETURNING the row, built once
    per dialect: the values travel as parameters, so nothing is compiled again per event."""
    dialect_name = session.bind.dialect.name
    key = (dialect_name, fields)
    if key not in _UPSERTS:
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        stmt = dialect.insert(candidates)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant", "participant_id"], set_={f: stmt.excluded[f] for f in fields}
        )
        _UPSERTS[key] = stmt.returning(*candidates.c)
    return _UPSERTS[key]


async def _upsert_many(session: AsyncSession, event_tenant_values: list[tuple[str, dict]], fields) -> None:
    """One statement for the lot (executemany, RETURNING the rows), then the index is staged."""
    tenants = {values["participant_id"]: tenant for tenant, values in event_tenant_values}
    rows = (await session.execute(_upsert(session, fields), [values for _, values in event_tenant_values])).all()
    for row in rows:
        stage_candidate(session, tenants[row.participant_id], candidate_from_row(row._asdict()))


async def on_participants_registered(
    session: AsyncSession, items: list[tuple[CloudEvent, ParticipantRegisteredV1]]
) -> None:
    now = datetime.now(UTC)
    values = [
        (
            event.tenant,
            {
                "tenant": event.tenant,
                "participant_id": data.participant_id,
                "latitude": data.latitude,
                "longitude": data.longitude,
                "skills": list(data.skills),
                "registered_at": data.registered_at,
                "updated_at": now,
            },
        )
        for event, data in items
    ]
    await _upsert_many(session, values, REGISTERED_FIELDS)


async def on_profiles_changed(
    session: AsyncSession, items: list[tuple[CloudEvent, ParticipantProfileChangedV1]]
) -> None:
    # Normally registered came first (same key, same partition); if not, the profile creates the
    # candidate and its registration time is the profile's until registered arrives.
    now = datetime.now(UTC)
    values = [
        (
            event.tenant,
            {
                "tenant": event.tenant,
                "participant_id": data.participant_id,
                "registered_at": data.changed_at,
                "latitude": data.latitude,
                "longitude": data.longitude,
                "commune_insee": data.commune_insee,
                "skills": list(data.skills),
                "wishes": list(data.wishes),
                "max_travel_km": data.max_travel_km,
                "travel_modes": list(data.travel_modes),
                "weekly_hours_wanted": data.weekly_hours_wanted,
                "schedule_exclusions": list(data.schedule_exclusions),
                "driving_licence": data.driving_licence,
                "vehicle": data.vehicle,
                "flags": data.flags.model_dump(mode="json"),
                "consent_matching": data.consent_matching,
                "active": data.active,
                "updated_at": now,
            },
        )
        for event, data in items
    ]
    await _upsert_many(session, values, PROFILE_FIELDS)


on_participant_registered = BatchHandler(on_participants_registered)
on_participant_profile_changed = BatchHandler(on_profiles_changed)


async def on_participant_erased(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    await session.execute(
        delete(candidates).where(
            candidates.c.tenant == event.tenant, candidates.c.participant_id == data.participant_id
        )
    )
    stage_candidate_removed(session, event.tenant, data.participant_id)


HANDLERS = {
    ParticipantRegisteredV1.ce_type: on_participant_registered,
    ParticipantProfileChangedV1.ce_type: on_participant_profile_changed,
    ParticipantErasedV1.ce_type: on_participant_erased,
}


async def get_candidate(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> dict | None:
    row = (
        await session.execute(
            select(candidates).where(candidates.c.tenant == tenant, candidates.c.participant_id == participant_id)
        )
    ).first()
    return row._asdict() if row else None
