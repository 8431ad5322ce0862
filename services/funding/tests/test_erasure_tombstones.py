"""An erased participant stays erased in funding: a registration about them applied after the erasure
(a DLQ replay) is skipped — the tombstone recorded with the erasure says so. And the erasure leaves
nothing that names the person: workers, lines and beneficiaries aliased, aid decisions' reasons blanked."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from tests.consumed import consume, event
from tests.leaks import outside_tombstones, rows_mentioning, snapshot
from tremplin_funding.adapters.orm import (
    aid_beneficiaries,
    aid_payments,
    disbursement_lines,
    disbursements,
    ledger,
    payment_batches,
    worker_hours,
    workers,
)
from tremplin_funding.adapters.projection import is_known
from tremplin_funding.config import Settings
from tremplin_funding.main import build_spec, create_app
from tremplin_shared.events import ParticipantErasedV1, ParticipantRegisteredV1
from tremplin_shared.messaging.tables import erasure_tombstones

from .conftest import TENANT, convention_body, fund_body, running
from .test_consumers import hired

SPEC = build_spec(Settings())  # the consumer's handlers, as main.py wires them


@pytest.fixture(params=["sqlite", "postgres"])
async def funding(request, tmp_path, postgres):
    url = f"sqlite+aiosqlite:///{tmp_path}/f.db" if request.param == "sqlite" else await postgres.create("funding")
    app = create_app(Settings(database_url=url, run_background_workers=False))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_registration_replayed_after_an_erasure_brings_nothing_back(funding):
    pid = uuid.uuid4()
    registered = ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC), latitude=47.5,
                                         longitude=1.3)  # fmt: skip
    old = {tenant: event(tenant, registered) for tenant in ("loir-et-cher", "indre")}
    await consume(funding, SPEC, list(old.values()))
    erased_at = datetime.now(UTC)
    await consume(funding, SPEC, [event("loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=erased_at))])
    await consume(funding, SPEC, [old["loir-et-cher"]])  # a DLQ replay
    await consume(funding, SPEC, [event("loir-et-cher", registered)])  # the same data under a new event id
    async with funding.state.sessionmaker() as session:
        assert not await is_known(session, "loir-et-cher", pid)
        assert await is_known(session, "indre", pid)  # another territory's person
        rows = (await session.execute(select(erasure_tombstones))).all()
    assert [(r.tenant, r.participant_id) for r in rows] == [("loir-et-cher", pid)]
    assert rows[0].erased_at == erased_at


@pytest.fixture(params=["sqlite", "postgres"])
async def served(request, tmp_path, postgres):
    """The service with its HTTP API (conftest's `Funding`), on both databases."""
    url = f"sqlite+aiosqlite:///{tmp_path}/f.db" if request.param == "sqlite" else await postgres.create("funding")
    async with running(url) as service:
        yield service


async def money(app) -> dict[str, list[tuple]]:
    """Amounts and counts the fund must keep through an erasure, to the cent."""
    d, line, p, led = disbursements.c, disbursement_lines.c, aid_payments.c, ledger.c
    counted = (workers, worker_hours, aid_beneficiaries, payment_batches)
    queries = {
        "disbursements": select(d.kind, d.status, func.sum(d.total), func.count()).group_by(d.kind, d.status),
        "lines": select(line.period, line.kind, func.sum(line.amount), func.count()).group_by(line.period, line.kind),
        "aid_payments": select(p.status, func.sum(p.amount), func.count()).group_by(p.status),
        "ledger": select(led.kind, func.sum(led.amount), func.count()).group_by(led.kind),
        "rows": select(*(select(func.count()).select_from(t).scalar_subquery() for t in counted)),
    }
    async with app.state.sessionmaker() as session:
        return {name: sorted(tuple(r) for r in await session.execute(q)) for name, q in queries.items()}


async def test_the_erasure_leaves_nothing_that_names_the_person_and_keeps_the_money(served):
    """CDE workers, their lines and aid payments stay (amounts, months, hours) under one alias; the hire's
    application and the aid decisions' free text go; another person's rows are untouched."""
    f = served
    pid, other = uuid.uuid4(), uuid.uuid4()
    at = datetime.now(UTC)
    await consume(f.app, SPEC, [event(TENANT, ParticipantRegisteredV1(participant_id=p, registered_at=at,
                                                                      latitude=47.5, longitude=1.3))
                                for p in (pid, other)])  # fmt: skip
    # CDE: the person by hand in January and February, then hired (placement.hired) from 4 March
    fund = await f.post("/api/v1/funding/funds", fund_body())
    convention = await f.post("/api/v1/funding/conventions", convention_body(fund["id"]))
    url = f"/api/v1/funding/conventions/{convention['id']}/workers"
    by_hand = await f.post(url, {"participant_id": str(pid), "weekly_hours": "35", "start_date": "2024-01-01",
                                 "end_date": "2024-02-29"})  # fmt: skip
    await f.post(url, {"participant_id": str(other), "weekly_hours": "24", "start_date": "2024-01-01"})
    hire = hired(pid)
    await consume(f.app, SPEC, [event(TENANT, hire)])
    (came,) = [w for w in (await f.get(url))["items"] if w["source"] == "placement.hired"]
    assert came["application_id"] == str(hire.application_id)
    await f.post(f"{url}/{came['id']}/hours", {"weekly_hours": "28", "valid_from": "2024-04-01"})
    made = {}
    for period in ("2024-01", "2024-03", "2024-04"):
        (made[period],) = (await f.post("/api/v1/funding/runs", {"period": period}))["created"]
    patched = await f.client.patch(f"{url}/{by_hand['id']}", json={"end_date": "2024-01-20"}, headers=f.manager())
    assert patched.status_code == 200, patched.text
    (adjustment,) = (await f.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    assert [line["participant_id"] for line in adjustment["lines"]] == [str(pid)]
    january = f"/api/v1/funding/disbursements/{made['2024-01']['id']}"
    await f.post(f"{january}/approve", {"reason": "présences vérifiées"}, headers=f.funder(), expect=200)
    batch = await f.post("/api/v1/funding/payment-batches", {"disbursement_ids": [made["2024-01"]["id"]]})
    await f.post(f"/api/v1/funding/payment-batches/{batch['id']}/paid", expect=200)
    await f.post(f"/api/v1/funding/disbursements/{made['2024-03']['id']}/reject", {"reason": "à vérifier"},
                 headers=f.funder(), expect=200)  # fmt: skip
    # An aid: the person's payments approved (then paid), rejected, prepared again; another person's too
    aid_fund = await f.post("/api/v1/funding/funds", fund_body(name="Département", kind="departement"))
    scheme = await f.post("/api/v1/funding/aid-schemes", {"fund_id": aid_fund["id"], "name": "Boost Jeunes",
                                                          "monthly_amount": "125", "max_months": 4})  # fmt: skip
    beneficiaries = f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries"

    async def pay(participant, decisions):
        beneficiary = await f.post(beneficiaries, {"participant_id": str(participant)})
        for month, steps, reason in decisions:
            payment = (await f.post(f"{beneficiaries}/{beneficiary['id']}/payments", {"month": month}))["payments"][-1]
            for step in steps:  # a funder decides (with the reason, if any), the manager marks it paid
                body, by = ({"reason": reason} if reason else None, f.funder()) if step != "paid" else (None, None)
                await f.post(f"/api/v1/funding/aid-payments/{payment['id']}/{step}", body, headers=by, expect=200)
        return beneficiary

    mine = await pay(pid, [("2024-01", ("approve", "paid"), "pièces vues, suivi en addictologie"),
                           ("2024-02", ("reject",), "hospitalisée, pas de justificatif"),
                           ("2024-02", (), None), ("2024-03", ("approve",), "sortie d'hôpital")])  # fmt: skip
    await pay(other, [("2024-01", ("reject",), "profil à revoir"), ("2024-03", ("approve",), None)])

    budgets = [f"/api/v1/funding/funds/{fund_id}/budget" for fund_id in (fund["id"], aid_fund["id"])]
    before, budgets_before = await money(f.app), [await f.get(b) for b in budgets]
    assert before["aid_payments"] == [("approved", D("250.00"), 2), ("paid", D("125.00"), 1),
                                      ("prepared", D("125.00"), 1), ("rejected", D("250.00"), 2)]  # fmt: skip
    expected = {"known_participants", "cde_workers", "disbursement_lines", "aid_beneficiaries"}
    assert set(await rows_mentioning(f.app, pid)) == expected  # funding's events carry no participant id
    erasure = event(TENANT, ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))
    await consume(f.app, SPEC, [erasure])

    # Only the tombstone names the person (by design: it keeps them erased).
    assert outside_tombstones(await rows_mentioning(f.app, pid)) == {}
    assert list(await rows_mentioning(f.app, pid)) == ["erasure_tombstones"]
    assert await money(f.app) == before  # every amount and count, by status, kind and month
    assert [await f.get(b) for b in budgets] == budgets_before
    async with f.app.state.sessionmaker() as session:
        w, line, b, p = workers.c, disbursement_lines.c, aid_beneficiaries.c, aid_payments.c
        theirs = (await session.execute(select(workers).where(w.participant_id != other))).all()
        assert sorted(r.source for r in theirs) == ["api", "placement.hired"]
        assert [r.application_id for r in theirs] == [None, None]  # no link back to matching's application
        lines = (await session.execute(select(line.participant_id).where(line.participant_id != other))).scalars()
        beneficiary = (await session.execute(select(b.participant_id).where(b.participant_id != other))).scalars()
        aliases = {r.participant_id for r in theirs} | set(lines) | set(beneficiary)
        assert len(aliases) == 1 and aliases.isdisjoint({pid, other})  # one alias for all the person's rows
        (alias,) = aliases
        reasons = await session.execute(
            select(b.participant_id, p.status, p.decision_reason).join(aid_beneficiaries, b.id == p.beneficiary_id)
        )
        given = sorted((r.participant_id == alias, r.status, "-" if r.decision_reason is None else r.decision_reason)
                       for r in reasons)  # fmt: skip
        assert given == [  # "-": no reason was given
            (False, "approved", "-"), (False, "rejected", "profil à revoir"),  # another person's reasons stay
            (True, "approved", ""), (True, "paid", ""), (True, "prepared", "-"),  # a reason there was: ""
            (True, "rejected", ""),
        ]  # fmt: skip
        kept = (await session.execute(select(disbursements.c.decision_reason))).scalars()
        assert sorted(r or "-" for r in kept) == ["-", "-", "présences vérifiées", "à vérifier"]  # a convention's
    # the API reads the alias, and a re-run of a period finds nothing to adjust
    assert {w["participant_id"] for w in (await f.get(url))["items"]} == {str(alias), str(other)}
    assert (await f.get(f"{beneficiaries}/{mine['id']}"))["participant_id"] == str(alias)
    for period in made:
        assert (await f.post("/api/v1/funding/runs", {"period": period}, expect=200))["created"] == []

    # A redelivered erasure (a DLQ replay, a rebuild) changes nothing more.
    kept = await snapshot(f.app)
    await consume(f.app, SPEC, [erasure])
    assert await snapshot(f.app) == kept
