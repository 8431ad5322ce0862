"""Participants this service knows of; later issues hang their rules (eligibility, workers) on it.
Purged on participant.erased; what the fund must keep of the person is aliased."""

import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import upsert
from tremplin_shared.events import CloudEvent, ParticipantErasedV1, ParticipantRegisteredV1
from tremplin_shared.messaging.erasure import forget_in_outbox

from .orm import aid_beneficiaries, aid_payments, disbursement_lines, known_participants, workers


async def on_participant_registered(session: AsyncSession, event: CloudEvent, data: ParticipantRegisteredV1) -> None:
    await upsert(
        session,
        known_participants,
        {"tenant": event.tenant, "participant_id": data.participant_id, "registered_at": data.registered_at},
        key=["tenant", "participant_id"],
    )


async def on_participant_erased(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    """Forget the person, in the consumer's one transaction. What the fund must keep (its CDE workers and
    their lines, its aid beneficiaries and payments: amounts, months, hours) stays, under one fresh random
    id per erasure in every table, that nothing links to the person: the workers lose the hire they came
    from (`application_id`, matching's application), the person's aid payments their free-text decision
    reasons (a reason there was stays, as ""). Disbursements' reasons are about a convention: kept. The
    ledger holds no participant id. Their events leave the outbox. A redelivery finds nothing left."""
    tenant, pid = event.tenant, data.participant_id
    await session.execute(
        delete(known_participants).where(
            known_participants.c.tenant == tenant, known_participants.c.participant_id == pid
        )
    )
    b, p = aid_beneficiaries.c, aid_payments.c
    theirs = select(b.id).where(b.tenant == tenant, b.participant_id == pid)
    await session.execute(
        update(aid_payments)
        .where(p.tenant == tenant, p.beneficiary_id.in_(theirs), p.decision_reason.is_not(None))
        .values(decision_reason="")
    )
    alias = uuid.uuid4()
    await session.execute(
        update(workers)
        .where(workers.c.tenant == tenant, workers.c.participant_id == pid)
        .values(participant_id=alias, application_id=None)
    )
    for table in (disbursement_lines, aid_beneficiaries):
        await session.execute(
            update(table).where(table.c.tenant == tenant, table.c.participant_id == pid).values(participant_id=alias)
        )
    await forget_in_outbox(session, tenant, pid)


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
