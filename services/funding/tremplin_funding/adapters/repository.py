"""Reads and writes of the funding tables, every query scoped by tenant."""

import json
import uuid
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.cde import HoursFrom, SmicRate
from ..domain.disbursements import COUNTED_BY_RUNS
from .orm import (
    DEFAULT_TENANT,
    aid_beneficiaries,
    aid_payments,
    aid_schemes,
    conventions,
    disbursement_lines,
    disbursement_parts,
    disbursement_transitions,
    disbursements,
    envelopes,
    funders,
    funds,
    ledger,
    offsets,
    payment_batches,
    smic_rates,
    worker_hours,
    workers,
)


def for_update(stmt: sa.Select, session: AsyncSession) -> sa.Select:
    # Row locks on PostgreSQL; SQLite serialises writers anyway.
    return stmt.with_for_update() if session.bind.dialect.name == "postgresql" else stmt


async def one(session: AsyncSession, stmt) -> dict | None:
    row = (await session.execute(stmt)).first()
    return row._asdict() if row else None


async def many(session: AsyncSession, stmt) -> list[dict]:
    return [row._asdict() for row in await session.execute(stmt)]


BULK_THRESHOLD = 100  # rows from which PostgreSQL gets one INSERT … SELECT FROM unnest(arrays)


async def insert(session: AsyncSession, table: sa.Table, rows: dict | list[dict]) -> None:
    """One row; or many, in the caller's transaction: on PostgreSQL, past BULK_THRESHOLD rows, ONE
    statement whose values travel as one typed array per column (the driver encodes them, no
    per-row work in Python); elsewhere an executemany."""
    if isinstance(rows, dict):
        await session.execute(sa.insert(table).values(rows))
    elif len(rows) >= BULK_THRESHOLD and session.bind.dialect.name == "postgresql":
        await _insert_unnest(session, table, rows)
    elif rows:
        await session.execute(sa.insert(table), rows)


async def _insert_unnest(session: AsyncSession, table: sa.Table, rows: list[dict]) -> None:
    dialect = postgresql.dialect()
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    arrays = []
    for column in columns:
        values = [row[column.name] for row in rows]
        if isinstance(column.type, sa.JSON):
            values = [None if v is None else json.dumps(v) for v in values]
        arrays.append(values)
    casts = ", ".join(f"${i}::{c.type.compile(dialect=dialect)}[]" for i, c in enumerate(columns, start=1))
    statement = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({casts})"
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection  # asyncpg, inside the transaction
    await driver.execute(statement, *arrays)


# ------------------------------------------------------------------------------------------------ funds
async def get_fund(session: AsyncSession, tenant: str, fund_id: uuid.UUID) -> dict | None:
    return await one(session, sa.select(funds).where(funds.c.tenant == tenant, funds.c.id == fund_id))


async def list_funds(session: AsyncSession, tenant: str) -> list[dict]:
    return await many(session, sa.select(funds).where(funds.c.tenant == tenant).order_by(funds.c.created_at))


async def funders_of(session: AsyncSession, tenant: str, fund_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict]]:
    result: dict[uuid.UUID, list[dict]] = defaultdict(list)
    rows = await many(
        session,
        sa.select(funders)
        .where(funders.c.tenant == tenant, funders.c.fund_id.in_(fund_ids))
        .order_by(funders.c.fund_id, funders.c.position),
    )
    for row in rows:
        result[row["fund_id"]].append(row)
    return result


