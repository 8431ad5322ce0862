"""Storage of parcours, their transition log, référents, CER, diagnostics and reported hires.

Every function takes the tenant and filters on it (a foreign id is simply not found), except the
ones the scheduled job and the consumer use, which say so.
"""

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.indicators import Cer, ParcoursFacts, ReferentPeriod
from ..domain.parcours import EMPLOYED, WELCOMED, Parcours, Transition
from .orm import cers, diagnostics, hires, parcours, parcours_transitions, participants, referent_assignments

_PARCOURS_FIELDS = ("id", "tenant", "participant_id", "programme", "state", "oriented_at", "state_since",
                    "exit_kind", "exited_at", "opened_at")  # fmt: skip


def _to_parcours(row) -> Parcours:
    return Parcours(**{name: getattr(row, name) for name in _PARCOURS_FIELDS})


# Participants (read-only here: the people side owns the table).


async def participant_row(session: AsyncSession, tenant: str, participant_id: uuid.UUID):
    """(id, registered_at, erased_at) of a participant of the tenant, or None."""
    return (
        await session.execute(
            select(participants.c.id, participants.c.registered_at, participants.c.erased_at).where(
                participants.c.tenant == tenant, participants.c.id == participant_id
            )
        )
    ).first()


# Parcours and their log.


async def add_parcours(session: AsyncSession, item: Parcours) -> None:
    await session.execute(insert(parcours).values(**{name: getattr(item, name) for name in _PARCOURS_FIELDS}))
    await _write_new_transitions(session, item)


async def _write_new_transitions(session: AsyncSession, item: Parcours) -> None:
    if item.new_transitions:
        await session.execute(
            insert(parcours_transitions),
            [
                {
                    "id": t.id,
                    "tenant": item.tenant,
                    "parcours_id": item.id,
                    "from_state": t.from_state,
                    "to_state": t.to_state,
                    "at": t.at,
                    "reason": t.reason,
                    "exit_kind": t.exit_kind,
                    "actor": t.actor,
                    "recorded_at": t.recorded_at,
                }
                for t in item.new_transitions
            ],
        )
    item.new_transitions.clear()


async def save_moves(session: AsyncSession, item: Parcours, was_state: str, was_since: date) -> bool:
    """Store the parcours' new state and log rows, only if nobody moved it meanwhile (compare and set).

    False when the stored row is no longer (was_state, was_since): a concurrent move won; nothing written.
    """
    result = await session.execute(
        update(parcours)
        .where(
            parcours.c.id == item.id,
            parcours.c.tenant == item.tenant,
            parcours.c.state == was_state,
            parcours.c.state_since == was_since,
        )
        .values(state=item.state, state_since=item.state_since, exit_kind=item.exit_kind, exited_at=item.exited_at)
    )
    if result.rowcount != 1:
        return False
    await _write_new_transitions(session, item)
    return True


