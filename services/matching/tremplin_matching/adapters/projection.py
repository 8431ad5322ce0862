"""The candidate projection, kept current from participants events."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import upsert
from tremplin_shared.events import CloudEvent, ParticipantRegisteredV1

from .orm import candidates


async def on_participant_registered(session: AsyncSession, event: CloudEvent, data: ParticipantRegisteredV1) -> None:
    await upsert(
        session,
        candidates,
        {
            "tenant": event.tenant,
            "participant_id": data.participant_id,
            "latitude": data.latitude,
            "longitude": data.longitude,
            "skills": list(data.skills),
            "registered_at": data.registered_at,
            "updated_at": datetime.now(UTC),
        },
        key=["tenant", "participant_id"],
    )


HANDLERS = {ParticipantRegisteredV1.ce_type: on_participant_registered}


async def get_candidate(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> dict | None:
    row = (
        await session.execute(
            select(candidates).where(candidates.c.tenant == tenant, candidates.c.participant_id == participant_id)
        )
    ).first()
    return row._asdict() if row else None
