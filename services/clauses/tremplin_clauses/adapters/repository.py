"""Markets, lots, placements and hours entries: reads and writes, every one scoped by tenant.

Hours cross this boundary as Decimal; they are stored as whole hundredths (see orm.py).
"""

import uuid
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.hours import Entry
from .orm import hours_entries, lots, markets, placements

HUNDRED = Decimal(100)


def to_centi(hours: Decimal) -> int:
    return int((Decimal(hours) * HUNDRED).to_integral_value())


def from_centi(centi: int | None) -> Decimal:
    return (Decimal(centi or 0) / HUNDRED).quantize(Decimal("0.01"))


def _for_update(stmt: sa.Select, session: AsyncSession) -> sa.Select:
    # Row locks on PostgreSQL; SQLite serialises writers anyway.
    return stmt.with_for_update() if session.bind.dialect.name == "postgresql" else stmt


def _lot(row) -> dict:
    lot = row._asdict()
    lot["required_hours"] = from_centi(lot.pop("required_centi"))
    return lot


def _hours(row) -> dict:
    entry = row._asdict()
    entry["hours"] = from_centi(entry.pop("hours_centi"))
    return entry


# --------------------------------------------------------------------------------------------- markets
async def insert_market(session: AsyncSession, values: dict) -> None:
    await session.execute(sa.insert(markets).values(values))


async def market_reference_taken(
    session: AsyncSession, tenant: str, reference: str, except_id: uuid.UUID | None = None
) -> bool:
    stmt = sa.select(markets.c.id).where(markets.c.tenant == tenant, markets.c.reference == reference)
    if except_id is not None:
        stmt = stmt.where(markets.c.id != except_id)
    return (await session.execute(stmt)).first() is not None


async def get_market(session: AsyncSession, tenant: str, market_id: uuid.UUID, *, for_update=False) -> dict | None:
    stmt = sa.select(markets).where(markets.c.tenant == tenant, markets.c.id == market_id)
    row = (await session.execute(_for_update(stmt, session) if for_update else stmt)).first()
    return row._asdict() if row else None


async def list_markets(
    session: AsyncSession, tenant: str, buyer_siret: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict]:
    stmt = sa.select(markets).where(markets.c.tenant == tenant)
    if buyer_siret is not None:
        stmt = stmt.where(markets.c.buyer_siret == buyer_siret)
    stmt = stmt.order_by(markets.c.created_at, markets.c.id).limit(limit).offset(offset)
    return [row._asdict() for row in await session.execute(stmt)]


async def update_market(session: AsyncSession, tenant: str, market_id: uuid.UUID, values: dict) -> None:
    await session.execute(
        sa.update(markets).where(markets.c.tenant == tenant, markets.c.id == market_id).values(values)
    )


# ------------------------------------------------------------------------------------------------ lots
async def insert_lot(session: AsyncSession, values: dict) -> None:
    values = dict(values)
    values["required_centi"] = to_centi(values.pop("required_hours"))
    await session.execute(sa.insert(lots).values(values))


async def lots_of(session: AsyncSession, tenant: str, market_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict]]:
    result: dict[uuid.UUID, list[dict]] = {i: [] for i in market_ids}
    if not market_ids:
        return result
    stmt = (
        sa.select(lots)
        .where(lots.c.tenant == tenant, lots.c.market_id.in_(market_ids))
        .order_by(lots.c.market_id, lots.c.number)
    )
    for row in await session.execute(stmt):
        result[row.market_id].append(_lot(row))
    return result


async def get_lot(session: AsyncSession, tenant: str, lot_id: uuid.UUID, *, for_update=False) -> dict | None:
    stmt = sa.select(lots).where(lots.c.tenant == tenant, lots.c.id == lot_id)
    row = (await session.execute(_for_update(stmt, session) if for_update else stmt)).first()
    return _lot(row) if row else None


async def update_lot(session: AsyncSession, tenant: str, lot_id: uuid.UUID, values: dict) -> None:
    values = dict(values)
    if "required_hours" in values:
        values["required_centi"] = to_centi(values.pop("required_hours"))
    await session.execute(sa.update(lots).where(lots.c.tenant == tenant, lots.c.id == lot_id).values(values))


async def lot_totals(session: AsyncSession, tenant: str, lot_ids: list[uuid.UUID]) -> dict:
    """{lot id: (validated hours, declared-pending hours)}."""
    result = {i: (Decimal("0.00"), Decimal("0.00")) for i in lot_ids}
    if not lot_ids:
        return result
    h = hours_entries
    stmt = (
        sa.select(
            h.c.lot_id,
            sa.func.sum(sa.case((h.c.status == "validated", h.c.hours_centi), else_=0)),
            sa.func.sum(sa.case((h.c.status == "declared", h.c.hours_centi), else_=0)),
        )
        .where(h.c.tenant == tenant, h.c.lot_id.in_(lot_ids))
        .group_by(h.c.lot_id)
    )
    for lot_id, validated, pending in await session.execute(stmt):
        result[lot_id] = (from_centi(validated), from_centi(pending))
    return result


