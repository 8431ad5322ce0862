"""The funding API on SQLite: funds and conventions (validation), workers, the SMIC table, the monthly
run (idempotent, adjustments, budget block), approvals (four-eyes), SEPA batches parsed back, aids
(the cap), the ledger (filters, CSV), roles, tenant isolation. Amounts are computed by hand in
test_domain.py: 35 h at 0.95 in January 2024 = 1 678.57; from the 17th = 812.21; 24 h = 1 151.02."""

import csv
import io
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from tremplin_funding.adapters.orm import disbursements, ledger, offsets
from tremplin_shared.calendar import today_in_france
from tremplin_shared.messaging.tables import outbox

from .conftest import EBE_IBAN, PAYER_IBAN, TENANT, convention_body, fund_body

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


async def setup_convention(funding, workers=(("35", "2024-01-01"),), convention=None, **fund_over):
    fund = await funding.post("/api/v1/funding/funds", fund_body(**fund_over))
    convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"], **(convention or {})))
    made = []
    for hours, start in workers:
        made.append(await funding.post(f"/api/v1/funding/conventions/{convention['id']}/workers",
                                       {"participant_id": str(uuid.uuid4()), "weekly_hours": hours,
                                        "start_date": start}))  # fmt: skip
    return fund, convention, made


async def events(funding) -> list[str]:
    async with funding.app.state.sessionmaker() as session:
        return list((await session.execute(sa.select(outbox.c.event_type).order_by(outbox.c.seq))).scalars())


# ------------------------------------------------------------------------------------- funds, validation
async def test_fund_created_and_read(funding):
    fund = await funding.post("/api/v1/funding/funds", fund_body())
    assert [(f["name"], f["share"]) for f in fund["funders"]] == [
        ("État", "70.00"),
        ("Département de Loir-et-Cher", "30.00"),
    ]
    assert fund["envelopes"] == [{"year": 2024, "amount": "1000000.00"}]
    assert fund["payer"] == {"name": "ETCLD", "iban": PAYER_IBAN, "bic": None}
    assert await funding.get(f"/api/v1/funding/funds/{fund['id']}") == fund
    assert [f["id"] for f in (await funding.get("/api/v1/funding/funds"))["items"]] == [fund["id"]]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"funders": [{"name": "État", "share": "70"}, {"name": "CD41", "share": "29.99"}]}, "funders"),
        ({"funders": [{"name": "État", "share": "70"}, {"name": "CD41", "share": "31"}]}, "funders"),
        ({"funders": []}, "funders"),
        ({"payer": {"name": "ETCLD", "iban": "FR7630004000000001234567846"}}, "payer.iban"),
        ({"kind": "loto"}, "kind"),
        ({"envelopes": [{"year": 2024, "amount": "-1"}]}, "envelopes.0.amount"),
        ({"envelopes": [{"year": 2024, "amount": "1.001"}]}, "envelopes.0.amount"),
    ],
)
async def test_bad_funds_are_422_with_the_field(funding, over, field):
    response = await funding.client.post("/api/v1/funding/funds", json=fund_body(**over), headers=funding.manager())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("rate", ["0.53", "1.02"])
async def test_cde_rate_at_each_bound_is_accepted(funding, rate):
    fund = await funding.post("/api/v1/funding/funds", fund_body())
    convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"], cde_rate=rate))
    assert convention["cde_rate"] == rate


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"cde_rate": "0.52"}, "cde_rate"),
        ({"cde_rate": "1.03"}, "cde_rate"),
        ({"cde_rate": None}, "cde_rate"),
        ({"beneficiary": {"name": "EBE", "siret": "73282932000075", "iban": EBE_IBAN}}, "beneficiary.siret"),
        ({"beneficiary": {"name": "EBE", "siret": "73282932000074", "iban": "FR00"}}, "beneficiary.iban"),
        ({"period": {"start": "2024-06-01", "end": "2024-01-01"}}, "period.end"),
        ({"kind": "operation", "cde_rate": "0.9"}, "cde_rate"),
    ],
)
async def test_bad_conventions_are_422_with_the_field(funding, over, field):
    fund = await funding.post("/api/v1/funding/funds", fund_body())
    body = convention_body(fund["id"], **over)
    response = await funding.client.post("/api/v1/funding/conventions", json=body, headers=funding.manager())
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_workers_at_most_35_hours(funding):
    _, convention, _ = await setup_convention(funding, workers=())
    url = f"/api/v1/funding/conventions/{convention['id']}/workers"
    for hours in ("35.5", "0", "-1"):
        bad = await funding.client.post(url, json={"participant_id": str(uuid.uuid4()), "weekly_hours": hours,
                                                   "start_date": "2024-01-01"}, headers=funding.manager())  # fmt: skip
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "weekly_hours"
    ok = await funding.post(url, {"participant_id": str(uuid.uuid4()), "weekly_hours": 35, "start_date": "2024-01-01"})
    assert ok["weekly_hours"] == "35.00" and ok["source"] == "api"
    assert [w["id"] for w in (await funding.get(url))["items"]] == [ok["id"]]
    # the same person twice on the same days would be paid twice: 409; after their end, fine
    twin = {"participant_id": ok["participant_id"], "weekly_hours": 20, "start_date": "2024-06-01"}
    assert (await funding.client.post(url, json=twin, headers=funding.manager())).status_code == 409
    ended = await funding.client.patch(f"{url}/{ok['id']}", json={"end_date": "2024-05-31"}, headers=funding.manager())
    assert ended.status_code == 200 and ended.json()["end_date"] == "2024-05-31"
    later = await funding.post(url, twin)
    reopened = await funding.client.patch(f"{url}/{ok['id']}", json={"end_date": None}, headers=funding.manager())
    assert reopened.status_code == 409 and reopened.json()["worker_id"] == later["id"]


async def test_smic_table_shipped_and_editable(funding):
    table = (await funding.get("/api/v1/funding/smic-rates"))["items"]
    assert [(r["valid_from"], r["hourly"], r["source"]) for r in table] == [
        ("2024-01-01", "11.65", "shipped"), ("2024-11-01", "11.88", "shipped")]  # fmt: skip
    response = await funding.client.put("/api/v1/funding/smic-rates/2025-01-01", json={"hourly": "12.00"},
                                        headers=funding.manager())  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["items"][-1] == {"valid_from": "2025-01-01", "hourly": "12.00", "source": "territory"}
    other = (await funding.get("/api/v1/funding/smic-rates", headers=funding.manager("indre")))["items"]
    assert len(other) == 2  # another territory's table is untouched


