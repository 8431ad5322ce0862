"""The candidate projection, kept current from participants events.

registered → the candidate appears; profile_changed → its profile (mobility, hours, flags, consent…)
is replaced; erased → the candidate is deleted, the person's applications aliased. Every write is scoped
by the event's tenant.
Each handler also stages the candidate's new state for the ranking index, which applies it once the
consumer's transaction commits (adapters/spatial_index.py), never before.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
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
from tremplin_shared.messaging.erasure import forget_in_outbox

from .orm import application_transitions, applications, candidates
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


def _registered_values(event: CloudEvent, data: ParticipantRegisteredV1, now: datetime) -> dict:
    return {
        "tenant": event.tenant,
        "participant_id": data.participant_id,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "skills": list(data.skills),
        "registered_at": data.registered_at,
        "updated_at": now,
    }


def _profile_values(event: CloudEvent, data: ParticipantProfileChangedV1, now: datetime) -> dict:
    # Normally registered came first (same key, same partition); if not, the profile creates the
    # candidate and its registration time is the profile's until registered arrives.
    return {
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
    }


# Per event type: the row values it writes (all inserted for a new candidate) and the fields it updates.
_WRITES = {
    ParticipantRegisteredV1.ce_type: (_registered_values, REGISTERED_FIELDS),
    ParticipantProfileChangedV1.ce_type: (_profile_values, PROFILE_FIELDS),
}


def fold(items: list[tuple[CloudEvent, ParticipantRegisteredV1 | ParticipantProfileChangedV1]]):
    """A participant's events of the batch, in order, as ONE upsert row: what the first inserts, each
    later one's updated fields laid over it, and the union of the updated fields — the same row as
    writing them one after the other, whether or not the candidate existed. (tenant, row, fields) each."""
    now = datetime.now(UTC)
    folded: dict[tuple[str, uuid.UUID], tuple[str, dict, tuple[str, ...]]] = {}
    for event, data in items:
        to_values, fields = _WRITES[event.type]
        values = to_values(event, data, now)
        key = (event.tenant, data.participant_id)
        if (seen := folded.get(key)) is None:
            folded[key] = (event.tenant, values, fields)
        else:
            _, row, updated = seen
            row.update({f: values[f] for f in fields})
            folded[key] = (event.tenant, row, updated if updated == fields else tuple(dict.fromkeys(updated + fields)))
    return list(folded.values())


async def on_participant_events(session: AsyncSession, items) -> None:
    """registered and profile_changed, a participant's run of them folded: one statement per row shape."""
    shapes: dict[tuple, list[tuple[str, dict]]] = {}
    for tenant, row, fields in fold(items):
        shapes.setdefault((tuple(row), fields), []).append((tenant, row))
    for (_, fields), rows in shapes.items():
        await _upsert_many(session, rows, fields)


on_participant_upserts = BatchHandler(on_participant_events, folds=True)


async def on_participant_erased(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    """Forget the person, in the consumer's one transaction: the candidate goes; their applications stay
    (states and dates: the funnel counts stay right) under a fresh random id, one per erasure, that
    nothing links to the person, with the free-text reasons of their transitions blanked (a reason
    there was stays, as ""; its text goes); their events leave this service's outbox (placement.hired).
    A redelivery finds nothing of the person left: it changes nothing."""
    tenant, pid = event.tenant, data.participant_id
    await session.execute(delete(candidates).where(candidates.c.tenant == tenant, candidates.c.participant_id == pid))
    stage_candidate_removed(session, tenant, pid)
    theirs = select(applications.c.id).where(applications.c.tenant == tenant, applications.c.participant_id == pid)
    t = application_transitions.c
    await session.execute(
        update(application_transitions)
        .where(t.tenant == tenant, t.application_id.in_(theirs), t.reason.is_not(None))
        .values(reason="")
    )
    await session.execute(
        update(applications)
        .where(applications.c.tenant == tenant, applications.c.participant_id == pid)
        .values(participant_id=uuid.uuid4())
    )
    await forget_in_outbox(session, tenant, pid)


HANDLERS = {
    ParticipantRegisteredV1.ce_type: on_participant_upserts,
    ParticipantProfileChangedV1.ce_type: on_participant_upserts,
    ParticipantErasedV1.ce_type: on_participant_erased,
}


async def get_candidate(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> dict | None:
    row = (
        await session.execute(
            select(candidates).where(candidates.c.tenant == tenant, candidates.c.participant_id == participant_id)
        )
    ).first()
    return row._asdict() if row else None