async def get_parcours(
    session: AsyncSession, tenant: str, parcours_id: uuid.UUID, for_update: bool = False
) -> Parcours | None:
    stmt = select(parcours).where(parcours.c.tenant == tenant, parcours.c.id == parcours_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return _to_parcours(row) if row else None


async def open_parcours_of(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, for_update: bool = False
) -> list[Parcours]:
    """The participant's open parcours, oldest first (then by id: a deterministic order)."""
    stmt = (
        select(parcours)
        .where(parcours.c.tenant == tenant, parcours.c.participant_id == participant_id, parcours.c.exited_at.is_(None))
        .order_by(parcours.c.opened_at, parcours.c.id)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return [_to_parcours(row) for row in (await session.execute(stmt)).all()]


async def parcours_of(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> list[Parcours]:
    rows = (
        await session.execute(
            select(parcours)
            .where(parcours.c.tenant == tenant, parcours.c.participant_id == participant_id)
            .order_by(parcours.c.oriented_at, parcours.c.opened_at, parcours.c.id)
        )
    ).all()
    return [_to_parcours(row) for row in rows]


async def transitions_of(session: AsyncSession, tenant: str, parcours_ids: list[uuid.UUID]) -> dict:
    """parcours id → its log in the order it was written."""
    if not parcours_ids:
        return {}
    rows = (
        await session.execute(
            select(parcours_transitions)
            .where(parcours_transitions.c.tenant == tenant, parcours_transitions.c.parcours_id.in_(parcours_ids))
            .order_by(parcours_transitions.c.recorded_at, parcours_transitions.c.at)
        )
    ).all()
    out: dict = defaultdict(list)
    for row in rows:
        out[row.parcours_id].append(
            Transition(
                id=row.id,
                from_state=row.from_state,
                to_state=row.to_state,
                at=row.at,
                actor=row.actor,
                reason=row.reason,
                exit_kind=row.exit_kind,
                recorded_at=row.recorded_at,
            )
        )
    return out


async def list_parcours(
    session: AsyncSession,
    tenant: str,
    *,
    programme: str | None = None,
    state: str | None = None,
    participant_id: uuid.UUID | None = None,
    cer_review_overdue_at: date | None = None,
    after: uuid.UUID | None = None,
    limit: int = 50,
) -> list[Parcours]:
    """Keyset pagination on the id. With `cer_review_overdue_at`: open parcours whose latest CER
    (by signature date) has a review date before that day."""
    stmt = select(parcours).where(parcours.c.tenant == tenant)
    if programme is not None:
        stmt = stmt.where(parcours.c.programme == programme)
    if state is not None:
        stmt = stmt.where(parcours.c.state == state)
    if participant_id is not None:
        stmt = stmt.where(parcours.c.participant_id == participant_id)
    if cer_review_overdue_at is not None:
        latest_review = (
            select(cers.c.review_at)
            .where(cers.c.tenant == tenant, cers.c.parcours_id == parcours.c.id)
            .order_by(cers.c.signed_at.desc(), cers.c.recorded_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = stmt.where(parcours.c.exited_at.is_(None), latest_review < cer_review_overdue_at)
    if after is not None:
        stmt = stmt.where(parcours.c.id > after)
    rows = (await session.execute(stmt.order_by(parcours.c.id).limit(limit))).all()
    return [_to_parcours(row) for row in rows]


async def due_durable_exits(session: AsyncSession, employed_on_or_before: date) -> list[tuple[str, uuid.UUID]]:
    """(tenant, id) of every parcours employed since that day or earlier — all tenants (the job's query)."""
    rows = (
        await session.execute(
            select(parcours.c.tenant, parcours.c.id)
            .where(parcours.c.state == EMPLOYED, parcours.c.state_since <= employed_on_or_before)
            .order_by(parcours.c.tenant, parcours.c.id)
        )
    ).all()
    return [(row.tenant, row.id) for row in rows]


# Référents.


async def active_referents(session: AsyncSession, tenant: str, parcours_ids: list[uuid.UUID]) -> dict:
    """parcours id → its active assignment row (ended_at is None)."""
    if not parcours_ids:
        return {}
    rows = (
        await session.execute(
            select(referent_assignments).where(
                referent_assignments.c.tenant == tenant,
                referent_assignments.c.parcours_id.in_(parcours_ids),
                referent_assignments.c.ended_at.is_(None),
            )
        )
    ).all()
    return {row.parcours_id: row for row in rows}


async def referent_history(session: AsyncSession, tenant: str, parcours_ids: list[uuid.UUID]) -> list:
    if not parcours_ids:
        return []
    return list(
        (
            await session.execute(
                select(referent_assignments)
                .where(referent_assignments.c.tenant == tenant, referent_assignments.c.parcours_id.in_(parcours_ids))
                .order_by(referent_assignments.c.started_at, referent_assignments.c.recorded_at)
            )
        ).all()
    )


async def end_referent(session: AsyncSession, assignment_id: uuid.UUID, at: date) -> None:
    await session.execute(
        update(referent_assignments).where(referent_assignments.c.id == assignment_id).values(ended_at=at)
    )


async def add_referent(session: AsyncSession, tenant: str, parcours_id: uuid.UUID, referent: str, at: date) -> dict:
    row = {
        "id": uuid.uuid4(),
        "tenant": tenant,
        "parcours_id": parcours_id,
        "referent": referent,
        "started_at": at,
        "ended_at": None,
        "recorded_at": datetime.now(UTC),
    }
    await session.execute(insert(referent_assignments).values(row))
    return row


# CER.


async def add_cer(
    session: AsyncSession, tenant: str, parcours_id: uuid.UUID, objectives: list[str], signed_at: date, review_at: date
) -> dict:
    row = {
        "id": uuid.uuid4(),
        "tenant": tenant,
        "parcours_id": parcours_id,
        "objectives": objectives,
        "signed_at": signed_at,
        "review_at": review_at,
        "recorded_at": datetime.now(UTC),
    }
    await session.execute(insert(cers).values(row))
    return row


async def cers_of(session: AsyncSession, tenant: str, parcours_ids: list[uuid.UUID]) -> list:
    """Oldest first (by signature date)."""
    if not parcours_ids:
        return []
    return list(
        (
            await session.execute(
                select(cers)
                .where(cers.c.tenant == tenant, cers.c.parcours_id.in_(parcours_ids))
                .order_by(cers.c.signed_at, cers.c.recorded_at)
            )
        ).all()
    )


# Diagnostics.


async def add_diagnostic(session: AsyncSession, row: dict) -> None:
    await session.execute(insert(diagnostics).values(row))


async def diagnostics_of(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> list:
    """Latest first: by the day it was made, then by when it was recorded."""
    return list(
        (
            await session.execute(
                select(diagnostics)
                .where(diagnostics.c.tenant == tenant, diagnostics.c.participant_id == participant_id)
                .order_by(diagnostics.c.made_at.desc(), diagnostics.c.recorded_at.desc())
            )
        ).all()
    )


# Hires reported by matching.


async def hire_exists(session: AsyncSession, application_id: uuid.UUID) -> bool:
    """Across tenants: an application id is globally unique (the consumer's idempotency key)."""
    return (await session.execute(select(hires.c.id).where(hires.c.id == application_id))).first() is not None


async def add_hire(session: AsyncSession, row: dict) -> None:
    await session.execute(insert(hires).values(row))


async def get_hire(session: AsyncSession, tenant: str, application_id: uuid.UUID, for_update: bool = False):
    stmt = select(hires).where(hires.c.tenant == tenant, hires.c.id == application_id)
    return (await session.execute(stmt.with_for_update() if for_update else stmt)).first()


async def hires_awaiting_start(session: AsyncSession, day: date) -> list[tuple[str, uuid.UUID]]:
    """(tenant, application id) of every hire awaiting a start on `day` or earlier — all tenants."""
    rows = await session.execute(
        select(hires.c.tenant, hires.c.id)
        .where(hires.c.awaiting_start.is_(True), hires.c.start_date <= day)
        .order_by(hires.c.start_date, hires.c.id)
    )
    return [(row.tenant, row.id) for row in rows]


async def hire_started(session: AsyncSession, tenant: str, application_id: uuid.UUID, moved: bool) -> None:
    await session.execute(
        update(hires)
        .where(hires.c.tenant == tenant, hires.c.id == application_id)
        .values(awaiting_start=False, parcours_moved=moved)
    )


async def hires_of(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> list:
    return list(
        (
            await session.execute(
                select(hires)
                .where(hires.c.tenant == tenant, hires.c.participant_id == participant_id)
                .order_by(hires.c.start_date, hires.c.recorded_at)
            )
        ).all()
    )


# Indicators.


async def indicator_facts(session: AsyncSession, tenant: str, programme: str) -> list[ParcoursFacts]:
    """Every parcours of the programme in the tenant, as plain facts (four queries, no N+1)."""
    rows = (
        await session.execute(
            select(parcours.c.id, parcours.c.oriented_at, parcours.c.exited_at, parcours.c.exit_kind).where(
                parcours.c.tenant == tenant, parcours.c.programme == programme
            )
        )
    ).all()
    welcomed = dict(
        (
            await session.execute(
                select(parcours_transitions.c.parcours_id, func.min(parcours_transitions.c.at))
                .join(parcours, parcours.c.id == parcours_transitions.c.parcours_id)
                .where(
                    parcours.c.tenant == tenant,
                    parcours.c.programme == programme,
                    parcours_transitions.c.to_state == WELCOMED,
                )
                .group_by(parcours_transitions.c.parcours_id)
            )
        ).all()
    )
    referents: dict = defaultdict(list)
    for row in (
        await session.execute(
            select(referent_assignments).join(
                parcours,
                and_(parcours.c.id == referent_assignments.c.parcours_id, parcours.c.programme == programme),
            )
            .where(referent_assignments.c.tenant == tenant)
        )
    ).all():  # fmt: skip
        referents[row.parcours_id].append(ReferentPeriod(row.referent, row.started_at, row.ended_at))
    signed: dict = defaultdict(list)
    for row in (
        await session.execute(
            select(cers.c.parcours_id, cers.c.signed_at, cers.c.review_at)
            .join(parcours, and_(parcours.c.id == cers.c.parcours_id, parcours.c.programme == programme))
            .where(cers.c.tenant == tenant)
        )
    ).all():
        signed[row.parcours_id].append(Cer(row.signed_at, row.review_at))
    return [
        ParcoursFacts(
            programme=programme,
            oriented_at=row.oriented_at,
            exited_at=row.exited_at,
            exit_kind=row.exit_kind,
            welcomed_at=welcomed.get(row.id),
            referents=tuple(referents.get(row.id, ())),
            cers=tuple(signed.get(row.id, ())),
        )
        for row in rows
    ]