# ------------------------------------------------------------------------------------------------- runs
async def test_a_run_then_a_rerun_creates_nothing(funding):
    fund, _, (w1, w2, w3) = await setup_convention(
        funding, workers=(("35", "2024-01-01"), ("35", "2024-01-17"), ("24", "2023-06-01")))  # fmt: skip
    run = await funding.post("/api/v1/funding/runs", {"period": "2024-01"})
    (d,) = run["created"]
    assert (d["status"], d["kind"], d["total"]) == ("prepared", "cde", "3641.80")  # 1678.57 + 812.21 + 1151.02
    assert {line["worker_id"]: line["amount"] for line in d["lines"]} == {
        w1["id"]: "1678.57", w2["id"]: "812.21", w3["id"]: "1151.02"}  # fmt: skip
    # 3641.80 × 70 % = 2549.26, × 30 % = 1092.54
    assert [(p["funder"], p["amount"]) for p in d["parts"]] == [
        ("État", "2549.26"),
        ("Département de Loir-et-Cher", "1092.54"),
    ]
    assert d["allowed"] == ["approved", "rejected"]
    again = await funding.client.post("/api/v1/funding/runs", json={"period": "2024-01"}, headers=funding.manager())
    assert again.status_code == 200 and again.json() == {"period": "2024-01", "run_id": None, "created": []}
    listed = await funding.get("/api/v1/funding/disbursements", period="2024-01")
    assert [x["id"] for x in listed["items"]] == [d["id"]] and listed["total"] == "3641.80"
    light = await funding.get("/api/v1/funding/disbursements", period="2024-01", lines="false")
    assert light["items"][0]["lines"] == [] and light["items"][0]["parts"] == d["parts"]
    assert await events(funding) == ["fr.tremplin.funding.disbursement.prepared.v1"]
    budget = await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget")
    (year,) = budget["years"]
    assert (year["envelope"], year["committed"], year["paid"], year["remaining"]) == (
        "1000000.00", "3641.80", "0.00", "996358.20")  # fmt: skip
    assert [(f["envelope"], f["committed"]) for f in year["funders"]] == [
        ("700000.00", "2549.26"),
        ("300000.00", "1092.54"),
    ]


async def test_changed_inputs_create_adjustment_lines_never_edits(funding):
    _, convention, (w1, w2) = await setup_convention(funding, workers=(("35", "2024-01-01"), ("35", "2024-01-01")))
    first = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    assert first["total"] == "3357.14"
    url = f"/api/v1/funding/conventions/{convention['id']}/workers"
    # w1 down to 24 h (1151.02: −527.55), w2 ended on 10 January (541.47: −1137.10), a new worker from the 17th
    patched = await funding.client.patch(f"{url}/{w1['id']}", json={"weekly_hours": "24"}, headers=funding.manager())
    assert patched.status_code == 200, patched.text
    await funding.client.patch(f"{url}/{w2['id']}", json={"end_date": "2024-01-10"}, headers=funding.manager())
    w3 = await funding.post(url, {"participant_id": str(uuid.uuid4()), "weekly_hours": "35",
                                  "start_date": "2024-01-17"})  # fmt: skip
    second = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    (adjustment,) = second
    assert adjustment["kind"] == "adjustment" and adjustment["id"] != first["id"]
    lines = {line["worker_id"]: (line["kind"], line["amount"], line["expected"]) for line in adjustment["lines"]}
    assert lines == {
        w1["id"]: ("adjustment", "-527.55", "1151.02"),
        w2["id"]: ("adjustment", "-1137.10", "541.47"),
        w3["id"]: ("cde", "812.21", "812.21"),
    }
    assert adjustment["total"] == "-852.44"
    assert sum(D(p["amount"]) for p in adjustment["parts"]) == D("-852.44")
    unchanged = await funding.get(f"/api/v1/funding/disbursements/{first['id']}")
    assert unchanged["total"] == "3357.14" and unchanged["lines"] == first["lines"]
    third = await funding.client.post("/api/v1/funding/runs", json={"period": "2024-01"}, headers=funding.manager())
    assert third.status_code == 200 and third.json()["created"] == []


async def test_the_budget_block(funding):
    fund, _, _ = await setup_convention(funding, envelopes=[{"year": 2024, "amount": "2000.00"}])
    january = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    assert january["status"] == "prepared"  # 1678.57 of 2000.00
    february = (await funding.post("/api/v1/funding/runs", {"period": "2024-02"}))["created"][0]
    assert february["status"] == "blocked_budget" and february["allowed"] == ["rejected"]
    approve = await funding.client.post(f"/api/v1/funding/disbursements/{february['id']}/approve",
                                        headers=funding.funder())  # fmt: skip
    assert approve.status_code == 409 and approve.json()["allowed"] == ["rejected"]
    types = await events(funding)
    assert types == ["fr.tremplin.funding.disbursement.prepared.v1", "fr.tremplin.funding.budget.blocked.v1"]
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget", year=2024))["years"][0]
    assert (year["committed"], year["remaining"]) == ("1678.57", "321.43")
    # rejected, then the envelope grows: the next run prepares February again
    await funding.post(f"/api/v1/funding/disbursements/{february['id']}/reject", {"reason": "budget"},
                       headers=funding.funder(), expect=200)  # fmt: skip
    response = await funding.client.put(f"/api/v1/funding/funds/{fund['id']}/envelopes/2024",
                                        json={"amount": "50000"}, headers=funding.manager())  # fmt: skip
    assert response.status_code == 200
    again = (await funding.post("/api/v1/funding/runs", {"period": "2024-02"}))["created"][0]
    assert again["status"] == "prepared" and again["kind"] == "cde"


async def test_a_run_needs_a_known_smic(funding):
    await setup_convention(funding, workers=(("35", "2023-01-01"),), convention={"period": {"start": "2023-01-01"}})
    response = await funding.client.post("/api/v1/funding/runs", json={"period": "2023-12"}, headers=funding.manager())
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "period"
    for period in ("2024-13", "0000-01", "2024-1", 202401):
        bad = await funding.client.post("/api/v1/funding/runs", json={"period": period}, headers=funding.manager())
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period", bad.text


# ------------------------------------------------------------------------------- approvals, four eyes
async def test_the_four_eyes_rule(funding):
    await setup_convention(funding)
    d = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    url = f"/api/v1/funding/disbursements/{d['id']}"
    # the manager is no funder; an admin who prepared is refused by the four-eyes rule
    assert (await funding.client.post(f"{url}/approve", headers=funding.manager())).status_code == 403
    same = await funding.client.post(f"{url}/approve", headers=funding.headers("manager-1", ("admin",)))
    assert same.status_code == 403 and same.json()["rule"] == "four-eyes"
    same_funder = await funding.client.post(f"{url}/approve", headers=funding.headers("manager-1", ("funder",)))
    assert same_funder.status_code == 403
    approved = await funding.post(f"{url}/approve", headers=funding.funder(), expect=200)
    assert (approved["status"], approved["decided_by"], approved["allowed"]) == ("approved", "funder-1", ["paid"])
    assert [(t["from_status"], t["to_status"]) for t in approved["transitions"]] == [
        (None, "prepared"),
        ("prepared", "approved"),
    ]
    twice = await funding.client.post(f"{url}/approve", headers=funding.funder("funder-2"))
    assert twice.status_code == 409 and twice.json()["allowed"] == ["paid"]
    rejected = await funding.client.post(f"{url}/reject", headers=funding.funder("funder-2"))
    assert rejected.status_code == 409
    assert (await events(funding))[-1] == "fr.tremplin.funding.disbursement.approved.v1"


