"""Funding benchmark: a monthly CDE run against one bulk INSERT of as many rows, same database.

    .venv/bin/python -m bench.funding [--workers 10000] [--conventions 200] [--rounds 3] [--seed 45]

One PostgreSQL database at the head of the funding migrations (127.0.0.1:5432, user postgres;
TREMPLIN_BENCH_POSTGRES to change), dropped afterwards. Set up untimed: an ETCLD fund with three
funders and an envelope that never blocks, `--conventions` CDE conventions (valid SIRETs and IBANs,
rates in [0.53, 1.02]) and `--workers` EBE workers spread over them (weekly hours 20–35, one in ten
entering and one in twenty leaving during the month, so the proration is exercised).

(a) run: the service's own use case, `service_layer.run_period`, for a fresh month — what
    `POST /api/v1/funding/runs` does minus HTTP: read the conventions, workers, SMIC table and what
    earlier runs computed, compute every worker's CDE (Decimal), split each convention's total across
    the funders (largest remainder), check the budget, and write in ONE transaction the run, one
    disbursement per convention, its parts, lines, transition log, ledger rows and outbox events.
    rows/s = every row the run wrote ÷ its wall time. Then the same month again (idempotent: it must
    write nothing) is timed too.
(b) baseline: the same number of rows written by ONE bulk INSERT (`INSERT … SELECT FROM unnest(…)`,
    the values sent from Python as arrays) into a scratch table shaped like disbursement_lines (the
    run's widest and most numerous rows), in its own transaction, on the same database.

Each round sets up a territory of its own (the tables grow round after round) and runs March 2024
for it, so every run has one line per worker; the median of `--rounds` rounds is reported with the ratio (a)/(b).
The checks (10 000 lines, parts summing to each total, nothing written by the re-run) must pass.
"""

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import create_async_engine

import tremplin_funding
from tremplin_cli.demo import demo_siret
from tremplin_cli.demo_funding import demo_iban
from tremplin_funding import service_layer
from tremplin_funding.adapters.orm import (
    conventions,
    disbursement_lines,
    disbursement_parts,
    disbursement_transitions,
    disbursements,
    envelopes,
    funders,
    funds,
    ledger,
    runs,
    workers,
)
from tremplin_funding.api.schemas import RunIn
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.identity import Identity
from tremplin_shared.messaging.tables import outbox
from tremplin_shared.migrations import upgrade_to_head

console = Console(width=150)
PG_SERVER = os.environ.get("TREMPLIN_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432")
PERIOD = "2024-03"
WRITTEN = [runs, disbursements, disbursement_parts, disbursement_lines, disbursement_transitions, ledger, outbox]
BASELINE_DDL = """
CREATE TABLE bench_baseline (
    id BIGSERIAL PRIMARY KEY, tenant VARCHAR(100) NOT NULL, disbursement_id UUID NOT NULL,
    worker_id UUID NOT NULL, participant_id UUID NOT NULL, period VARCHAR(7) NOT NULL, kind VARCHAR(20) NOT NULL,
    amount NUMERIC(14, 2) NOT NULL, expected NUMERIC(14, 2) NOT NULL, days_present INTEGER NOT NULL,
    weekly_hours NUMERIC(4, 2) NOT NULL, cde_rate NUMERIC(4, 2) NOT NULL, smic JSON NOT NULL
)"""
BASELINE_INSERT = """
INSERT INTO bench_baseline (tenant, disbursement_id, worker_id, participant_id, period, kind, amount, expected,
                            days_present, weekly_hours, cde_rate, smic)
SELECT * FROM unnest($1::varchar[], $2::uuid[], $3::uuid[], $4::uuid[], $5::varchar[], $6::varchar[],
                     $7::numeric[], $8::numeric[], $9::int[], $10::numeric[], $11::numeric[], $12::json[])"""


