"""The applications table and its transition log, every query scoped by tenant."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.applications import ACTIVE
from .orm import application_transitions, applications


async def get(session: AsyncSession, tenant: str, application_id: uuid.UUID) -> dict | None:
    row = (
        await session.execute(
            sa.select(applications).where(applications.c.tenant == tenant, applications.c.id == application_id)
        )
    ).first()
    return row._asdict() if row else None


async def find_active(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, offer_id: uuid.UUID
) -> dict | None:
    row = (
        await session.execute(
            sa.select(applications).where(
                applications.c.tenant == tenant,
                applications.c.participant_id == participant_id,
                applications.c.offer_id == offer_id,
                applications.c.state.in_(ACTIVE),
            )
        )
    ).first()
    return row._asdict() if row else None


async def insert(session: AsyncSession, values: dict) -> None:
    await session.execute(sa.insert(applications).values(values))


async def move(session: AsyncSession, tenant: str, application_id: uuid.UUID, from_state: str, values: dict) -> bool:
    """Compare-and-set on the state: False when someone else moved the application meanwhile."""
    result = await session.execute(
        sa.update(applications)
        .where(applications.c.tenant == tenant, applications.c.id == application_id, applications.c.state == from_state)
        .values(values)
    )
    return result.rowcount == 1


async def log_transition(session: AsyncSession, values: dict) -> None:
    await session.execute(sa.insert(application_transitions).values(values))


async def transitions_of(session: AsyncSession, tenant: str, application_ids: list[uuid.UUID]) -> dict:
    if not application_ids:
        return {}
    rows = await session.execute(
        sa.select(application_transitions)
        .where(
            application_transitions.c.tenant == tenant,
            application_transitions.c.application_id.in_(application_ids),
        )
        .order_by(application_transitions.c.id)
    )
    result: dict[uuid.UUID, list[dict]] = {i: [] for i in application_ids}
    for row in rows:
        result[row.application_id].append(row._asdict())
    return result


async def last_transition_at(session: AsyncSession, tenant: str, application_id: uuid.UUID) -> datetime | None:
    return (
        await session.execute(
            sa.select(sa.func.max(application_transitions.c.at)).where(
                application_transitions.c.tenant == tenant, application_transitions.c.application_id == application_id
            )
        )
    ).scalar_one()


async def list_for(session: AsyncSession, tenant: str, *, offer_id=None, participant_id=None) -> list[dict]:
    stmt = sa.select(applications).where(applications.c.tenant == tenant)
    if offer_id is not None:
        stmt = stmt.where(applications.c.offer_id == offer_id)
    if participant_id is not None:
        stmt = stmt.where(applications.c.participant_id == participant_id)
    stmt = stmt.order_by(applications.c.created_at, applications.c.id)
    return [row._asdict() for row in await session.execute(stmt)]


async def count_participants_positioned(session: AsyncSession, tenant: str, start: datetime, end: datetime) -> int:
    """Participants with an application positioned (its `proposed` transition) in [start, end)."""
    t = application_transitions
    stmt = (
        sa.select(sa.func.count(sa.distinct(applications.c.participant_id)))
        .select_from(t.join(applications, applications.c.id == t.c.application_id))
        .where(t.c.tenant == tenant, t.c.from_state.is_(None), t.c.at >= start, t.c.at < end)
    )
    return (await session.execute(stmt)).scalar_one()


async def count_hires(session: AsyncSession, tenant: str, start: datetime, end: datetime) -> int:
    stmt = sa.select(sa.func.count()).where(
        application_transitions.c.tenant == tenant,
        application_transitions.c.to_state == "hired",
        application_transitions.c.at >= start,
        application_transitions.c.at < end,
    )
    return (await session.execute(stmt)).scalar_one()