async def test_a_rejection_releases_the_commitment(funding):
    fund, _, _ = await setup_convention(funding)
    d = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    await funding.post(f"/api/v1/funding/disbursements/{d['id']}/reject", headers=funding.funder(), expect=200)
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
    assert year["committed"] == "0.00"
    kinds = [r["kind"] for r in (await funding.get("/api/v1/funding/ledger"))["items"]]
    assert kinds == ["committed", "committed", "released", "released"]


async def test_a_funders_rejection_stands_until_the_inputs_change(funding):
    _, convention, (worker, other) = await setup_convention(funding, workers=(("35", "2024-01-01"),
                                                                               ("24", "2024-01-01")))  # fmt: skip
    d = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    await funding.post(f"/api/v1/funding/disbursements/{d['id']}/reject", {"reason": "days present to check"},
                       headers=funding.funder(), expect=200)  # fmt: skip
    nothing = {"period": "2024-01", "run_id": None, "created": []}
    assert await funding.post("/api/v1/funding/runs", {"period": "2024-01"}, expect=200) == nothing  # refused
    # the manager corrects one worker (left on 15 January): only that worker is prepared again, in full
    workers_url = f"/api/v1/funding/conventions/{convention['id']}/workers"
    await funding.client.patch(f"{workers_url}/{worker['id']}", json={"end_date": "2024-01-15"},
                               headers=funding.manager())  # fmt: skip
    again = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    assert [(line["worker_id"], line["kind"], line["days_present"]) for d in again for line in d["lines"]] == [
        (worker["id"], "cde", 15)]  # fmt: skip
    assert again[0]["status"] == "prepared"
    assert await funding.post("/api/v1/funding/runs", {"period": "2024-01"}, expect=200) == nothing
    # the corrected line approved, a later rise of the other's hours is an ordinary new line for them
    await funding.post(f"/api/v1/funding/disbursements/{again[0]['id']}/approve", headers=funding.funder(),
                       expect=200)  # fmt: skip
    await funding.client.patch(f"{workers_url}/{other['id']}", json={"weekly_hours": "28"},
                               headers=funding.manager())  # fmt: skip
    third = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    assert [(line["worker_id"], line["kind"]) for d in third for line in d["lines"]] == [(other["id"], "cde")]


