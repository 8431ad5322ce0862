"""Storage of the flags other services hold for each participant (participants.flags_sent) and of the
next day time alone changes them (participants.flags_due_on). Why: see jobs.py."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events.contracts import ParticipantFlags

from ..domain.participant import Participant
from .orm import participants
from .repository import COLUMNS, FIELDS

c = participants.c
_TRACKING = (c.flags_sent, c.flags_due_on)


@dataclass(frozen=True)
class Tracking:
    """`sent`: the flags of the last profile event (None: not tracked yet); `due_on`: the next day they
    change; `last_change`: when the row last changed, or was registered (the day an untracked
    participant's last profile event was computed on, at the latest)."""

    sent: ParticipantFlags | None
    due_on: date | None
    last_change: datetime


def _tracking(row: sa.Row) -> Tracking:
    sent = None if row.flags_sent is None else ParticipantFlags.model_validate(row.flags_sent)
    return Tracking(sent, row.flags_due_on, row.updated_at or row.registered_at)


async def locked(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> tuple[Participant, Tracking] | None:
    """The participant (erased or not) and its tracking, the row locked (PostgreSQL) until the end of
    the caller's transaction."""
    stmt = select(*COLUMNS, *_TRACKING).where(c.tenant == tenant, c.id == participant_id).with_for_update()
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return Participant(**{name: getattr(row, name) for name in FIELDS}), _tracking(row)


async def tracking_of(session: AsyncSession, participant: Participant) -> Tracking:
    """The tracking of a participant the caller already read (and locked)."""
    stmt = select(*_TRACKING, c.updated_at, c.registered_at).where(
        c.tenant == participant.tenant, c.id == participant.id
    )
    return _tracking((await session.execute(stmt)).one())


async def record(
    session: AsyncSession,
    participant: Participant,
    sent: ParticipantFlags,
    due_on: date | None,
    *,
    expected: Tracking | None = None,
) -> bool:
    """Store what other services now hold and the next day it changes. With `expected`: only if the
    row still has that tracking and is not erased (compare and set); False when it had not."""
    stmt = update(participants).where(c.tenant == participant.tenant, c.id == participant.id)
    if expected is not None:
        stmt = stmt.where(c.erased_at.is_(None))
        stmt = stmt.where(c.flags_sent.is_(None) if expected.sent is None else c.flags_sent.is_not(None))
        stmt = stmt.where(c.flags_due_on.is_(None) if expected.due_on is None else c.flags_due_on == expected.due_on)
    result = await session.execute(stmt.values(flags_sent=sent.model_dump(mode="json"), flags_due_on=due_on))
    return result.rowcount == 1


async def due(session: AsyncSession, today: date) -> list[tuple[str, uuid.UUID]]:
    """(tenant, id) of every live participant, all tenants, whose flags change on `today` or earlier
    (the job's query, on the partial index ix_participants_flags_due_on)."""
    rows = await session.execute(
        select(c.tenant, c.id).where(c.erased_at.is_(None), c.flags_due_on <= today).order_by(c.flags_due_on, c.id)
    )
    return [(tenant, pid) for tenant, pid in rows]


async def untracked(session: AsyncSession, limit: int, after: uuid.UUID | None = None) -> list[tuple[str, uuid.UUID]]:
    """(tenant, id) of live participants not tracked yet, by id (ix_participants_flags_untracked)."""
    stmt = select(c.tenant, c.id).where(c.erased_at.is_(None), c.flags_sent.is_(None))
    if after is not None:
        stmt = stmt.where(c.id > after)
    rows = await session.execute(stmt.order_by(c.id).limit(limit))
    return [(tenant, pid) for tenant, pid in rows]
