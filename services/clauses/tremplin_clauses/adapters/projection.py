"""What this service knows of participants, from participants and matching events: publics (clause
eligibility) and sex, parcours exits and hires (for the 6/12-month outcomes). Purged on erasure."""

import uuid

import sqlalchemy as sa
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import upsert
from tremplin_shared.events import (
    CloudEvent,
    ParcoursExitedV1,
    ParticipantErasedV1,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    PlacementHiredV1,
)

from .orm import hours_entries, known_participants, participant_exits, participant_hires, placements


async def on_participant_registered(session: AsyncSession, event: CloudEvent, data: ParticipantRegisteredV1) -> None:
    await upsert(
        session,
        known_participants,
        {"tenant": event.tenant, "participant_id": data.participant_id, "registered_at": data.registered_at},
        key=["tenant", "participant_id"],
    )


async def on_participant_profile_changed(
    session: AsyncSession, event: CloudEvent, data: ParticipantProfileChangedV1
) -> None:
    flags = {
        "clause_eligible": data.flags.clause_eligible,
        "flags_computed_on": data.flags.computed_on,
        "flags": data.flags.model_dump(mode="json"),
    }
    if data.sex is not None:
        flags["sex"] = data.sex
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(known_participants).values(
        tenant=event.tenant, participant_id=data.participant_id, registered_at=data.changed_at, **flags
    )
    await session.execute(stmt.on_conflict_do_update(index_elements=["tenant", "participant_id"], set_=flags))
    # A hire may have placed the person before their flags arrived (another topic): fill them in.
    await session.execute(
        sa.update(placements)
        .where(
            placements.c.tenant == event.tenant,
            placements.c.participant_id == data.participant_id,
            placements.c.source == "hire",
            placements.c.eligible.is_(None),
        )
        .values(eligible=data.flags.clause_eligible)
    )


async def on_parcours_exited(session: AsyncSession, event: CloudEvent, data: ParcoursExitedV1) -> None:
    await upsert(
        session,
        participant_exits,
        {
            "tenant": event.tenant,
            "parcours_id": data.parcours_id,
            "participant_id": data.participant_id,
            "exit_kind": data.exit_kind,
            "at": data.at,
        },
        key=["tenant", "parcours_id"],
    )


async def record_hire(session: AsyncSession, event: CloudEvent, data: PlacementHiredV1) -> None:
    await upsert(
        session,
        participant_hires,
        {
            "tenant": event.tenant,
            "application_id": data.application_id,
            "participant_id": data.participant_id,
            "contract_type": data.contract_type,
            "start_date": data.start_date,
        },
        key=["tenant", "application_id"],
    )


async def on_participant_erased(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    """Forget the person: the projections go; the ledger (hours a buyer has the proof of) stays, under
    a new random id that nothing links to the person any more."""
    tenant, pid = event.tenant, data.participant_id
    for table in (known_participants, participant_exits, participant_hires):
        await session.execute(delete(table).where(table.c.tenant == tenant, table.c.participant_id == pid))
    alias = uuid.uuid4()
    for table in (placements, hours_entries):
        await session.execute(
            sa.update(table).where(table.c.tenant == tenant, table.c.participant_id == pid).values(participant_id=alias)
        )


HANDLERS = {
    ParticipantRegisteredV1.ce_type: on_participant_registered,
    ParticipantProfileChangedV1.ce_type: on_participant_profile_changed,
    ParticipantErasedV1.ce_type: on_participant_erased,
    ParcoursExitedV1.ce_type: on_parcours_exited,
}


async def count_known(session: AsyncSession, tenant: str) -> int:
    stmt = select(func.count()).select_from(known_participants).where(known_participants.c.tenant == tenant)
    return (await session.execute(stmt)).scalar_one()


async def get_known(session: AsyncSession, tenant: str, participant_id) -> dict | None:
    row = (
        await session.execute(
            select(known_participants).where(
                known_participants.c.tenant == tenant, known_participants.c.participant_id == participant_id
            )
        )
    ).first()
    return row._asdict() if row else None