# ------------------------------------------------------------------------------------------ SEPA batches
async def test_a_payment_batch_and_its_sepa_file_parsed_back(funding):
    fund, convention, _ = await setup_convention(funding, workers=(("35", "2024-01-01"), ("24", "2024-01-01")))
    other = await funding.post("/api/v1/funding/conventions", convention_body(
        fund["id"], beneficiary={"name": "EBE Vendômois", "siret": "41234567000019", "iban": EBE_IBAN}))  # fmt: skip
    await funding.post(
        f"/api/v1/funding/conventions/{other['id']}/workers",
        {"participant_id": str(uuid.uuid4()), "weekly_hours": "35", "start_date": "2024-01-17"},
    )
    created = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    totals = sorted(d["total"] for d in created)
    assert totals == ["2829.59", "812.21"]  # 1678.57 + 1151.02; 812.21
    ids = [d["id"] for d in created]
    not_yet = await funding.client.post("/api/v1/funding/payment-batches", json={"disbursement_ids": ids},
                                        headers=funding.manager())  # fmt: skip
    assert not_yet.status_code == 409  # not approved
    for i in ids:
        await funding.post(f"/api/v1/funding/disbursements/{i}/approve", headers=funding.funder(), expect=200)
    for bad in ("2024-02-05", (today_in_france() + timedelta(days=400)).isoformat()):  # gone, or too far ahead
        refused = await funding.client.post("/api/v1/funding/payment-batches", headers=funding.manager(),
                                            json={"disbursement_ids": ids, "execution_date": bad})  # fmt: skip
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "execution_date", refused.text
    execution = (today_in_france() + timedelta(days=3)).isoformat()
    batch = await funding.post("/api/v1/funding/payment-batches", {"disbursement_ids": ids,
                                                                   "execution_date": execution})  # fmt: skip
    assert (batch["status"], batch["total"], batch["transactions"]) == ("created", "3641.80", 2)
    again = await funding.client.post("/api/v1/funding/payment-batches", json={"disbursement_ids": ids[:1]},
                                      headers=funding.manager())  # fmt: skip
    assert again.status_code == 409  # already in a batch

    response = await funding.client.get(f"/api/v1/funding/payment-batches/{batch['id']}/sepa.xml",
                                        headers=funding.funder())  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert header.find("p:CtrlSum", NS).text == "3641.80" and header.find("p:NbOfTxs", NS).text == "2"
    assert header.find("p:MsgId", NS).text == batch["message_id"]
    (info,) = root.findall("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert info.find("p:CtrlSum", NS).text == "3641.80"
    assert info.find("p:ReqdExctnDt", NS).text == execution
    assert info.find("p:DbtrAcct/p:Id/p:IBAN", NS).text == PAYER_IBAN
    transfers = {
        tx.find("p:PmtId/p:EndToEndId", NS).text: (
            tx.find("p:Amt/p:InstdAmt", NS).text, tx.find("p:Amt/p:InstdAmt", NS).get("Ccy"),
            tx.find("p:CdtrAcct/p:Id/p:IBAN", NS).text, tx.find("p:Cdtr/p:Nm", NS).text,
        )
        for tx in info.findall("p:CdtTrfTxInf", NS)
    }  # fmt: skip
    by_id = {d["id"]: d for d in created}
    assert transfers == {
        uuid.UUID(i).hex: (by_id[i]["total"], "EUR", EBE_IBAN,
                           "EBE Val de Loire" if by_id[i]["convention_id"] == convention["id"] else "EBE Vendomois")
        for i in ids
    }  # fmt: skip
    assert sum(D(amount) for amount, *_ in transfers.values()) == D(header.find("p:CtrlSum", NS).text)

    paid = await funding.post(f"/api/v1/funding/payment-batches/{batch['id']}/paid", expect=200)
    assert paid["status"] == "paid"
    for i in ids:
        d = await funding.get(f"/api/v1/funding/disbursements/{i}")
        assert (d["status"], d["batch_id"]) == ("paid", batch["id"])
    assert (await funding.client.post(f"/api/v1/funding/payment-batches/{batch['id']}/paid",
                                      headers=funding.manager())).status_code == 409  # fmt: skip
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
    assert (year["committed"], year["paid"]) == ("3641.80", "3641.80")
    assert (await events(funding)).count("fr.tremplin.funding.disbursement.paid.v1") == 2


# ------------------------------------------------------------------------------------------------ aids
async def aid_beneficiary(funding, envelope: str = "1000000.00") -> tuple[dict, str, dict]:
    body = fund_body(kind="departement", envelopes=[{"year": 2024, "amount": envelope}])
    fund = await funding.post("/api/v1/funding/funds", body)
    scheme = await funding.post("/api/v1/funding/aid-schemes", {"fund_id": fund["id"], "name": "Boost Jeunes",
                                                                "monthly_amount": "125", "max_months": 4})  # fmt: skip
    assert scheme["monthly_amount"] == "125.00"
    url = f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries"
    beneficiary = await funding.post(url, {"participant_id": str(uuid.uuid4())})
    return fund, f"{url}/{beneficiary['id']}", beneficiary


async def test_the_aid_cap(funding):
    fund, url, _ = await aid_beneficiary(funding)
    for n, month in enumerate(("2024-01", "2024-02", "2024-03", "2024-04"), start=1):
        prepared = await funding.post(f"{url}/payments", {"month": month})
        assert (len(prepared["payments"]), prepared["months_left"]) == (n, 4 - n)
        assert (prepared["payments"][-1]["status"], prepared["payments"][-1]["allowed"]) == (
            "prepared", ["approved", "rejected"])  # fmt: skip
    fifth = await funding.client.post(f"{url}/payments", json={"month": "2024-05"}, headers=funding.manager())
    assert fifth.status_code == 409 and fifth.json()["max_months"] == 4
    one = await funding.get(url)
    assert one["months_left"] == 0 and [p["month"] for p in one["payments"]] == ["2024-01", "2024-02", "2024-03",
                                                                                  "2024-04"]  # fmt: skip
    payments = await funding.get(f"{url}/payments")
    assert [p["amount"] for p in payments["items"]] == ["125.00"] * 4 and payments["months_left"] == 0
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
    assert (year["committed"], year["paid"]) == ("500.00", "0.00")  # committed when prepared, not paid yet
    for p in payments["items"]:
        await funding.post(f"/api/v1/funding/aid-payments/{p['id']}/approve", headers=funding.funder(), expect=200)
        paid = await funding.post(f"/api/v1/funding/aid-payments/{p['id']}/paid", headers=funding.manager(),
                                  expect=200)  # fmt: skip
        assert (paid["status"], paid["paid_by"], paid["decided_by"], paid["allowed"]) == (
            "paid", "manager-1", "funder-1", [])  # fmt: skip
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
    assert (year["committed"], year["paid"]) == ("500.00", "500.00")
    # each payment split 70/30: 87.50 + 37.50, committed then paid, tied to the payment
    for kind in ("committed", "paid"):
        rows = (await funding.get("/api/v1/funding/ledger", kind=kind))["items"]
        assert sorted({r["amount"] for r in rows}) == ["37.50", "87.50"] and len(rows) == 8
        assert {r["aid_payment_id"] for r in rows} == {p["id"] for p in payments["items"]}


async def test_an_aid_payment_is_approved_by_another_person_then_paid(funding):
    fund, url, beneficiary = await aid_beneficiary(funding)
    payment = (await funding.post(f"{url}/payments", {"month": "2024-01"}))["payments"][0]
    at = f"/api/v1/funding/aid-payments/{payment['id']}"
    # not paid before it is approved; the preparer (even an admin) may not approve; a manager is no funder
    early = await funding.client.post(f"{at}/paid", headers=funding.manager())
    assert early.status_code == 409 and early.json()["allowed"] == ["approved", "rejected"]
    same = await funding.client.post(f"{at}/approve", headers=funding.headers("manager-1", ("admin",)))
    assert same.status_code == 403 and same.json()["rule"] == "four-eyes"
    assert (await funding.client.post(f"{at}/approve", headers=funding.manager())).status_code == 403
    approved = await funding.post(f"{at}/approve", {"reason": "pièces vues"}, headers=funding.funder(), expect=200)
    assert (approved["status"], approved["decision_reason"], approved["allowed"]) == ("approved", "pièces vues",
                                                                                      ["paid"])  # fmt: skip
    again = await funding.client.post(f"{at}/reject", headers=funding.funder("funder-2"))
    assert again.status_code == 409 and again.json()["status_now"] == "approved"
    assert (await funding.get(at))["status"] == "approved"
    await funding.post(f"{at}/paid", headers=funding.manager(), expect=200)
    twice = await funding.client.post(f"{at}/paid", headers=funding.manager())
    assert twice.status_code == 409 and twice.json()["allowed"] == []
    # another territory does not see it
    other = await funding.client.get(at, headers=funding.headers(tenant="indre"))
    assert other.status_code == 404
    assert (await funding.client.get(f"/api/v1/funding/aid-payments/{uuid.uuid4()}",
                                     headers=funding.manager())).status_code == 404  # fmt: skip
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
    assert (year["committed"], year["paid"]) == ("125.00", "125.00")
    assert beneficiary["months_left"] == 4


async def test_a_rejected_aid_payment_releases_its_month_and_the_budget(funding):
    fund, url, _ = await aid_beneficiary(funding, envelope="200.00")
    first = (await funding.post(f"{url}/payments", {"month": "2024-01"}))["payments"][0]
    over = await funding.client.post(f"{url}/payments", json={"month": "2024-02"}, headers=funding.manager())
    assert over.status_code == 409 and over.json()["committed"] == "125.00"  # 250 > 200: refused, nothing written
    await funding.post(f"{url}/payments", {"month": "2024-01"}, expect=409)  # the same month again
    rejected = await funding.post(f"/api/v1/funding/aid-payments/{first['id']}/reject",
                                  {"reason": "pas de justificatif"}, headers=funding.funder(), expect=200)  # fmt: skip
    assert (rejected["status"], rejected["allowed"]) == ("rejected", [])
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
    assert year["committed"] == "0.00"
    released = (await funding.get("/api/v1/funding/ledger", kind="released"))["items"]
    assert sorted(r["amount"] for r in released) == ["-37.50", "-87.50"]
    # the month is free again, and counts once
    again = await funding.post(f"{url}/payments", {"month": "2024-01"})
    assert [(p["month"], p["status"]) for p in again["payments"]] == [("2024-01", "rejected"), ("2024-01", "prepared")]
    assert again["months_left"] == 3


async def test_an_aid_month_twice_is_refused(funding):
    _, url, beneficiary = await aid_beneficiary(funding)
    await funding.post(f"{url}/payments", {"month": "2024-01"})
    await funding.post(f"{url}/payments", {"month": "2024-01"}, expect=409)
    schemes = url.rsplit("/", 1)[0]
    await funding.post(schemes, {"participant_id": beneficiary["participant_id"]}, expect=409)


# ---------------------------------------------------------------------------------------------- ledger
async def test_ledger_filters_pages_and_csv(funding):
    fund, convention, _ = await setup_convention(funding)
    await funding.post("/api/v1/funding/runs", {"period": "2024-01"})
    await funding.post("/api/v1/funding/runs", {"period": "2024-02"})
    everything = await funding.get("/api/v1/funding/ledger")
    assert len(everything["items"]) == 4 and everything["next_after"] is None
    page = await funding.get("/api/v1/funding/ledger", limit=3)
    assert len(page["items"]) == 3 and page["next_after"] == page["items"][-1]["id"]
    rest = await funding.get("/api/v1/funding/ledger", limit=3, after=page["next_after"])
    assert len(rest["items"]) == 1
    huge = await funding.client.get("/api/v1/funding/ledger", params={"after": 2**64}, headers=funding.funder())
    assert huge.status_code == 422 and [e["field"] for e in huge.json()["errors"]] == ["after"]  # not a 500
    january = await funding.get("/api/v1/funding/ledger", period="2024-01")
    assert january["total"] == "1678.57"
    funder_id = fund["funders"][0]["id"]
    state = await funding.get("/api/v1/funding/ledger", funder_id=funder_id, convention_id=convention["id"])
    assert {r["funder_id"] for r in state["items"]} == {funder_id}
    response = await funding.client.get("/api/v1/funding/ledger", params={"format": "csv", "period": "2024-01"},
                                        headers=funding.funder())  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["kind"], r["amount"]) for r in rows] == [("committed", "1175.00"), ("committed", "503.57")]


