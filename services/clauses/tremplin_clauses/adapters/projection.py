"""Participants this service knows of, with their publics (clause eligibility); purged on erasure."""

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import upsert
from tremplin_shared.events import (
    CloudEvent,
    ParticipantErasedV1,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
)

from .orm import known_participants


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
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(known_participants).values(
        tenant=event.tenant, participant_id=data.participant_id, registered_at=data.changed_at, **flags
    )
    await session.execute(stmt.on_conflict_do_update(index_elements=["tenant", "participant_id"], set_=flags))


async def on_participant_erased(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    await session.execute(
        delete(known_participants).where(
            known_participants.c.tenant == event.tenant, known_participants.c.participant_id == data.participant_id
        )
    )


HANDLERS = {
    ParticipantRegisteredV1.ce_type: on_participant_registered,
    ParticipantProfileChangedV1.ce_type: on_participant_profile_changed,
    ParticipantErasedV1.ce_type: on_participant_erased,
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
