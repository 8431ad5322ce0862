"""On real PostgreSQL: the migrations, a run and its idempotent re-run, adjustment lines, two runs of a
period racing (nothing doubled), the whole money path down to the paid batch, the aid cap under
concurrent payments, two batches racing over one overpayment, the backfill of the dated hours."""

import asyncio
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.ext.asyncio
from alembic import command

import tremplin_funding
from tremplin_funding.adapters.orm import (
    aid_beneficiaries,
    aid_schemes,
    conventions,
    disbursement_lines,
    disbursements,
    envelopes,
    funders,
    funds,
    ledger,
    offsets,
    workers,
)
from tremplin_shared.migrations import alembic_config

from .conftest import convention_body, fund_body, running


async def count(app, table) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def test_runs_on_postgresql(postgres):
    async with running(await postgres.create("funding_runs")) as funding:
        fund = await funding.post("/api/v1/funding/funds", fund_body())
        convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"]))
        url = f"/api/v1/funding/conventions/{convention['id']}/workers"
        w1 = await funding.post(url, {"participant_id": str(uuid.uuid4()), "weekly_hours": "35",
                                      "start_date": "2024-01-01"})  # fmt: skip
        await funding.post(url, {"participant_id": str(uuid.uuid4()), "weekly_hours": "35",
                                 "start_date": "2024-01-17"})  # fmt: skip
        # runs of January at once: one writes, the others wait for it and find nothing new
        results = await asyncio.gather(
            *(funding.client.post("/api/v1/funding/runs", json={"period": "2024-01"}, headers=funding.manager())
              for _ in range(4))
        )  # fmt: skip
        assert sorted(r.status_code for r in results) == [200, 200, 200, 201], [r.text for r in results]
        assert await count(funding.app, disbursements) == 1 and await count(funding.app, disbursement_lines) == 2
        (d,) = (await funding.get("/api/v1/funding/disbursements", period="2024-01"))["items"]
        assert d["total"] == "2490.78"  # 1678.57 + 812.21
        again = await funding.client.post("/api/v1/funding/runs", json={"period": "2024-01"},
                                          headers=funding.manager())  # fmt: skip
        assert again.status_code == 200 and again.json()["created"] == []

        # w1 ends on 10 January: an adjustment of 541.47 − 1678.57 = −1137.10, the first untouched
        await funding.client.patch(f"{url}/{w1['id']}", json={"end_date": "2024-01-10"}, headers=funding.manager())
        (adjustment,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
        assert (adjustment["kind"], adjustment["total"]) == ("adjustment", "-1137.10")
        assert (await funding.get(f"/api/v1/funding/disbursements/{d['id']}"))["total"] == "2490.78"

        # approve (another person), batch, paid
        await funding.post(f"/api/v1/funding/disbursements/{d['id']}/approve", headers=funding.funder(), expect=200)
        batch = await funding.post("/api/v1/funding/payment-batches", {"disbursement_ids": [d["id"]]})
        assert batch["total"] == "2490.78"
        await funding.post(f"/api/v1/funding/payment-batches/{batch['id']}/paid", expect=200)
        year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
        assert (year["committed"], year["paid"]) == ("1353.68", "2490.78")  # 2490.78 − 1137.10 committed

        # the aid cap holds under concurrent payments of different months
        scheme = await funding.post(
            "/api/v1/funding/aid-schemes",
            {"fund_id": fund["id"], "name": "Boost Jeunes", "monthly_amount": "125", "max_months": 4},
        )
        beneficiaries = f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries"
        beneficiary = await funding.post(beneficiaries, {"participant_id": str(uuid.uuid4())})
        payments = await asyncio.gather(
            *(funding.client.post(f"{beneficiaries}/{beneficiary['id']}/payments", json={"month": f"2024-{m:02d}"},
                                  headers=funding.manager()) for m in range(1, 8))
        )  # fmt: skip
        assert sorted(r.status_code for r in payments) == [201] * 4 + [409] * 3

        # the ledger is append-only, in the database itself
        for statement in (sa.update(ledger).values(amount=0), sa.delete(ledger)):
            with pytest.raises(sa.exc.DBAPIError, match="immutable"):
                async with funding.app.state.sessionmaker() as session, session.begin():
                    await session.execute(statement)


async def test_batches_racing_over_one_overpayment_deduct_it_once(postgres):
    """An approved adjustment of −1137.10 and two approved payments of 1678.57 (February, March) of one
    convention, paid by two batches created at once: the adjustment is deducted once, wholly, from the
    batch that got it first (541.47 transferred), the other pays in full; the offsets are on the ledger
    once the batches are paid, and the trigger keeps them append-only."""
    async with running(await postgres.create("funding_netting")) as funding:
        fund = await funding.post("/api/v1/funding/funds", fund_body())
        convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"]))
        url = f"/api/v1/funding/conventions/{convention['id']}/workers"
        w1 = await funding.post(url, {"participant_id": str(uuid.uuid4()), "weekly_hours": "35",
                                      "start_date": "2024-01-01"})  # fmt: skip
        await funding.post("/api/v1/funding/runs", {"period": "2024-01"})
        await funding.client.patch(f"{url}/{w1['id']}", json={"end_date": "2024-01-10"}, headers=funding.manager())
        await funding.post(url, {"participant_id": str(uuid.uuid4()), "weekly_hours": "35",
                                 "start_date": "2024-02-01"})  # fmt: skip
        (adjustment,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
        (february,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-02"}))["created"]
        (march,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-03"}))["created"]
        assert (adjustment["total"], february["total"], march["total"]) == ("-1137.10", "1678.57", "1678.57")
        for d in (adjustment, february, march):
            await funding.post(f"/api/v1/funding/disbursements/{d['id']}/approve", headers=funding.funder(), expect=200)
        batches = await asyncio.gather(
            *(funding.client.post("/api/v1/funding/payment-batches", json={"disbursement_ids": [d["id"]]},
                                  headers=funding.manager()) for d in (february, march))
        )  # fmt: skip
        assert [r.status_code for r in batches] == [201, 201], [r.text for r in batches]
        totals = sorted(r.json()["total"] for r in batches)
        assert totals == ["1678.57", "541.47"]
        assert sum(len(r.json()["offsets"]) for r in batches) == 1
        outstanding = await funding.get(f"/api/v1/funding/conventions/{convention['id']}/outstanding")
        assert outstanding["outstanding"] == "0.00" and outstanding["items"][0]["absorbed"] == "1137.10"
        for r in batches:
            await funding.post(f"/api/v1/funding/payment-batches/{r.json()['id']}/paid", expect=200)
        rows = (await funding.get("/api/v1/funding/ledger", kind="offset"))["items"]
        assert [r["amount"] for r in rows] == [p["amount"] for p in adjustment["parts"]]  # −795.97, −341.13
        year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
        # committed 1678.57 × 3 − 1137.10; paid what left the account: February and March less the overpayment
        assert (year["committed"], year["paid"]) == ("3898.61", "2220.04")
        for statement in (sa.update(offsets).values(amount=1), sa.delete(offsets)):
            with pytest.raises(sa.exc.DBAPIError, match="immutable"):
                async with funding.app.state.sessionmaker() as session, session.begin():
                    await session.execute(statement)


async def test_migration_0005_backfills_the_hours_of_every_worker_from_their_start(postgres):
    """Workers written before the dated hours (migration 0004) get one row each: their hours from their
    start; runs then compute with them, and a backdated change gives an adjustment."""
    url = await postgres.create("funding_hours")
    scripts = Path(tremplin_funding.__file__).parent / "migrations"
    await asyncio.to_thread(command.upgrade, alembic_config(scripts, url), "0004")
    engine = sa.ext.asyncio.create_async_engine(url)
    at = datetime(2024, 1, 1, tzinfo=UTC)
    fund_id, convention_id = uuid.uuid4(), uuid.uuid4()
    old = [(uuid.uuid4(), date(2024, 1, 1), "35"), (uuid.uuid4(), date(2024, 1, 17), "24.50")]
    async with engine.begin() as conn:
        await conn.execute(sa.insert(funds).values(id=fund_id, tenant="loir-et-cher", name="F", kind="etcld_cde",
                                                   payer_name="ETCLD", payer_iban="FR7630004000000001234567845",
                                                   created_at=at, created_by="m"))  # fmt: skip
        await conn.execute(sa.insert(funders).values(id=uuid.uuid4(), tenant="loir-et-cher", fund_id=fund_id,
                                                     name="État", share=100, position=0))  # fmt: skip
        await conn.execute(sa.insert(conventions).values(
            id=convention_id, tenant="loir-et-cher", fund_id=fund_id, kind="cde", beneficiary_name="EBE",
            beneficiary_siret="73282932000074", beneficiary_iban="FR7630004000000001234567845",
            start_date=date(2024, 1, 1), cde_rate="0.95", created_at=at))  # fmt: skip
        for worker_id, start, hours in old:
            await conn.execute(sa.insert(workers).values(
                id=worker_id, tenant="loir-et-cher", convention_id=convention_id, participant_id=uuid.uuid4(),
                weekly_hours=hours, start_date=start, source="api", created_at=at, updated_at=at))  # fmt: skip
    await engine.dispose()
    async with running(url) as funding:  # migrates to head
        listed = (await funding.get(f"/api/v1/funding/conventions/{convention_id}/workers"))["items"]
        assert {w["id"]: w["hours"] for w in listed} == {
            str(worker_id): [{"valid_from": start.isoformat(), "weekly_hours": f"{float(hours):.2f}"}]
            for worker_id, start, hours in old
        }
        (january,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
        # 1678.57 + 24.5 h from the 17th: 24.5 × 52 ÷ 12 × 11.65 × 0.95 × 15 ÷ 31 = 568.548… → 568.55
        assert january["total"] == "2247.12"
        worker_id = old[0][0]
        await funding.post(f"/api/v1/funding/conventions/{convention_id}/workers/{worker_id}/hours",
                           {"weekly_hours": "24", "valid_from": "2024-01-16"})  # fmt: skip
        (adjustment,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
        assert [(line["amount"], line["hours"]) for line in adjustment["lines"]] == [
            ("-272.28", [["35.00", 15], ["24.00", 16]])]  # fmt: skip


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
async def test_migration_0007_keeps_the_aids_paid_before_as_paid(postgres, tmp_path, backend):
    """Aid payments recorded before approvals existed stay `paid` (prepared by whoever paid them) and
    still count against the cap; a downgrade keeps only paid ones, under the old unique constraint."""
    url = await postgres.create("funding_aids") if backend == "postgresql" else f"sqlite+aiosqlite:///{tmp_path}/f.db"
    config = alembic_config(Path(tremplin_funding.__file__).parent / "migrations", url)
    await asyncio.to_thread(command.upgrade, config, "0006")
    engine = sa.ext.asyncio.create_async_engine(url)
    at = datetime(2024, 2, 5, 9, tzinfo=UTC)
    fund_id, scheme_id, beneficiary_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(sa.insert(funds).values(id=fund_id, tenant="loir-et-cher", name="PDI", kind="departement",
                                                   payer_name="CD41", payer_iban="FR7630004000000001234567845",
                                                   created_at=at, created_by="m"))  # fmt: skip
        await conn.execute(sa.insert(funders).values(id=uuid.uuid4(), tenant="loir-et-cher", fund_id=fund_id,
                                                     name="Département", share=100, position=0))  # fmt: skip
        await conn.execute(sa.insert(envelopes).values(tenant="loir-et-cher", fund_id=fund_id, year=2024,
                                                       amount=1000))  # fmt: skip
        await conn.execute(sa.insert(aid_schemes).values(id=scheme_id, tenant="loir-et-cher", fund_id=fund_id,
                                                         name="Boost Jeunes", monthly_amount=125, max_months=2,
                                                         created_at=at))  # fmt: skip
        await conn.execute(sa.insert(aid_beneficiaries).values(id=beneficiary_id, tenant="loir-et-cher",
                                                               scheme_id=scheme_id, participant_id=uuid.uuid4(),
                                                               created_at=at))  # fmt: skip
        before_0007 = sa.table("aid_payments", *(sa.column(n, t) for n, t in (
            ("id", sa.Uuid()), ("tenant", sa.String()), ("beneficiary_id", sa.Uuid()), ("month", sa.String()),
            ("amount", sa.Numeric()), ("paid_at", sa.DateTime(timezone=True)), ("paid_by", sa.String()))))  # fmt: skip
        await conn.execute(sa.insert(before_0007).values(id=uuid.uuid4(), tenant="loir-et-cher",
                                                         beneficiary_id=beneficiary_id, month="2024-01", amount=125,
                                                         paid_at=at, paid_by="manager-0"))  # fmt: skip
    await engine.dispose()
    async with running(url) as funding:  # migrates to head
        url_b = f"/api/v1/funding/aid-schemes/{scheme_id}/beneficiaries/{beneficiary_id}"
        before = await funding.get(url_b)
        assert [(p["month"], p["status"], p["prepared_by"], p["paid_by"]) for p in before["payments"]] == [
            ("2024-01", "paid", "manager-0", "manager-0")]  # fmt: skip
        assert before["months_left"] == 1
        await funding.post(f"{url_b}/payments", {"month": "2024-01"}, expect=409)  # paid before: still taken
        prepared = await funding.post(f"{url_b}/payments", {"month": "2024-02"})
        assert prepared["months_left"] == 0
    await asyncio.to_thread(command.downgrade, config, "0006")
    engine = sa.ext.asyncio.create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT month, paid_by FROM aid_payments"))).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [("2024-01", "manager-0")]
