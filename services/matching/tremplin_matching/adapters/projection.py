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

from .orm import candidates
from .spatial_index import candidate_from_row, stage_candidate, stage_candidate_removed


async def on_participant_registered(session: AsyncSession, event: CloudEvent, data: ParticipantRegisteredV1) -> None:
    values = {
        "tenant": event.tenant,
        "participant_id": data.participant_id,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "skills": list(data.skills),
        "registered_at": data.registered_at,
        "updated_at": datetime.now(UTC),
    }
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(candidates).values(values)
    changes = {c: stmt.excluded[c] for c in values if c not in ("tenant", "participant_id")}
    stmt = stmt.on_conflict_do_update(index_elements=["tenant", "participant_id"], set_=changes)
    row = (await session.execute(stmt.returning(*candidates.c))).one()
    stage_candidate(session, event.tenant, candidate_from_row(row._asdict()))


async def on_participant_profile_changed(
    session: AsyncSession, event: CloudEvent, data: ParticipantProfileChangedV1
) -> None:
    profile = {
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
        "updated_at": datetime.now(UTC),
    }
    # Normally registered came first (same key, same partition); if not, the profile creates the
    # candidate and its registration time is the profile's until registered arrives.
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(candidates).values(
        tenant=event.tenant, participant_id=data.participant_id, registered_at=data.changed_at, **profile
    )
    stmt = stmt.on_conflict_do_update(index_elements=["tenant", "participant_id"], set_=profile)
    row = (await session.execute(stmt.returning(*candidates.c))).one()
    stage_candidate(session, event.tenant, candidate_from_row(row._asdict()))


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
