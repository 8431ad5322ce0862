"""Orientations storage. Every read is scoped by tenant: a foreign id is simply not found."""

import uuid
from dataclasses import fields
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.orientation import PENDING, Orientation, OrientationTransition
from .orm import france_travail_erasures, orientation_transitions, orientations, participants

FIELDS = tuple(f.name for f in fields(Orientation))
COLUMNS = [orientations.c[name] for name in FIELDS]


def _orientation(row: sa.Row) -> Orientation:
    return Orientation(**{name: getattr(row, name) for name in FIELDS})


def _values(item: Orientation) -> dict:
    return {name: getattr(item, name) for name in FIELDS}


async def add(session: AsyncSession, item: Orientation) -> None:
    await session.execute(insert(orientations), _values(item))


async def save(session: AsyncSession, item: Orientation) -> None:
    values = _values(item)
    del values["id"], values["tenant"]
    await session.execute(
        update(orientations).where(orientations.c.tenant == item.tenant, orientations.c.id == item.id).values(values)
    )


async def log_transition(session: AsyncSession, item: Orientation, step: OrientationTransition) -> None:
    await session.execute(
        insert(orientation_transitions),
        {
            "id": uuid.uuid4(),
            "tenant": item.tenant,
            "orientation_id": item.id,
            "from_status": step.from_status,
            "to_status": step.to_status,
            "reason": step.reason,
            "actor": step.actor[:200],
            "recorded_at": step.recorded_at,
        },
    )


async def get(
    session: AsyncSession, tenant: str, orientation_id: uuid.UUID, *, for_update: bool = False
) -> Orientation | None:
    stmt = select(*COLUMNS).where(orientations.c.tenant == tenant, orientations.c.id == orientation_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return None if row is None else _orientation(row)


async def pending_for(session: AsyncSession, tenant: str, france_travail_id: str) -> Orientation | None:
    """The pending orientation of this France Travail id (at most one: a partial unique index), locked."""
    o = orientations.c
    stmt = (
        select(*COLUMNS)
        .where(o.tenant == tenant, o.france_travail_id == france_travail_id, o.status == PENDING)
        .with_for_update()
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else _orientation(row)


async def latest_closed_registration(session: AsyncSession, tenant: str, france_travail_id: str) -> date | None:
    """The newest registration date among this id's accepted or dismissed orientations."""
    o = orientations.c
    stmt = select(sa.func.max(o.registered_on)).where(
        o.tenant == tenant, o.france_travail_id == france_travail_id, o.status != PENDING
    )
    return (await session.execute(stmt)).scalar()


async def participant_with_france_travail_id(
    session: AsyncSession, tenant: str, france_travail_id: str
) -> uuid.UUID | None:
    p = participants.c
    stmt = select(p.id).where(p.tenant == tenant, p.france_travail_id == france_travail_id, p.erased_at.is_(None))
    return (await session.execute(stmt)).scalar()


async def transitions(session: AsyncSession, tenant: str, orientation_id: uuid.UUID) -> list[dict]:
    t = orientation_transitions.c
    stmt = (
        select(t.from_status, t.to_status, t.reason, t.actor, t.recorded_at)
        .where(t.tenant == tenant, t.orientation_id == orientation_id)
        .order_by(t.recorded_at, t.id)
    )
    return [r._asdict() for r in await session.execute(stmt)]


async def list_page(
    session: AsyncSession,
    tenant: str,
    status: str | None,
    commune: str | None,
    rsa: bool | None,
    limit: int,
    after: tuple[date, uuid.UUID] | None = None,
) -> tuple[list[Orientation], bool]:
    """One page in (registration date, id) order — the oldest registration first, as a queue — after
    the given key; and whether more follow."""
    o = orientations.c
    stmt = select(*COLUMNS).where(o.tenant == tenant)
    if status is not None:
        stmt = stmt.where(o.status == status)
    if commune is not None:
        stmt = stmt.where(o.commune_insee == commune)
    if rsa is not None:
        stmt = stmt.where(o.rsa.is_(rsa))
    if after is not None:
        stmt = stmt.where(sa.tuple_(o.registered_on, o.id) > sa.tuple_(*after))
    rows = (await session.execute(stmt.order_by(o.registered_on, o.id).limit(limit + 1))).all()
    return [_orientation(r) for r in rows[:limit]], len(rows) > limit


def _of_person(tenant: str, participant_id: uuid.UUID, france_travail_id: str | None):
    """The orientations of a person: linked to the participant, or carrying their France Travail id."""
    o = orientations.c
    mine = o.participant_id == participant_id
    if france_travail_id is not None:
        mine = sa.or_(mine, o.france_travail_id == france_travail_id)
    return sa.and_(o.tenant == tenant, mine)


async def latest_registration_of_person(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, france_travail_id: str | None
) -> date | None:
    return (await session.execute(select(sa.func.max(orientations.c.registered_on)).where(
        _of_person(tenant, participant_id, france_travail_id)))).scalar()  # fmt: skip


async def forget_person(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, at: datetime, france_travail_id: str | None = None
) -> None:
    """Erasure: the person's orientations (that led to this participant, or of their France Travail
    id — a dismissed one, say) keep their status, dates, category and commune (the counts) but lose
    what links them to the person — the France Travail id, the participant, the exact place, the jobs
    sought — and their log's free-text reasons."""
    of_person = _of_person(tenant, participant_id, france_travail_id)
    t = orientation_transitions.c
    ids = select(orientations.c.id).where(of_person)
    await session.execute(
        update(orientation_transitions).where(t.tenant == tenant, t.orientation_id.in_(ids)).values(reason=None)
    )
    await session.execute(
        update(orientations)
        .where(of_person)
        .values(
            france_travail_id=None,
            participant_id=None,
            latitude=None,
            longitude=None,
            rome_codes=[],
            dismissal_reason=None,
            updated_at=at,
        )
    )


async def record_erasure(session: AsyncSession, tenant: str, pseudonym: str, registered_until: date, at: datetime):
    """The erased France Travail id's pseudonym; erased again (another participant of the same id), the
    later registration date of the two is kept."""
    e = france_travail_erasures.c
    known = await erased_until(session, tenant, pseudonym)
    if known is None:
        values = {"tenant": tenant, "pseudonym": pseudonym, "registered_until": registered_until, "erased_at": at}
        await session.execute(insert(france_travail_erasures).values(values))
    else:
        await session.execute(
            update(france_travail_erasures)
            .where(e.tenant == tenant, e.pseudonym == pseudonym)
            .values(registered_until=max(known, registered_until), erased_at=at)
        )


async def erased_until(session: AsyncSession, tenant: str, pseudonym: str) -> date | None:
    """The latest registration date an erasure of this pseudonym covers, if it was erased."""
    e = france_travail_erasures.c
    stmt = select(e.registered_until).where(e.tenant == tenant, e.pseudonym == pseudonym)
    return (await session.execute(stmt)).scalar()
