"""Use cases. Each runs in one transaction: the state change and its events commit together."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.identity import Identity
from tremplin_shared.messaging import outbox
from tremplin_shared.problems import NotFound

from .adapters import repository
from .domain.participant import Participant

SOURCE = "/tremplin/participants"


async def register_participant(session: AsyncSession, identity: Identity, **fields: object) -> Participant:
    participant = Participant(tenant=identity.tenant, **fields)
    async with session.begin():
        await repository.add(session, participant)
        await outbox.add_event(session, participant.registered_event(), tenant=identity.tenant, source=SOURCE)
    return participant


async def get_participant(session: AsyncSession, identity: Identity, participant_id: uuid.UUID) -> Participant:
    participant = await repository.get(session, identity.tenant, participant_id)
    if participant is None:
        raise NotFound(f"participant {participant_id} not found")
    return participant
