"""The reads behind the reports: validated hours with what they are counted by, and the milestones
(hires, exits) of the participants concerned. Every query scoped by tenant."""

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .orm import hours_entries, known_participants, lots, markets, participant_exits, participant_hires, placements


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
            p.c.mode,
            p.c.contract_type,
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


async def milestones(session: AsyncSession, tenant: str, participant_ids: list[uuid.UUID]) -> tuple[list, list]:
    """(hires: (participant, start_date), exits: (participant, at, exit_kind)) of these participants."""
    if not participant_ids:
        return [], []
    hires = await session.execute(
        sa.select(participant_hires.c.participant_id, participant_hires.c.start_date).where(
            participant_hires.c.tenant == tenant, participant_hires.c.participant_id.in_(participant_ids)
        )
    )
    exits = await session.execute(
        sa.select(participant_exits.c.participant_id, participant_exits.c.at, participant_exits.c.exit_kind).where(
            participant_exits.c.tenant == tenant, participant_exits.c.participant_id.in_(participant_ids)
        )
    )
    return list(hires), list(exits)