async def envelopes_of(session: AsyncSession, tenant: str, fund_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    result: dict[uuid.UUID, dict] = defaultdict(dict)
    rows = await many(
        session, sa.select(envelopes).where(envelopes.c.tenant == tenant, envelopes.c.fund_id.in_(fund_ids))
    )
    for row in rows:
        result[row["fund_id"]][row["year"]] = row["amount"]
    return result


async def set_envelope(session: AsyncSession, tenant: str, fund_id: uuid.UUID, year: int, amount: Decimal) -> None:
    updated = await session.execute(
        sa.update(envelopes)
        .where(envelopes.c.tenant == tenant, envelopes.c.fund_id == fund_id, envelopes.c.year == year)
        .values(amount=amount)
    )
    if updated.rowcount == 0:
        await insert(session, envelopes, {"tenant": tenant, "fund_id": fund_id, "year": year, "amount": amount})


async def lock_fund(session: AsyncSession, tenant: str, fund_id: uuid.UUID) -> dict | None:
    """The fund row, locked on PostgreSQL: budget checks on one fund happen one at a time."""
    return await one(
        session, for_update(sa.select(funds).where(funds.c.tenant == tenant, funds.c.id == fund_id), session)
    )


async def committed_by_fund_year(session: AsyncSession, tenant: str, fund_ids: list[uuid.UUID]) -> dict:
    """{(fund_id, year): committed} from the ledger (committed + released + aid_paid)."""
    rows = await session.execute(
        sa.select(ledger.c.fund_id, ledger.c.year, sa.func.sum(ledger.c.amount))
        .where(
            ledger.c.tenant == tenant,
            ledger.c.fund_id.in_(fund_ids),
            ledger.c.kind.in_(("committed", "released", "aid_paid")),
        )
        .group_by(ledger.c.fund_id, ledger.c.year)
    )
    return {(fund_id, year): Decimal(total or 0) for fund_id, year, total in rows}


async def ledger_sums(session: AsyncSession, tenant: str, fund_id: uuid.UUID) -> list[tuple]:
    """[(year, funder_id, kind, sum)] of one fund."""
    rows = await session.execute(
        sa.select(ledger.c.year, ledger.c.funder_id, ledger.c.kind, sa.func.sum(ledger.c.amount))
        .where(ledger.c.tenant == tenant, ledger.c.fund_id == fund_id)
        .group_by(ledger.c.year, ledger.c.funder_id, ledger.c.kind)
    )
    return [tuple(r) for r in rows]


# ------------------------------------------------------------------------------------------ conventions
async def get_convention(session: AsyncSession, tenant: str, convention_id: uuid.UUID) -> dict | None:
    return await one(
        session, sa.select(conventions).where(conventions.c.tenant == tenant, conventions.c.id == convention_id)
    )


async def list_conventions(session: AsyncSession, tenant: str, **filters) -> list[dict]:
    stmt = sa.select(conventions).where(conventions.c.tenant == tenant)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(conventions.c[name] == value)
    return await many(session, stmt.order_by(conventions.c.created_at, conventions.c.id))


async def cde_conventions_of_employer(session: AsyncSession, tenant: str, siret: str, on) -> list[dict]:
    stmt = sa.select(conventions).where(
        conventions.c.tenant == tenant,
        conventions.c.kind == "cde",
        conventions.c.beneficiary_siret == siret,
        conventions.c.start_date <= on,
        sa.or_(conventions.c.end_date.is_(None), conventions.c.end_date >= on),
    )
    return await many(session, stmt.order_by(conventions.c.created_at))


# ---------------------------------------------------------------------------------------------- workers
async def get_worker(session: AsyncSession, tenant: str, convention_id: uuid.UUID, worker_id: uuid.UUID):
    return await one(
        session,
        sa.select(workers).where(
            workers.c.tenant == tenant, workers.c.convention_id == convention_id, workers.c.id == worker_id
        ),
    )


async def lock_convention(session: AsyncSession, tenant: str, convention_id: uuid.UUID) -> dict | None:
    """The convention, locked on PostgreSQL: its workers change one request at a time."""
    stmt = sa.select(conventions).where(conventions.c.tenant == tenant, conventions.c.id == convention_id)
    return await one(session, for_update(stmt, session))


async def overlapping_worker(session, tenant, convention_id, participant_id, start, end, exclude=None) -> dict | None:
    """A worker of the same participant on the convention whose days meet [start, end] (None: open)."""
    stmt = sa.select(workers).where(
        workers.c.tenant == tenant,
        workers.c.convention_id == convention_id,
        workers.c.participant_id == participant_id,
        sa.or_(workers.c.end_date.is_(None), workers.c.end_date >= start),
    )
    if end is not None:
        stmt = stmt.where(workers.c.start_date <= end)
    if exclude is not None:
        stmt = stmt.where(workers.c.id != exclude)
    return await one(session, stmt.limit(1))


async def list_workers(session: AsyncSession, tenant: str, convention_ids: list[uuid.UUID]) -> list[dict]:
    return await many(
        session,
        sa.select(workers)
        .where(workers.c.tenant == tenant, workers.c.convention_id.in_(convention_ids))
        .order_by(workers.c.created_at, workers.c.id),
    )


async def hours_of(session: AsyncSession, tenant: str, worker_ids=None, convention_ids=None) -> dict:
    """{worker id: [HoursFrom…] in date order}, for these workers or the workers of these conventions."""
    stmt = sa.select(worker_hours).where(worker_hours.c.tenant == tenant)
    if worker_ids is not None:
        stmt = stmt.where(worker_hours.c.worker_id.in_(worker_ids))
    if convention_ids is not None:
        ids = sa.select(workers.c.id).where(workers.c.tenant == tenant, workers.c.convention_id.in_(convention_ids))
        stmt = stmt.where(worker_hours.c.worker_id.in_(ids))
    result: dict[uuid.UUID, list[HoursFrom]] = defaultdict(list)
    for row in await session.execute(stmt.order_by(worker_hours.c.worker_id, worker_hours.c.valid_from)):
        result[row.worker_id].append(HoursFrom(row.valid_from, Decimal(row.weekly_hours)))
    return result


# ------------------------------------------------------------------------------------------------- SMIC
async def smic_rows(session: AsyncSession, tenant: str) -> list[dict]:
    """The table in force for the tenant: the shipped values, overridden by the territory's own."""
    rows = await many(session, sa.select(smic_rates).where(smic_rates.c.tenant.in_((DEFAULT_TENANT, tenant))))
    table: dict = {}
    for row in sorted(rows, key=lambda r: r["tenant"] != DEFAULT_TENANT):
        table[row["valid_from"]] = {**row, "source": "shipped" if row["tenant"] == DEFAULT_TENANT else "territory"}
    return [table[day] for day in sorted(table)]


async def smic_table(session: AsyncSession, tenant: str) -> list[SmicRate]:
    return [SmicRate(row["valid_from"], Decimal(row["hourly"])) for row in await smic_rows(session, tenant)]


# ---------------------------------------------------------------------------------------- disbursements
async def computed_by_worker(session: AsyncSession, tenant: str, period: str) -> dict[uuid.UUID, Decimal]:
    """What earlier runs of `period` already put on each worker (rejected disbursements do not count).
    In two steps — the month's counted disbursements, then their lines — so that the plan stays an index
    scan even when the statistics lag behind a big run."""
    counted = [
        row[0]
        for row in await session.execute(
            sa.select(disbursements.c.id).where(
                disbursements.c.tenant == tenant,
                disbursements.c.period == period,
                disbursements.c.status.in_(COUNTED_BY_RUNS),
            )
        )
    ]
    if not counted:
        return {}
    lines = disbursement_lines
    rows = await session.execute(
        sa.select(lines.c.worker_id, sa.func.sum(lines.c.amount))
        .where(lines.c.tenant == tenant, lines.c.period == period, lines.c.disbursement_id.in_(counted))
        .group_by(lines.c.worker_id)
    )
    return {worker_id: Decimal(total) for worker_id, total in rows}


async def refused_by_worker(session: AsyncSession, tenant: str, period: str) -> dict[uuid.UUID, Decimal]:
    """For each worker whose latest line of `period` was refused by a funder (a *prepared* disbursement
    rejected, not a budget block released), the worker's CDE as computed for that line (`expected`)."""
    lines, d, t = disbursement_lines, disbursements, disbursement_transitions
    refused_from_prepared = (
        sa.select(t.c.id)
        .where(t.c.tenant == tenant, t.c.disbursement_id == d.c.id, t.c.to_status == "rejected",
               t.c.from_status == "prepared")
        .exists()
    )  # fmt: skip
    rows = await session.execute(
        sa.select(lines.c.worker_id, lines.c.expected, sa.and_(d.c.status == "rejected", refused_from_prepared))
        .join(d, d.c.id == lines.c.disbursement_id)
        .where(lines.c.tenant == tenant, lines.c.period == period, d.c.tenant == tenant)
        .order_by(lines.c.id)
    )
    latest = {worker_id: (Decimal(expected), bool(refused)) for worker_id, expected, refused in rows}
    return {worker_id: expected for worker_id, (expected, refused) in latest.items() if refused}


async def conventions_with_disbursements(session: AsyncSession, tenant: str, period: str) -> set[uuid.UUID]:
    rows = await session.execute(
        sa.select(disbursements.c.convention_id)
        .distinct()
        .where(
            disbursements.c.tenant == tenant,
            disbursements.c.period == period,
            disbursements.c.status.in_(COUNTED_BY_RUNS),
        )
    )
    return {r[0] for r in rows}


async def lock_period(session: AsyncSession, tenant: str, period: str) -> None:
    """Runs of one tenant and month, one at a time (until the transaction ends): the next one reads what
    the previous one committed. PostgreSQL: a transaction-level advisory lock; SQLite has one writer."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"funding-run:{tenant}:{period}"},
        )


async def next_run_sequence(session: AsyncSession, tenant: str, period: str) -> int:
    from .orm import runs

    current = (
        await session.execute(
            sa.select(sa.func.max(runs.c.sequence)).where(runs.c.tenant == tenant, runs.c.period == period)
        )
    ).scalar_one()
    return (current or 0) + 1


async def get_disbursement(session: AsyncSession, tenant: str, disbursement_id: uuid.UUID, *, lock=False):
    stmt = sa.select(disbursements).where(disbursements.c.tenant == tenant, disbursements.c.id == disbursement_id)
    return await one(session, for_update(stmt, session) if lock else stmt)


async def list_disbursements(session: AsyncSession, tenant: str, ids=None, **filters) -> list[dict]:
    stmt = sa.select(disbursements).where(disbursements.c.tenant == tenant)
    if ids is not None:
        stmt = stmt.where(disbursements.c.id.in_(ids))
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(disbursements.c[name] == value)
    return await many(session, stmt.order_by(disbursements.c.prepared_at, disbursements.c.id))


async def lock_disbursements(session: AsyncSession, tenant: str, ids: list[uuid.UUID]) -> list[dict]:
    stmt = sa.select(disbursements).where(disbursements.c.tenant == tenant, disbursements.c.id.in_(ids))
    return await many(session, for_update(stmt.order_by(disbursements.c.id), session))


async def move_disbursement(session: AsyncSession, tenant: str, disbursement_id, from_status: str, values: dict):
    result = await session.execute(
        sa.update(disbursements)
        .where(
            disbursements.c.tenant == tenant,
            disbursements.c.id == disbursement_id,
            disbursements.c.status == from_status,
        )
        .values(values)
    )
    return result.rowcount == 1


async def details_of(session: AsyncSession, tenant: str, ids: list[uuid.UUID], with_lines: bool = True) -> dict:
    """{disbursement id: {"parts": […], "lines": […], "transitions": […]}} (lines empty without with_lines)."""
    result = {i: {"parts": [], "lines": [], "transitions": []} for i in ids}
    if not ids:
        return result
    parts = await many(
        session,
        sa.select(disbursement_parts, funders.c.name.label("funder"), funders.c.position)
        .join(funders, funders.c.id == disbursement_parts.c.funder_id)
        .where(disbursement_parts.c.tenant == tenant, disbursement_parts.c.disbursement_id.in_(ids))
        .order_by(funders.c.position),
    )
    for part in parts:
        result[part["disbursement_id"]]["parts"].append(part)
    lines = (
        []
        if not with_lines
        else await many(
            session,
            sa.select(disbursement_lines)
            .where(disbursement_lines.c.tenant == tenant, disbursement_lines.c.disbursement_id.in_(ids))
            .order_by(disbursement_lines.c.id),
        )
    )
    for line in lines:
        result[line["disbursement_id"]]["lines"].append(line)
    transitions = await many(
        session,
        sa.select(disbursement_transitions)
        .where(disbursement_transitions.c.tenant == tenant, disbursement_transitions.c.disbursement_id.in_(ids))
        .order_by(disbursement_transitions.c.id),
    )
    for transition in transitions:
        result[transition["disbursement_id"]]["transitions"].append(transition)
    return result


async def parts_of(session: AsyncSession, tenant: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[dict]]:
    result: dict[uuid.UUID, list[dict]] = defaultdict(list)
    rows = await many(
        session,
        sa.select(disbursement_parts).where(
            disbursement_parts.c.tenant == tenant, disbursement_parts.c.disbursement_id.in_(ids)
        ),
    )
    for row in rows:
        result[row["disbursement_id"]].append(row)
    return result


# --------------------------------------------------------------------------------------------- batches
async def get_batch(session: AsyncSession, tenant: str, batch_id: uuid.UUID, *, lock=False) -> dict | None:
    stmt = sa.select(payment_batches).where(payment_batches.c.tenant == tenant, payment_batches.c.id == batch_id)
    return await one(session, for_update(stmt, session) if lock else stmt)


async def list_batches(session: AsyncSession, tenant: str) -> list[dict]:
    return await many(
        session,
        sa.select(payment_batches)
        .where(payment_batches.c.tenant == tenant)
        .order_by(payment_batches.c.created_at, payment_batches.c.id),
    )


async def disbursement_ids_of_batches(session: AsyncSession, tenant: str, batch_ids) -> dict:
    result: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    rows = await session.execute(
        sa.select(disbursements.c.batch_id, disbursements.c.id)
        .where(disbursements.c.tenant == tenant, disbursements.c.batch_id.in_(batch_ids))
        .order_by(disbursements.c.id)
    )
    for batch_id, disbursement_id in rows:
        result[batch_id].append(disbursement_id)
    return result


# --------------------------------------------------------------------------------------------- offsets
async def negative_adjustments(session, tenant: str, convention_ids, *, lock=False) -> list[dict]:
    """The approved disbursements of a total below zero of these conventions (oldest first), each with
    `absorbed` (what batches already deducted of it, >= 0) and `outstanding` (total + absorbed, <= 0).
    Locked on PostgreSQL with `lock`: batches netting the same adjustments happen one at a time."""
    stmt = (
        sa.select(disbursements)
        .where(
            disbursements.c.tenant == tenant,
            disbursements.c.convention_id.in_(convention_ids),
            disbursements.c.status == "approved",
            disbursements.c.total < 0,
        )
        .order_by(disbursements.c.prepared_at, disbursements.c.id)
    )
    rows = await many(session, for_update(stmt, session) if lock else stmt)
    absorbed = await absorbed_of(session, tenant, [r["id"] for r in rows])
    return [
        {**r, "absorbed": absorbed.get(r["id"], Decimal(0)), "outstanding": r["total"] + absorbed.get(r["id"], 0)}
        for r in rows
    ]


async def absorbed_of(session: AsyncSession, tenant: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(offsets.c.disbursement_id, sa.func.sum(offsets.c.amount))
        .where(offsets.c.tenant == tenant, offsets.c.disbursement_id.in_(ids))
        .group_by(offsets.c.disbursement_id)
    )
    return {i: Decimal(total) for i, total in rows}


async def offsets_where(session: AsyncSession, tenant: str, **filters) -> list[dict]:
    """Offsets (in the order they were made) of a batch (`batch_id`), of adjustments (`disbursement_id`
    a list), of conventions (`convention_id` a list)."""
    stmt = sa.select(offsets).where(offsets.c.tenant == tenant)
    for name, value in filters.items():
        column = offsets.c[name]
        stmt = stmt.where(column.in_(value) if isinstance(value, list | tuple | set) else column == value)
    return await many(session, stmt.order_by(offsets.c.id))


async def outstanding_by_convention(session: AsyncSession, tenant: str, convention_ids) -> dict[uuid.UUID, Decimal]:
    """{convention: Σ outstanding (<= 0) of its approved negative adjustments} (0 for none)."""
    result = {i: Decimal(0) for i in convention_ids}
    for row in await negative_adjustments(session, tenant, list(convention_ids)):
        result[row["convention_id"]] += row["outstanding"]
    return result


# ------------------------------------------------------------------------------------------------ aids
async def get_scheme(session: AsyncSession, tenant: str, scheme_id: uuid.UUID) -> dict | None:
    return await one(
        session, sa.select(aid_schemes).where(aid_schemes.c.tenant == tenant, aid_schemes.c.id == scheme_id)
    )


async def list_schemes(session: AsyncSession, tenant: str) -> list[dict]:
    return await many(
        session, sa.select(aid_schemes).where(aid_schemes.c.tenant == tenant).order_by(aid_schemes.c.created_at)
    )


async def get_beneficiary(session: AsyncSession, tenant: str, scheme_id, beneficiary_id, *, lock=False):
    stmt = sa.select(aid_beneficiaries).where(
        aid_beneficiaries.c.tenant == tenant,
        aid_beneficiaries.c.scheme_id == scheme_id,
        aid_beneficiaries.c.id == beneficiary_id,
    )
    return await one(session, for_update(stmt, session) if lock else stmt)


async def list_beneficiaries(session: AsyncSession, tenant: str, scheme_id) -> list[dict]:
    return await many(
        session,
        sa.select(aid_beneficiaries)
        .where(aid_beneficiaries.c.tenant == tenant, aid_beneficiaries.c.scheme_id == scheme_id)
        .order_by(aid_beneficiaries.c.created_at, aid_beneficiaries.c.id),
    )


async def payments_of(session: AsyncSession, tenant: str, beneficiary_ids) -> dict[uuid.UUID, list[dict]]:
    result: dict[uuid.UUID, list[dict]] = defaultdict(list)
    rows = await many(
        session,
        sa.select(aid_payments)
        .where(aid_payments.c.tenant == tenant, aid_payments.c.beneficiary_id.in_(beneficiary_ids))
        .order_by(aid_payments.c.month, aid_payments.c.prepared_at),
    )
    for row in rows:
        result[row["beneficiary_id"]].append(row)
    return result


async def get_aid_payment(session: AsyncSession, tenant: str, payment_id: uuid.UUID, *, lock=False) -> dict | None:
    stmt = sa.select(aid_payments).where(aid_payments.c.tenant == tenant, aid_payments.c.id == payment_id)
    return await one(session, for_update(stmt, session) if lock else stmt)


async def move_aid_payment(session: AsyncSession, tenant: str, payment_id, was: str, values: dict) -> bool:
    """Compare-and-set on the status: False when another request moved it first."""
    result = await session.execute(
        sa.update(aid_payments)
        .where(aid_payments.c.tenant == tenant, aid_payments.c.id == payment_id, aid_payments.c.status == was)
        .values(values)
    )
    return result.rowcount == 1


async def scheme_of_beneficiary(session: AsyncSession, tenant: str, beneficiary_id: uuid.UUID) -> dict:
    return await one(
        session,
        sa.select(aid_schemes)
        .join(aid_beneficiaries, aid_beneficiaries.c.scheme_id == aid_schemes.c.id)
        .where(aid_beneficiaries.c.tenant == tenant, aid_beneficiaries.c.id == beneficiary_id),
    )


# ---------------------------------------------------------------------------------------------- ledger
def ledger_query(tenant: str, filters: dict) -> sa.Select:
    stmt = sa.select(ledger).where(ledger.c.tenant == tenant)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(ledger.c[name] == value)
    return stmt.order_by(ledger.c.id)
