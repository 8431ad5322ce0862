"""Participants this service knows of; later issues hang their rules (eligibility, workers) on it.
Purged on participant.erased."""

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import upsert
from tremplin_shared.events import CloudEvent, ParticipantErasedV1, ParticipantRegisteredV1

from .orm import known_participants


async def on_participant_registered(session: AsyncSession, event: CloudEvent, data: ParticipantRegisteredV1) -> None:
    await upsert(
        session,
        known_participants,
        {"tenant": event.tenant, "participant_id": data.participant_id, "registered_at": data.registered_at},
        key=["tenant", "participant_id"],
    )


async def on_participant_erased(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    await session.execute(
        delete(known_participants).where(
            known_participants.c.tenant == event.tenant, known_participants.c.participant_id == data.participant_id
        )
    )


HANDLERS = {
    ParticipantRegisteredV1.ce_type: on_participant_registered,
    ParticipantErasedV1.ce_type: on_participant_erased,
}


async def count_known(session: AsyncSession, tenant: str) -> int:
    stmt = select(func.count()).select_from(known_participants).where(known_participants.c.tenant == tenant)
    return (await session.execute(stmt)).scalar_one()


async def is_known(session: AsyncSession, tenant: str, participant_id) -> bool:
    stmt = select(known_participants.c.participant_id).where(
        known_participants.c.tenant == tenant, known_participants.c.participant_id == participant_id
    )
    return (await session.execute(stmt)).first() is not None
