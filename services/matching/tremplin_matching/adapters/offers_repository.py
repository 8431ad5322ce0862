"""The offers table: reads and writes, every one scoped by tenant.

Every write stages the offer's new state for the ranking index, applied once the transaction commits.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from .orm import offers
from .spatial_index import offer_from_row, stage_offer, stage_offer_row


@dataclass(frozen=True)
class OfferFilters:
    q: str | None = None
    employer_siret: str | None = None
    rome_code: str | None = None
    contract_type: str | None = None
    status: str | None = None
    commune_insee: str | None = None


def _for_update(stmt: sa.Select, session: AsyncSession) -> sa.Select:
    # Row locks on PostgreSQL; SQLite serialises writers anyway.
    return stmt.with_for_update() if session.bind.dialect.name == "postgresql" else stmt


async def get(session: AsyncSession, tenant: str, offer_id: uuid.UUID, *, for_update: bool = False) -> dict | None:
    stmt = sa.select(offers).where(offers.c.tenant == tenant, offers.c.id == offer_id)
    if for_update:
        stmt = _for_update(stmt, session)
    row = (await session.execute(stmt)).first()
    return row._asdict() if row else None


async def find_external(
    session: AsyncSession, tenant: str, source: str, external_id: str, *, for_update: bool = False
) -> dict | None:
    stmt = sa.select(offers).where(
        offers.c.tenant == tenant, offers.c.external_source == source, offers.c.external_id == external_id
    )
    if for_update:
        stmt = _for_update(stmt, session)
    row = (await session.execute(stmt)).first()
    return row._asdict() if row else None


async def insert(session: AsyncSession, values: dict) -> None:
    await session.execute(sa.insert(offers).values(values))
    await stage_offer_row(session, values["tenant"], values["id"])


async def insert_external_if_absent(session: AsyncSession, values: dict) -> bool:
    """INSERT … ON CONFLICT (tenant, source, external id) DO NOTHING: True when the row was created."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(offers)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant", "external_source", "external_id"])
        .returning(offers.c.id)
    )
    created = (await session.execute(stmt)).first() is not None
    if created:
        await stage_offer_row(session, values["tenant"], values["id"])
    return created


async def update(session: AsyncSession, tenant: str, offer_id: uuid.UUID, values: dict) -> None:
    await session.execute(sa.update(offers).where(offers.c.tenant == tenant, offers.c.id == offer_id).values(values))
    await stage_offer_row(session, tenant, offer_id)


async def take_position(session: AsyncSession, tenant: str, offer_id: uuid.UUID, now: datetime) -> dict | None:
    """One open position less, atomically (never below zero, only on an open offer); the row after, or
    None when there was nothing to take. At zero the offer becomes `filled`."""
    stmt = (
        sa.update(offers)
        .where(
            offers.c.tenant == tenant, offers.c.id == offer_id, offers.c.status == "open", offers.c.open_positions > 0
        )
        .values(
            open_positions=offers.c.open_positions - 1,
            status=sa.case((offers.c.open_positions - 1 == 0, "filled"), else_="open"),
            updated_at=now,
        )
        .returning(*offers.c)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    stage_offer(session, tenant, offer_from_row(row._asdict()))
    return row._asdict()


async def list_page(
    session: AsyncSession, tenant: str, filters: OfferFilters, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[dict]:
    """Newest first: (created_at, id) descending; `after` is the keyset position of the previous page."""
    stmt = sa.select(offers).where(offers.c.tenant == tenant)
    if filters.q:
        stmt = stmt.where(sa.func.lower(offers.c.title).contains(filters.q.lower(), autoescape=True))
    for column in ("employer_siret", "rome_code", "contract_type", "status", "commune_insee"):
        value = getattr(filters, column)
        if value is not None:
            stmt = stmt.where(offers.c[column] == value)
    if after is not None:
        created_at, last_id = after
        stmt = stmt.where(
            sa.or_(
                offers.c.created_at < created_at,
                sa.and_(offers.c.created_at == created_at, offers.c.id < last_id),
            )
        )
    stmt = stmt.order_by(offers.c.created_at.desc(), offers.c.id.desc()).limit(limit)
    return [row._asdict() for row in await session.execute(stmt)]


async def count_created(session: AsyncSession, tenant: str, start: datetime, end: datetime) -> int:
    stmt = sa.select(sa.func.count()).where(
        offers.c.tenant == tenant, offers.c.created_at >= start, offers.c.created_at < end
    )
    return (await session.execute(stmt)).scalar_one()