async def test_nothing_half_written_and_the_ledger_is_append_only(funding):
    """A run failing half-way (no SMIC known for one convention's month) leaves no row and no event."""
    await setup_convention(funding, workers=(("35", "2023-01-01"),), convention={"period": {"start": "2023-01-01"}})
    before = await events(funding)
    response = await funding.client.post("/api/v1/funding/runs", json={"period": "2023-12"}, headers=funding.manager())
    assert response.status_code == 422
    async with funding.app.state.sessionmaker() as session:
        for table in (disbursements, ledger):
            assert (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one() == 0
    assert await events(funding) == before

    await setup_convention(funding)
    await funding.post("/api/v1/funding/runs", {"period": "2024-01"})
    for statement in (sa.update(ledger).values(amount=0), sa.delete(ledger)):
        with pytest.raises(sa.exc.DatabaseError, match="immutable"):
            async with funding.app.state.sessionmaker() as session, session.begin():
                await session.execute(statement)


# ----------------------------------------------------------------------------------- roles, isolation
async def test_roles(funding):
    viewer = funding.headers("v", ("viewer",))
    assert (await funding.client.get("/api/v1/funding/funds", headers=viewer)).status_code == 200
    assert (await funding.client.post("/api/v1/funding/funds", json=fund_body(), headers=viewer)).status_code == 403
    referent = funding.headers("r", ("referent",))
    assert (await funding.client.get("/api/v1/funding/ledger", headers=referent)).status_code == 200
    integration = funding.headers("i", ("integration",))
    assert (await funding.client.get("/api/v1/funding/ledger", headers=integration)).status_code == 403
    runs = await funding.client.post("/api/v1/funding/runs", json={"period": "2024-01"}, headers=funding.funder())
    assert runs.status_code == 403 and runs.json()["required_roles"] == ["fund_manager"]
    admin = funding.headers("a", ("admin",))
    assert (await funding.client.post("/api/v1/funding/funds", json=fund_body(), headers=admin)).status_code == 201
    assert (await funding.client.get("/api/v1/funding/funds")).status_code == 401


async def test_tenant_isolation_on_every_route(funding):
    fund, convention, (worker,) = await setup_convention(funding)
    d = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    await funding.post(f"/api/v1/funding/disbursements/{d['id']}/approve", headers=funding.funder(), expect=200)
    batch = await funding.post("/api/v1/funding/payment-batches", {"disbursement_ids": [d["id"]]})
    scheme = await funding.post("/api/v1/funding/aid-schemes", {"fund_id": fund["id"], "name": "Boost",
                                                                "monthly_amount": "125", "max_months": 4})  # fmt: skip
    beneficiary = await funding.post(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries",
                                     {"participant_id": str(uuid.uuid4())})  # fmt: skip
    aid = (await funding.post(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries/{beneficiary['id']}/payments",
                              {"month": "2024-02"}))["payments"][0]  # fmt: skip
    manager, funder = funding.manager("indre"), funding.funder("funder-9", "indre")
    c = funding.client
    not_found = [
        await c.get(f"/api/v1/funding/funds/{fund['id']}", headers=manager),
        await c.get(f"/api/v1/funding/funds/{fund['id']}/budget", headers=manager),
        await c.put(f"/api/v1/funding/funds/{fund['id']}/envelopes/2024", json={"amount": "1"}, headers=manager),
        await c.get(f"/api/v1/funding/conventions/{convention['id']}", headers=manager),
        await c.get(f"/api/v1/funding/conventions/{convention['id']}/workers", headers=manager),
        await c.get(f"/api/v1/funding/conventions/{convention['id']}/outstanding", headers=manager),
        await c.post(f"/api/v1/funding/conventions/{convention['id']}/workers", headers=manager,
                     json={"participant_id": str(uuid.uuid4()), "weekly_hours": 35, "start_date": "2024-01-01"}),
        await c.patch(f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}",
                      json={"weekly_hours": 20}, headers=manager),
        await c.post(f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}/hours",
                     json={"weekly_hours": 20, "valid_from": "2024-06-01"}, headers=manager),
        await c.get(f"/api/v1/funding/disbursements/{d['id']}", headers=manager),
        await c.post(f"/api/v1/funding/disbursements/{d['id']}/approve", headers=funder),
        await c.post(f"/api/v1/funding/disbursements/{d['id']}/reject", headers=funder),
        await c.post("/api/v1/funding/payment-batches", json={"disbursement_ids": [d["id"]]}, headers=manager),
        await c.get(f"/api/v1/funding/payment-batches/{batch['id']}", headers=manager),
        await c.get(f"/api/v1/funding/payment-batches/{batch['id']}/sepa.xml", headers=manager),
        await c.post(f"/api/v1/funding/payment-batches/{batch['id']}/paid", headers=manager),
        await c.get(f"/api/v1/funding/aid-schemes/{scheme['id']}", headers=manager),
        await c.get(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries", headers=manager),
        await c.post(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries", headers=manager,
                     json={"participant_id": str(uuid.uuid4())}),
        await c.post(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries/{beneficiary['id']}/payments",
                     json={"month": "2024-01"}, headers=manager),
        await c.get(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries/{beneficiary['id']}", headers=manager),
        await c.get(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries/{beneficiary['id']}/payments",
                    headers=manager),
        await c.get(f"/api/v1/funding/aid-payments/{aid['id']}", headers=manager),
        await c.post(f"/api/v1/funding/aid-payments/{aid['id']}/approve", headers=funder),
        await c.post(f"/api/v1/funding/aid-payments/{aid['id']}/reject", headers=funder),
        await c.post(f"/api/v1/funding/aid-payments/{aid['id']}/paid", headers=manager),
    ]  # fmt: skip
    assert [r.status_code for r in not_found] == [404] * len(not_found), [
        r.text for r in not_found if r.status_code != 404
    ]
    # foreign ids in a body are unknown too
    foreign_fund = await c.post("/api/v1/funding/conventions", json=convention_body(fund["id"]), headers=manager)
    assert foreign_fund.status_code == 422 and foreign_fund.json()["errors"][0]["field"] == "fund_id"
    foreign_scheme = await c.post(
        "/api/v1/funding/aid-schemes",
        headers=manager,
        json={"fund_id": fund["id"], "name": "x", "monthly_amount": "1", "max_months": 1},
    )
    assert foreign_scheme.status_code == 422
    # lists are empty, and a run there creates nothing
    for url in ("funds", "conventions", "disbursements", "payment-batches", "aid-schemes", "ledger"):
        assert (await funding.get(f"/api/v1/funding/{url}", headers=manager))["items"] == [], url
    run = await c.post("/api/v1/funding/runs", json={"period": "2024-01"}, headers=manager)
    assert run.status_code == 200 and run.json()["created"] == []
    # and the first territory's data is intact
    assert (await funding.get(f"/api/v1/funding/disbursements/{d['id']}"))["status"] == "approved"
    assert (await funding.get(f"/api/v1/funding/payment-batches/{batch['id']}"))["status"] == "created"
    assert TENANT != "indre"


async def test_a_run_failing_at_its_last_write_leaves_nothing(funding, monkeypatch):
    """Fault injection: the run dies while writing its outbox rows (its last write). The disbursements,
    lines, parts and ledger rows written before it in the transaction are gone too."""
    from tremplin_funding import service_layer
    from tremplin_funding.api.schemas import RunIn
    from tremplin_shared.identity import Identity
    from tremplin_shared.messaging import outbox as outbox_module

    await setup_convention(funding)
    real_add_rows = outbox_module.add_rows

    async def failing_add_rows(session, rows):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(outbox_module, "add_rows", failing_add_rows)
    async with funding.app.state.sessionmaker() as session:
        with pytest.raises(RuntimeError):
            await service_layer.run_period(session, Identity(TENANT, "manager-1", ("fund_manager",)),
                                           RunIn(period="2024-01"))  # fmt: skip
    async with funding.app.state.sessionmaker() as session:
        for table in (disbursements, ledger, outbox):
            assert (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one() == 0
    monkeypatch.setattr(outbox_module, "add_rows", real_add_rows)
    assert len((await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]) == 1


async def test_a_smic_correction_mid_month_is_an_adjustment(funding):
    """March 2024 at 35 h and a rate of 1.00: 151.666… × 11.65 = 1 766.9166… → 1 766.92. A value of 12.00 from
    16 March is then published: 15 days at 11.65 and 16 at 12.00 of 31 → 1 794.31 (test_domain.py), so the
    next run adds an adjustment of 27.39."""
    _, _, (worker,) = await setup_convention(funding, convention={"cde_rate": "1.00"})
    (first,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-03"}))["created"]
    assert first["total"] == "1766.92" and first["lines"][0]["smic"] == [["11.65", 31]]
    response = await funding.client.put("/api/v1/funding/smic-rates/2024-03-16", json={"hourly": "12.00"},
                                        headers=funding.manager())  # fmt: skip
    assert response.status_code == 200
    (adjustment,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-03"}))["created"]
    (line,) = adjustment["lines"]
    assert (line["worker_id"], line["kind"], line["amount"], line["expected"]) == (
        worker["id"], "adjustment", "27.39", "1794.31")  # fmt: skip
    assert line["smic"] == [["11.65", 15], ["12.00", 16]]


# ------------------------------------------------------------------------------ netting overpayments
def transfers_of(xml: bytes) -> tuple[str, dict[str, str]]:
    root = ET.fromstring(xml)
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    (info,) = root.findall("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert info.find("p:CtrlSum", NS).text == header.find("p:CtrlSum", NS).text
    amounts = {tx.find("p:PmtId/p:EndToEndId", NS).text: tx.find("p:Amt/p:InstdAmt", NS).text
               for tx in info.findall("p:CdtTrfTxInf", NS)}  # fmt: skip
    assert sum(D(a) for a in amounts.values()) == D(header.find("p:CtrlSum", NS).text)
    assert header.find("p:NbOfTxs", NS).text == str(len(amounts))
    return header.find("p:CtrlSum", NS).text, amounts


async def approve_all(funding, created: list[dict]) -> None:
    for d in created:
        await funding.post(f"/api/v1/funding/disbursements/{d['id']}/approve", headers=funding.funder(), expect=200)


async def test_an_overpayment_is_deducted_from_the_next_payments_of_its_convention(funding):
    """January paid in full for w1 and w2 (3357.14); both turn out to have left on 10 January: an
    adjustment of −2274.20 (2 × −1137.10, split 70/30 as −1591.94 / −682.26). February pays w3 from the
    17th (752.46, wholly absorbed: no transfer) and another EBE (1678.57, untouched): 1521.74 stays
    outstanding; March pays w3 1678.57, of which 1521.74 is deducted: 156.83 is transferred."""
    fund, convention, (w1, w2) = await setup_convention(funding, workers=(("35", "2024-01-01"), ("35", "2024-01-01")))
    other = await funding.post("/api/v1/funding/conventions", convention_body(
        fund["id"], beneficiary={"name": "EBE Vendômois", "siret": "41234567000019", "iban": EBE_IBAN}))  # fmt: skip
    url = f"/api/v1/funding/conventions/{convention['id']}/workers"
    (january,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    await approve_all(funding, [january])
    paid = await funding.post("/api/v1/funding/payment-batches", {"disbursement_ids": [january["id"]]})
    await funding.post(f"/api/v1/funding/payment-batches/{paid['id']}/paid", expect=200)
    for worker in (w1, w2):
        await funding.client.patch(f"{url}/{worker['id']}", json={"end_date": "2024-01-10"}, headers=funding.manager())
    (overpaid,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    assert (overpaid["kind"], overpaid["total"]) == ("adjustment", "-2274.20")
    assert [p["amount"] for p in overpaid["parts"]] == ["-1591.94", "-682.26"]
    # not yet approved: not outstanding, and never a transfer of its own
    assert (await funding.get(f"/api/v1/funding/conventions/{convention['id']}"))["outstanding"] == "0.00"
    await approve_all(funding, [overpaid])
    alone = await funding.client.post("/api/v1/funding/payment-batches", json={"disbursement_ids": [overpaid["id"]]},
                                      headers=funding.manager())  # fmt: skip
    assert alone.status_code == 409 and alone.json()["disbursements"] == [overpaid["id"]]
    assert (await funding.get(f"/api/v1/funding/conventions/{convention['id']}"))["outstanding"] == "-2274.20"

    await funding.post(url, {"participant_id": str(uuid.uuid4()), "weekly_hours": "35", "start_date": "2024-02-17"})
    await funding.post(
        f"/api/v1/funding/conventions/{other['id']}/workers",
        {"participant_id": str(uuid.uuid4()), "weekly_hours": "35", "start_date": "2024-02-01"},
    )
    february = {
        d["convention_id"]: d for d in (await funding.post("/api/v1/funding/runs", {"period": "2024-02"}))["created"]
    }
    assert (february[convention["id"]]["total"], february[other["id"]]["total"]) == ("752.46", "1678.57")
    await approve_all(funding, list(february.values()))
    only_ours = await funding.client.post("/api/v1/funding/payment-batches", headers=funding.manager(),
                                          json={"disbursement_ids": [february[convention["id"]]["id"]]})  # fmt: skip
    assert only_ours.status_code == 409 and only_ours.json()["outstanding"] == {convention["id"]: "-1521.74"}
    feb_batch = await funding.post("/api/v1/funding/payment-batches",
                                   {"disbursement_ids": [d["id"] for d in february.values()]})  # fmt: skip
    assert (feb_batch["total"], feb_batch["transactions"]) == ("1678.57", 1)
    assert [(o["disbursement_id"], o["absorbed_by"], o["amount"]) for o in feb_batch["offsets"]] == [
        (overpaid["id"], february[convention["id"]]["id"], "752.46")]  # fmt: skip
    xml = await funding.client.get(f"/api/v1/funding/payment-batches/{feb_batch['id']}/sepa.xml",
                                   headers=funding.manager())  # fmt: skip
    assert transfers_of(xml.content) == ("1678.57", {uuid.UUID(february[other["id"]]["id"]).hex: "1678.57"})
    outstanding = await funding.get(f"/api/v1/funding/conventions/{convention['id']}/outstanding")
    assert outstanding["outstanding"] == "-1521.74"
    (item,) = outstanding["items"]
    assert (item["disbursement_id"], item["total"], item["absorbed"], item["outstanding"]) == (
        overpaid["id"], "-2274.20", "752.46", "-1521.74")  # fmt: skip
    listed = {c["id"]: c["outstanding"] for c in (await funding.get("/api/v1/funding/conventions"))["items"]}
    assert listed == {convention["id"]: "-1521.74", other["id"]: "0.00"}

    march = {
        d["convention_id"]: d for d in (await funding.post("/api/v1/funding/runs", {"period": "2024-03"}))["created"]
    }
    await approve_all(funding, list(march.values()))
    mar_batch = await funding.post(
        "/api/v1/funding/payment-batches", {"disbursement_ids": [march[convention["id"]]["id"]]}
    )
    assert (mar_batch["total"], mar_batch["transactions"]) == ("156.83", 1)  # 1678.57 − 1521.74
    xml = await funding.client.get(f"/api/v1/funding/payment-batches/{mar_batch['id']}/sepa.xml",
                                   headers=funding.manager())  # fmt: skip
    assert transfers_of(xml.content) == ("156.83", {uuid.UUID(march[convention["id"]]["id"]).hex: "156.83"})
    assert (await funding.get(f"/api/v1/funding/conventions/{convention['id']}/outstanding"))["outstanding"] == "0.00"
    # nothing left: the next batch of the convention pays in full
    other_march = await funding.post(
        "/api/v1/funding/payment-batches", {"disbursement_ids": [march[other["id"]]["id"]]}
    )
    assert other_march["total"] == "1678.57" and other_march["offsets"] == []

    # paid: the offsets become ledger rows (per funder, from the adjustment to the payment it came off)
    for batch in (feb_batch, mar_batch):
        await funding.post(f"/api/v1/funding/payment-batches/{batch['id']}/paid", expect=200)
    rows = (await funding.get("/api/v1/funding/ledger", kind="offset"))["items"]
    assert [(r["disbursement_id"], r["absorbed_by"], r["batch_id"], r["amount"]) for r in rows] == [
        (overpaid["id"], february[convention["id"]]["id"], feb_batch["id"], "-526.72"),
        (overpaid["id"], february[convention["id"]]["id"], feb_batch["id"], "-225.74"),
        (overpaid["id"], march[convention["id"]]["id"], mar_batch["id"], "-1065.22"),
        (overpaid["id"], march[convention["id"]]["id"], mar_batch["id"], "-456.52"),
    ]
    assert sum(D(r["amount"]) for r in rows) == D("-2274.20")
    by_payment = await funding.get("/api/v1/funding/ledger", absorbed_by=march[convention["id"]]["id"])
    assert by_payment["total"] == "-1521.74"
    # the paid events say what each transfer paid: the total, less what netting took off it
    async with funding.app.state.sessionmaker() as session:
        values = (
            await session.execute(
                sa.select(outbox.c.value)
                .where(outbox.c.event_type == "fr.tremplin.funding.disbursement.paid.v1")
                .order_by(outbox.c.seq)
            )
        ).scalars()
        paid = {e["disbursement_id"]: (e["total"], e["deducted"], e["transferred"]) for e in map(json.loads, values)}
    assert paid == {
        january["id"]: ("3357.14", "0.00", "3357.14"),
        february[convention["id"]]["id"]: ("752.46", "752.46", "0.00"),  # wholly absorbed: no transfer
        february[other["id"]]["id"]: ("1678.57", "0.00", "1678.57"),  # another convention: untouched
        march[convention["id"]]["id"]: ("1678.57", "1521.74", "156.83"),
    }
    exported = await funding.client.get("/api/v1/funding/ledger", params={"format": "csv", "kind": "offset"},
                                        headers=funding.funder())  # fmt: skip
    csv_rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["amount"], r["absorbed_by"]) for r in csv_rows][-1] == ("-456.52", march[convention["id"]]["id"])
    # the budget: paid is what left the account — 3357.14 + 752.46 + 1678.57 + 1678.57 − 2274.20 (the
    # batch of the other EBE's March is not paid yet)
    year = (await funding.get(f"/api/v1/funding/funds/{fund['id']}/budget"))["years"][0]
    assert year["paid"] == str(D("3357.14") + D("752.46") + D("1678.57") + D("1678.57") - D("2274.20"))
    # the overpayment stays approved (it is never transferred), and nothing was edited
    assert (await funding.get(f"/api/v1/funding/disbursements/{overpaid['id']}"))["status"] == "approved"
    assert (await funding.get(f"/api/v1/funding/disbursements/{january['id']}"))["total"] == "3357.14"
    async with funding.app.state.sessionmaker() as session:
        for statement in (sa.update(offsets).values(amount=1), sa.delete(offsets)):
            with pytest.raises(sa.exc.DatabaseError, match="immutable"):
                async with session.begin():
                    await session.execute(statement)


# ------------------------------------------------------------------------------------ dated weekly hours
async def test_a_change_of_hours_is_dated_and_validated(funding):
    _, convention, (worker,) = await setup_convention(funding, workers=(("35", "2024-01-10"),))
    url = f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}/hours"
    assert worker["hours"] == [{"valid_from": "2024-01-10", "weekly_hours": "35.00"}]
    for body, field in (
        ({"weekly_hours": "24", "valid_from": "2024-01-09"}, "valid_from"),  # before the start
        ({"weekly_hours": "36", "valid_from": "2024-03-01"}, "weekly_hours"),
        ({"weekly_hours": "0", "valid_from": "2024-03-01"}, "weekly_hours"),
        ({"weekly_hours": "24"}, "valid_from"),
        ({"weekly_hours": "24", "valid_from": "2024-02-30"}, "valid_from"),
    ):
        bad = await funding.client.post(url, json=body, headers=funding.manager())
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in bad.json()["errors"]] == [field], bad.text
    reader = await funding.client.post(url, json={"weekly_hours": "24", "valid_from": "2024-03-01"},
                                       headers=funding.funder())  # fmt: skip
    assert reader.status_code == 403
    changed = await funding.post(url, {"weekly_hours": "24", "valid_from": "2024-03-01"})
    assert changed["weekly_hours"] == "24.00" and changed["hours"] == [
        {"valid_from": "2024-01-10", "weekly_hours": "35.00"},
        {"valid_from": "2024-03-01", "weekly_hours": "24.00"},
    ]
    # the same day again corrects it; a change on the start day is accepted
    corrected = await funding.post(url, {"weekly_hours": "28", "valid_from": "2024-03-01"})
    assert [h["weekly_hours"] for h in corrected["hours"]] == ["35.00", "28.00"]
    await funding.post(url, {"weekly_hours": "30", "valid_from": "2024-01-10"})
    listed = (await funding.get(f"/api/v1/funding/conventions/{convention['id']}/workers"))["items"][0]
    assert [(h["valid_from"], h["weekly_hours"]) for h in listed["hours"]] == [
        ("2024-01-10", "30.00"), ("2024-03-01", "28.00")]  # fmt: skip
    assert listed["weekly_hours"] == "28.00"
    missing = await funding.client.post(f"/api/v1/funding/conventions/{convention['id']}/workers/{uuid.uuid4()}/hours",
                                        json={"weekly_hours": "24", "valid_from": "2024-03-01"},
                                        headers=funding.manager())  # fmt: skip
    assert missing.status_code == 404


async def test_a_backdated_change_of_hours_is_an_adjustment_of_the_months_it_touches(funding):
    """35 h from 1 January, January and February run (1678.57 each). 24 h from 16 January is then
    recorded: January is 15 days at 35 h and 16 at 24 h → 1406.29 (test_domain.py), an adjustment of
    −272.28; February is all at 24 h → 1151.02, −527.55. March is computed at 24 h from the start."""
    _, convention, (worker,) = await setup_convention(funding)
    url = f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}/hours"
    january = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    assert january["lines"][0]["hours"] == [["35.00", 31]]
    await funding.post("/api/v1/funding/runs", {"period": "2024-02"})
    await funding.post(url, {"weekly_hours": "24", "valid_from": "2024-01-16"})
    (adjustment,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    (line,) = adjustment["lines"]
    assert (adjustment["kind"], line["kind"], line["amount"], line["expected"]) == (
        "adjustment", "adjustment", "-272.28", "1406.29")  # fmt: skip
    assert line["hours"] == [["35.00", 15], ["24.00", 16]] and line["weekly_hours"] == "24.00"
    assert (await funding.get(f"/api/v1/funding/disbursements/{january['id']}"))["total"] == "1678.57"
    (february,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-02"}))["created"]
    assert (february["total"], february["lines"][0]["expected"]) == ("-527.55", "1151.02")
    (march,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-03"}))["created"]
    assert (march["kind"], march["total"]) == ("cde", "1151.02")
    # a change from April touches no month already run: re-runs create nothing
    await funding.post(url, {"weekly_hours": "30", "valid_from": "2024-04-01"})
    for period in ("2024-01", "2024-02", "2024-03"):
        again = await funding.client.post("/api/v1/funding/runs", json={"period": period}, headers=funding.manager())
        assert again.status_code == 200 and again.json()["created"] == [], period
    # PATCH weekly_hours corrects the hours from the start, until the next dated change
    patched = await funding.client.patch(f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}",
                                         json={"weekly_hours": "35"}, headers=funding.manager())  # fmt: skip
    assert [(h["valid_from"], h["weekly_hours"]) for h in patched.json()["hours"]] == [
        ("2024-01-01", "35.00"), ("2024-01-16", "24.00"), ("2024-04-01", "30.00")]  # fmt: skip
    assert patched.json()["weekly_hours"] == "30.00"
    again = await funding.client.post("/api/v1/funding/runs", json={"period": "2024-01"}, headers=funding.manager())
    assert again.status_code == 200 and again.json()["created"] == []  # 1 → 15 January were already at 35 h


async def test_a_change_of_hours_recorded_by_mistake_is_withdrawn_and_its_months_adjusted_back(funding):
    """35 h from 1 January, January run (1678.57). 24 h from 16 January is recorded by mistake and
    January re-run (−272.28); the change is withdrawn: 35 h go on, and the next run of January puts the
    272.28 back. Nothing is edited: three disbursements, each with the hours it was computed from."""
    _, convention, (worker,) = await setup_convention(funding)
    url = f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}/hours"
    january = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"][0]
    await funding.post(url, {"weekly_hours": "24", "valid_from": "2024-01-16"})
    (mistake,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    assert mistake["total"] == "-272.28"
    for headers, status in ((funding.funder(), 403), (funding.manager(), 200)):
        withdrawn = await funding.client.delete(f"{url}/2024-01-16", headers=headers)
        assert withdrawn.status_code == status, withdrawn.text
    assert withdrawn.json()["weekly_hours"] == "35.00"
    assert withdrawn.json()["hours"] == [{"valid_from": "2024-01-01", "weekly_hours": "35.00"}]
    (back,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    (line,) = back["lines"]
    assert (back["total"], line["expected"], line["hours"]) == ("272.28", "1678.57", [["35.00", 31]])
    assert (await funding.get(f"/api/v1/funding/disbursements/{mistake['id']}"))["lines"][0]["hours"] == [
        ["35.00", 15], ["24.00", 16]]  # fmt: skip
    assert (await funding.get(f"/api/v1/funding/disbursements/{january['id']}"))["total"] == "1678.57"
    # no such change any more, another territory's worker, the start row: nothing is removed
    for path, headers, status in (
        (f"{url}/2024-01-16", funding.manager(), 404),
        (f"{url}/2024-01-16", funding.headers("manager-9", ("fund_manager",), tenant="cher"), 404),
        (f"{url}/2024-01-01", funding.manager(), 409),
        (f"{url}/2024-13-01", funding.manager(), 422),
    ):
        refused = await funding.client.delete(path, headers=headers)
        assert refused.status_code == status and refused.headers["content-type"] == "application/problem+json", path
    assert (await funding.get(f"/api/v1/funding/conventions/{convention['id']}/workers"))["items"][0]["hours"] == [
        {"valid_from": "2024-01-01", "weekly_hours": "35.00"}]  # fmt: skip


async def test_a_batch_failing_at_its_offsets_leaves_nothing(funding, monkeypatch):
    """Fault injection: the batch dies writing its offsets (its last write): no batch, the payment is
    still free for the next batch, the overpayment still wholly outstanding."""
    from tremplin_funding.adapters import repository

    _, convention, (worker, _) = await setup_convention(funding, workers=(("35", "2024-01-01"), ("35", "2024-01-01")))
    await funding.post("/api/v1/funding/runs", {"period": "2024-01"})
    await funding.client.patch(f"/api/v1/funding/conventions/{convention['id']}/workers/{worker['id']}",
                               json={"end_date": "2024-01-10"}, headers=funding.manager())  # fmt: skip
    (overpaid,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    (february,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-02"}))["created"]
    await approve_all(funding, [overpaid, february])
    real_insert = repository.insert

    async def failing_insert(session, table, rows):
        if table.name == "disbursement_offsets":
            raise RuntimeError("the disk is full")
        await real_insert(session, table, rows)

    monkeypatch.setattr(repository, "insert", failing_insert)
    response = await funding.client.post("/api/v1/funding/payment-batches", json={"disbursement_ids": [february["id"]]},
                                         headers=funding.manager())  # fmt: skip
    assert response.status_code == 500
    monkeypatch.setattr(repository, "insert", real_insert)
    assert (await funding.get("/api/v1/funding/payment-batches"))["items"] == []
    assert (await funding.get(f"/api/v1/funding/disbursements/{february['id']}"))["batch_id"] is None
    assert (await funding.get(f"/api/v1/funding/conventions/{convention['id']}"))["outstanding"] == "-1137.10"
    batch = await funding.post("/api/v1/funding/payment-batches", {"disbursement_ids": [february["id"]]})
    assert batch["total"] == "541.47"  # 1678.57 − 1137.10