async def setup(sessionmaker, tenant: str, n_conventions: int, n_workers: int, rng: random.Random) -> None:
    """A territory of its own: every worker is present in March 2024, one in ten from a day of March,
    one in twenty until a day of March (prorated by calendar days)."""
    at = datetime.now(UTC)
    fund_id = uuid.uuid4()
    fund_funders = [(uuid.uuid4(), "État", Decimal("60")), (uuid.uuid4(), "Département", Decimal("25")),
                    (uuid.uuid4(), "Agglomération", Decimal("15"))]  # fmt: skip
    convention_rows = [
        {"id": uuid.uuid4(), "tenant": tenant, "fund_id": fund_id, "kind": "cde", "beneficiary_name": f"EBE {n}",
         "beneficiary_siret": demo_siret(rng), "beneficiary_iban": demo_iban(rng, "30004"),
         "start_date": date(2024, 1, 1), "end_date": None,
         "cde_rate": Decimal(rng.randint(53, 102)) / 100, "created_at": at}
        for n in range(n_conventions)
    ]  # fmt: skip
    worker_rows = []
    for n in range(n_workers):
        start = date(2024, 3, rng.randint(2, 31)) if rng.random() < 0.1 else date(2024, 1, 1)
        end = date(2024, 3, rng.randint(1, 30)) if start.month == 1 and rng.random() < 0.05 else None
        worker_rows.append({
            "id": uuid.uuid4(), "tenant": tenant, "convention_id": convention_rows[n % n_conventions]["id"],
            "participant_id": uuid.uuid4(), "weekly_hours": Decimal(rng.choice([20, 24, 26, 28, 30, 35])),
            "start_date": start, "end_date": end, "source": "api", "application_id": None,
            "created_at": at, "updated_at": at,
        })  # fmt: skip
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.insert(funds).values(
            id=fund_id, tenant=tenant, name="ETCLD", kind="etcld_cde", payer_name="ETCLD",
            payer_iban=demo_iban(rng, "20041"), payer_bic=None, created_at=at, created_by="bench"))  # fmt: skip
        await session.execute(sa.insert(funders), [
            {"id": i, "tenant": tenant, "fund_id": fund_id, "name": name, "share": share, "position": p}
            for p, (i, name, share) in enumerate(fund_funders)])  # fmt: skip
        await session.execute(sa.insert(envelopes).values(fund_id=fund_id, year=2024, tenant=tenant,
                                                          amount=Decimal("999999999999.00")))  # fmt: skip
        await session.execute(sa.insert(conventions), convention_rows)
        await session.execute(sa.insert(workers), worker_rows)


