"""Participants storage. Every read is scoped by tenant: a foreign id is simply not found."""

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.participant import Participant
from .orm import participants


async def add(session: AsyncSession, participant: Participant) -> None:
    await session.execute(
        insert(participants).values(
            id=participant.id,
            tenant=participant.tenant,
            first_name=participant.first_name,
            last_name=participant.last_name,
            birth_date=participant.birth_date,
            sex=participant.sex,
            latitude=participant.latitude,
            longitude=participant.longitude,
            skills=participant.skills,
            registered_at=participant.registered_at,
        )
    )


async def get(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> Participant | None:
    columns = [participants.c[name] for name in Participant.__dataclass_fields__]
    row = (
        await session.execute(
            select(*columns).where(participants.c.tenant == tenant, participants.c.id == participant_id)
        )
    ).first()
    if row is None:
        return None
    return Participant(**row._asdict())