# ------------------------------------------------------------------------------------------ placements
async def insert_placement(session: AsyncSession, values: dict) -> None:
    await session.execute(sa.insert(placements).values(values))


async def get_placement(
    session: AsyncSession, tenant: str, placement_id: uuid.UUID, *, for_update=False
) -> dict | None:
    stmt = sa.select(placements).where(placements.c.tenant == tenant, placements.c.id == placement_id)
    row = (await session.execute(_for_update(stmt, session) if for_update else stmt)).first()
    return row._asdict() if row else None


async def update_placement(session: AsyncSession, tenant: str, placement_id: uuid.UUID, values: dict) -> None:
    await session.execute(
        sa.update(placements).where(placements.c.tenant == tenant, placements.c.id == placement_id).values(values)
    )


async def find_placement(session: AsyncSession, tenant: str, lot_id: uuid.UUID, participant_id) -> dict | None:
    stmt = sa.select(placements).where(
        placements.c.tenant == tenant, placements.c.lot_id == lot_id, placements.c.participant_id == participant_id
    )
    row = (await session.execute(stmt)).first()
    return row._asdict() if row else None


async def placement_of_application(session: AsyncSession, tenant: str, application_id: uuid.UUID) -> dict | None:
    stmt = sa.select(placements).where(placements.c.tenant == tenant, placements.c.application_id == application_id)
    row = (await session.execute(stmt)).first()
    return row._asdict() if row else None


async def placements_of_lot(session: AsyncSession, tenant: str, lot_id: uuid.UUID) -> list[dict]:
    stmt = (
        sa.select(placements)
        .where(placements.c.tenant == tenant, placements.c.lot_id == lot_id)
        .order_by(placements.c.created_at, placements.c.id)
    )
    return [row._asdict() for row in await session.execute(stmt)]


async def lock_participant(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> None:
    """Serialise the hours writes of one participant (the monthly cap spans lots): a transaction-scoped
    advisory lock on PostgreSQL; SQLite serialises writers anyway."""
    if session.bind.dialect.name == "postgresql":
        key = sa.func.hashtextextended(f"clauses:{tenant}:{participant_id}", 0)
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


# ----------------------------------------------------------------------------------------------- hours
async def insert_hours(session: AsyncSession, values: dict) -> None:
    values = dict(values)
    values["hours_centi"] = to_centi(values.pop("hours"))
    await session.execute(sa.insert(hours_entries).values(values))


async def get_hours(session: AsyncSession, tenant: str, hours_id: uuid.UUID, *, for_update=False) -> dict | None:
    stmt = sa.select(hours_entries).where(hours_entries.c.tenant == tenant, hours_entries.c.id == hours_id)
    row = (await session.execute(_for_update(stmt, session) if for_update else stmt)).first()
    return _hours(row) if row else None


async def entries_of_month(session: AsyncSession, tenant: str, participant_id, month: date) -> list[Entry]:
    stmt = (
        sa.select(hours_entries.c.id, hours_entries.c.lot_id, hours_entries.c.hours_centi, hours_entries.c.status)
        .where(
            hours_entries.c.tenant == tenant,
            hours_entries.c.participant_id == participant_id,
            hours_entries.c.month == month,
        )
        .order_by(hours_entries.c.declared_at, hours_entries.c.id)
    )
    return [Entry(r.id, r.lot_id, from_centi(r.hours_centi), r.status) for r in await session.execute(stmt)]


async def decide_hours(session: AsyncSession, tenant: str, hours_id: uuid.UUID, from_status: str, values: dict) -> bool:
    """Compare-and-set on the status: False when someone else decided the entry meanwhile."""
    result = await session.execute(
        sa.update(hours_entries)
        .where(hours_entries.c.tenant == tenant, hours_entries.c.id == hours_id, hours_entries.c.status == from_status)
        .values(values)
    )
    return result.rowcount == 1


async def hours_of_lot(
    session: AsyncSession,
    tenant: str,
    lot_id: uuid.UUID,
    status: str | None = None,
    month: date | None = None,
    participant_id: uuid.UUID | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[dict]:
    stmt = sa.select(hours_entries).where(hours_entries.c.tenant == tenant, hours_entries.c.lot_id == lot_id)
    if status is not None:
        stmt = stmt.where(hours_entries.c.status == status)
    if month is not None:
        stmt = stmt.where(hours_entries.c.month == month)
    if participant_id is not None:
        stmt = stmt.where(hours_entries.c.participant_id == participant_id)
    stmt = stmt.order_by(hours_entries.c.month, hours_entries.c.declared_at, hours_entries.c.id)
    return [_hours(row) for row in await session.execute(stmt.limit(limit).offset(offset))]