async def count_written(sessionmaker) -> int:
    async with sessionmaker() as session:
        total = 0
        for table in WRITTEN:
            total += (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        return total


async def timed_run(sessionmaker, tenant: str, period: str) -> tuple[float, dict]:
    identity = Identity(tenant, "bench-manager", ("fund_manager",))
    async with sessionmaker() as session:
        started = time.perf_counter()
        result = await service_layer.run_period(session, identity, RunIn(period=period))
        return time.perf_counter() - started, result


async def baseline(sessionmaker, period: str, n_rows: int, rng: random.Random) -> float:
    """One INSERT of n_rows rows, shaped like the run's lines, values from Python; its own transaction."""
    smic = '[["11.65", 31]]'
    columns = [
        ["baseline"] * n_rows, [uuid.uuid4() for _ in range(n_rows)], [uuid.uuid4() for _ in range(n_rows)],
        [uuid.uuid4() for _ in range(n_rows)], [period] * n_rows, ["cde"] * n_rows,
        [Decimal(rng.randint(50_000, 180_000)) / 100 for _ in range(n_rows)],
        [Decimal(rng.randint(50_000, 180_000)) / 100 for _ in range(n_rows)], [31] * n_rows,
        [Decimal(35)] * n_rows, [Decimal("0.95")] * n_rows, [smic] * n_rows,
    ]  # fmt: skip
    async with sessionmaker() as session:
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection  # asyncpg
        started = time.perf_counter()
        async with raw.transaction():
            await raw.execute(BASELINE_INSERT, *columns)
        return time.perf_counter() - started


async def check_round(sessionmaker, tenant: str, n_workers: int) -> list[str]:
    problems = []
    async with sessionmaker() as session:
        lines = (await session.execute(sa.select(sa.func.count()).select_from(disbursement_lines)
                                       .where(disbursement_lines.c.tenant == tenant))).scalar_one()  # fmt: skip
        if lines != n_workers:
            problems.append(f"{tenant}: {lines} lines for {n_workers} workers")
        mismatched = (await session.execute(sa.text(
            "SELECT count(*) FROM disbursements d WHERE d.tenant = :t AND d.total <> "
            "(SELECT sum(amount) FROM disbursement_parts p WHERE p.disbursement_id = d.id)"), {"t": tenant})
        ).scalar_one()  # fmt: skip
        if mismatched:
            problems.append(f"{tenant}: {mismatched} disbursements whose parts do not sum to the total")
    return problems


async def main(args) -> bool:
    rng = random.Random(args.seed)
    name = f"bench_funding_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    engine = None
    try:
        migrations = Path(tremplin_funding.__file__).parent / "migrations"
        await asyncio.to_thread(upgrade_to_head, migrations, url)
        engine = make_engine(url)
        sessionmaker = make_sessionmaker(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.text(BASELINE_DDL))
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        console.print(f"database {name}; load average {load} on {os.cpu_count()} CPUs (other work skews the figures)")
        run_rates, base_rates, rerun_times, rows_per_run, problems = [], [], [], [], []
        for n in range(args.rounds):
            tenant = f"bench-{n + 1}"  # every round a territory of its own, set up untimed
            t = time.perf_counter()
            await setup(sessionmaker, tenant, args.conventions, args.workers, rng)
            setup_s = time.perf_counter() - t
            before = await count_written(sessionmaker)
            seconds, result = await timed_run(sessionmaker, tenant, PERIOD)
            written = await count_written(sessionmaker) - before
            rerun_s, again = await timed_run(sessionmaker, tenant, PERIOD)
            if again["created"] or await count_written(sessionmaker) - before != written:
                problems.append(f"{tenant}: the re-run wrote something")
            problems += await check_round(sessionmaker, tenant, args.workers)
            base_s = await baseline(sessionmaker, PERIOD, written, rng)
            run_rates.append(written / seconds)
            base_rates.append(written / base_s)
            rerun_times.append(rerun_s)
            rows_per_run.append(written)
            lines = sum(len(d["lines"]) for d in result["created"])
            console.print(f"round {n + 1} ({tenant}, {PERIOD}, set up in {setup_s:.1f} s): run {seconds:.3f} s for "
                          f"{written} rows ({len(result['created'])} disbursements, {lines} lines); "
                          f"re-run {rerun_s:.3f} s; bulk INSERT {base_s:.3f} s")  # fmt: skip
    finally:
        if engine is not None:
            await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    run_rate, base_rate = statistics.median(run_rates), statistics.median(base_rates)
    ratio = run_rate / base_rate
    table = Table(title=f"bench-funding — PostgreSQL, {args.workers} workers, {args.conventions} conventions, "
                        f"median of {args.rounds} rounds")  # fmt: skip
    table.add_column("phase")
    table.add_column("rows", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_column("notes")
    rows = int(statistics.median(rows_per_run))
    table.add_row("(a) run (service layer, one transaction)", f"{rows:,}", f"[bold]{run_rate:,.0f}[/]",
                  "run, disbursements, parts, lines, transitions, ledger, outbox")  # fmt: skip
    table.add_row("(a') re-run of the same month", "0", "", f"{statistics.median(rerun_times):.3f} s, writes nothing")
    table.add_row("(b) one bulk INSERT … SELECT unnest", f"{rows:,}", f"[bold]{base_rate:,.0f}[/]",
                  "same row count, lines-shaped table")  # fmt: skip
    table.add_section()
    table.add_row("ratio (a)/(b)", "", f"[bold]{ratio:.3f}[/]", "the run's cost over the raw write")
    console.print(table)
    for problem in problems:
        console.print(f"[red]CHECK FAILED[/]: {problem}")
    if not problems:
        console.print("[green]checks ok[/]: parts sum to every total, one line per worker at most, re-runs write "
                      "nothing")  # fmt: skip
    print(f"bench-funding: run={run_rate:.0f} rows/s baseline={base_rate:.0f} rows/s ratio={ratio:.3f}")
    return not problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.funding", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--conventions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=45)
    args = parser.parse_args(argv)
    if min(args.workers, args.conventions, args.rounds) < 1 or args.rounds > 11:
        parser.error("--workers, --conventions must be positive, --rounds in 1..11")
    return args


if __name__ == "__main__":
    if not asyncio.run(main(parse_args())):
        sys.exit(1)
