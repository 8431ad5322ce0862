"""The candidate projection, kept current from participants events.

registered → the candidate appears; profile_changed → its profile (mobility, hours, flags, consent…)
is replaced; erased → the candidate is deleted. Every write is scoped by the event's tenant.
Each handler also stages the candidate's new state for the ranking index, which applies it once the
consumer's transaction commits (adapters/spatial_index.py), never before.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import BulkInsert, bulk_insert, is_postgresql
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
# What the ranking index keeps of a candidate (the row fields `candidate_from_row` reads).
INDEXED_FIELDS = (
    "participant_id", "latitude", "longitude", "skills", "wishes", "max_travel_km", "weekly_hours_wanted",
    "schedule_exclusions", "driving_licence", "consent_matching", "active",
)  # fmt: skip
_UPSERTS: dict[tuple, object] = {}


def _upsert(session: AsyncSession, columns: tuple[str, ...], fields: tuple[str, ...], returning: tuple[str, ...]):
    """INSERT (columns) … ON CONFLICT (tenant, participant_id) DO UPDATE of `fields` RETURNING `returning`,
    built once per dialect: the values travel as parameters, so nothing is compiled again per event.
    PostgreSQL gets the rows as arrays (`bulk_insert`), SQLite an executemany."""
    key = (session.bind.dialect.name, columns, fields, returning)
    if key not in _UPSERTS:
        if is_postgresql(session):
            sets = ", ".join(f"{f} = EXCLUDED.{f}" for f in fields)
            suffix = f"ON CONFLICT (tenant, participant_id) DO UPDATE SET {sets}"
            if returning:
                suffix += f" RETURNING {', '.join(returning)}"
            _UPSERTS[key] = bulk_insert(candidates, columns, suffix)
        else:
            stmt = sqlite.insert(candidates)
            stmt = stmt.on_conflict_do_update(
                index_elements=["tenant", "participant_id"], set_={f: stmt.excluded[f] for f in fields}
            )
            _UPSERTS[key] = stmt.returning(*(candidates.c[c] for c in returning)) if returning else stmt
    return _UPSERTS[key]


async def _upsert_many(session: AsyncSession, event_tenant_values: list[tuple[str, dict]], fields) -> None:
    """One statement for the lot, then the index is staged: from the values written, and for the indexed
    fields the event does not carry (a registration after its profile), from the row (RETURNING)."""
    if not event_tenant_values:
        return
    rows = [values for _, values in event_tenant_values]
    columns = tuple(rows[0])
    returning = tuple(f for f in INDEXED_FIELDS if f not in columns)
    returning = ("participant_id", *returning) if returning else ()
    stmt = _upsert(session, columns, fields, returning)
    if isinstance(stmt, BulkInsert):
        result = await stmt.execute(session, rows)
    else:
        result = await session.execute(stmt, rows)
    if returning:
        stored = {row.participant_id: row._asdict() for row in result}
        rows = [{**stored[values["participant_id"]], **values} for values in rows]
    for (tenant, _), row in zip(event_tenant_values, rows, strict=True):
        stage_candidate(session, tenant, candidate_from_row(row))


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
