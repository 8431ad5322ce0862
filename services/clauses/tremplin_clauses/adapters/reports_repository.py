"""The reads behind the reports: validated hours with what they are counted by, and the situations
over time (hires, parcours exits and transitions) of the participants concerned. Every query scoped
by tenant."""

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.outcomes import Exit, Hire, History, Transition
from .orm import (
    hours_entries,
    known_participants,
    lots,
    markets,
    participant_exits,
    participant_hires,
    participant_transitions,
    placements,
)


async def validated_rows(
    session: AsyncSession, tenant: str, first_month: date, last_month: date, market_id: uuid.UUID | None = None
) -> list:
    """One row per validated entry whose month is in [first_month, last_month]."""
    h, p, lot, m, k = hours_entries, placements, lots, markets, known_participants
    stmt = (
        sa.select(
            h.c.id,
            h.c.hours_centi,
            h.c.month,
            h.c.participant_id,
            h.c.placement_id,
            h.c.decided_at,
            h.c.decided_by,
            lot.c.id.label("lot_id"),
            lot.c.number.label("lot_number"),
            m.c.id.label("market_id"),
            m.c.buyer_siret,
            h.c.mode,
            h.c.contract_type,
            k.c.sex,
        )
        .select_from(
            h.join(p, p.c.id == h.c.placement_id)
            .join(lot, lot.c.id == h.c.lot_id)
            .join(m, m.c.id == lot.c.market_id)
            .outerjoin(k, sa.and_(k.c.tenant == h.c.tenant, k.c.participant_id == h.c.participant_id))
        )
        .where(h.c.tenant == tenant, h.c.status == "validated", h.c.month >= first_month, h.c.month <= last_month)
        .order_by(h.c.month, lot.c.number, h.c.id)
    )
    if market_id is not None:
        stmt = stmt.where(m.c.id == market_id)
    return list(await session.execute(stmt))


async def last_validated_months(
    session: AsyncSession, tenant: str, participant_ids: list[uuid.UUID], last_month: date
) -> dict[uuid.UUID, date]:
    """Each participant's last month with validated hours (all lots), up to last_month."""
    if not participant_ids:
        return {}
    h = hours_entries
    stmt = (
        sa.select(h.c.participant_id, sa.func.max(h.c.month))
        .where(
            h.c.tenant == tenant,
            h.c.status == "validated",
            h.c.month <= last_month,
            h.c.participant_id.in_(participant_ids),
        )
        .group_by(h.c.participant_id)
    )
    return {pid: month for pid, month in await session.execute(stmt)}


async def histories(session: AsyncSession, tenant: str, participant_ids: list[uuid.UUID]) -> dict[uuid.UUID, History]:
    """{participant: History} of these participants (those with nothing known are left out)."""
    if not participant_ids:
        return {}
    hires, exits, moves = participant_hires, participant_exits, participant_transitions
    found: dict[uuid.UUID, tuple[list, list, list]] = {}

    def of(pid: uuid.UUID) -> tuple[list, list, list]:
        return found.setdefault(pid, ([], [], []))

    for r in await session.execute(
        sa.select(hires.c.participant_id, hires.c.start_date, hires.c.contract_type).where(
            hires.c.tenant == tenant, hires.c.participant_id.in_(participant_ids)
        )
    ):
        of(r.participant_id)[0].append(Hire(r.start_date, r.contract_type))
    for r in await session.execute(
        sa.select(exits.c.participant_id, exits.c.parcours_id, exits.c.at, exits.c.exit_kind).where(
            exits.c.tenant == tenant, exits.c.participant_id.in_(participant_ids)
        )
    ):
        of(r.participant_id)[1].append(Exit(r.at, r.exit_kind, r.parcours_id))
    for r in await session.execute(
        sa.select(
            moves.c.participant_id,
            moves.c.parcours_id,
            moves.c.at,
            moves.c.from_state,
            moves.c.to_state,
            moves.c.exit_kind,
            moves.c.event_time,
        ).where(moves.c.tenant == tenant, moves.c.participant_id.in_(participant_ids))
    ):
        of(r.participant_id)[2].append(
            Transition(r.at, r.parcours_id, r.from_state, r.to_state, r.exit_kind, r.event_time)
        )
    return {pid: History(tuple(h), tuple(e), tuple(t)) for pid, (h, e, t) in found.items()}
