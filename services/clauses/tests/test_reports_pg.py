"""Reports on PostgreSQL, from a deterministic dataset built here: 7 markets of 5 buyers, 14 lots,
24 participants, 6 months of hours, some rejected and some left pending, a second territory. The
territory report (JSON and CSV) and the buyer's report must match the totals computed here, to the
hundredth of an hour and to the person. The 6/12-month outcomes are checked on a small fixture of
their own, against answers worked out by hand person by person (not by the rule's formula)."""

import csv
import io
import uuid
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

from tremplin_shared.events import ParcoursExitedV1, ParcoursTransitionedV1, PlacementHiredV1

from .conftest import OTHER, TENANT, lot_body

D = Decimal
BUYERS = ["22410001600019", "20004041800010", "21410018200010", "73282932000074", "41234567000019"]
MONTHS = [date(2026, m, 1) for m in range(1, 7)]  # January to June 2026
CONTRACTS = ["cdi", "cdd", "professionalisation", "interim", "subsidised", "cdd"]
REPORT_FROM, REPORT_TO, AS_OF = "2026-02-01", "2026-05-31", date(2027, 12, 31)


def sex_of(i: int) -> str | None:
    return "F" if i < 10 else "M" if i < 22 else None


def months_of(i: int) -> list[int]:
    return [0, 5] if i >= 20 else list(range(6))  # 20-23 work only in January and June: outside the report


def hours_of(i: int, m: int) -> Decimal:
    return D(10 + i + m) + (D("0.25") if i % 2 else D(0))


def status_of(i: int, m: int) -> str:
    if (i + m) % 5 == 0:
        return "rejected"
    if (i + m) % 7 == 0:
        return "declared"
    return "validated"


def expected_report() -> dict:
    in_period = [m for m, month in enumerate(MONTHS) if date(2026, 2, 1) <= month <= date(2026, 5, 1)]
    total, people, placements_in, modes_hours, by_month = D(0), set(), set(), defaultdict(D), defaultdict(D)
    for i in range(24):
        for m in months_of(i):
            if status_of(i, m) != "validated":
                continue
            if m in in_period:
                total += hours_of(i, m)
                people.add(i)
                placements_in.add(i)
                modes_hours["temp_work_etti" if CONTRACTS[i % 6] == "interim" else "direct_hire"] += hours_of(i, m)
                by_month[f"{MONTHS[m]:%Y-%m}"] += hours_of(i, m)
    sexes = Counter(sex_of(i) or "unknown" for i in people)
    return {
        "validated_hours": total,
        "participants": len(people),
        "by_sex": {"F": sexes["F"], "M": sexes["M"], "unknown": sexes["unknown"]},
        "contracts": dict(Counter(CONTRACTS[i % 6] for i in placements_in)),
        "modes_hours": dict(modes_hours),
        "modes_placements": dict(
            Counter("temp_work_etti" if CONTRACTS[i % 6] == "interim" else "direct_hire" for i in placements_in)
        ),
        "by_month": dict(by_month),
    }


async def build(clauses) -> tuple[list[dict], list[str]]:
    markets = []
    for k in range(7):
        lots = [lot_body(1, required_hours="400", start_date="2026-01-01", end_date="2026-12-31"),
                lot_body(2, required_hours="250.5", start_date="2026-01-01", end_date="2026-12-31")]  # fmt: skip
        buyer = {"name": f"Acheteur {k % 4 if k < 6 else 4}", "siret": BUYERS[k % 4 if k < 6 else 4], "kind": "public"}
        markets.append(await clauses.market(reference=f"OP-{k}", buyer=buyer, lots=lots))
    lots = [lot for market in markets[:6] for lot in market["lots"]]  # 12 lots with people; market 6 has none
    people = []
    for i in range(24):
        pid = await clauses.participant(sex=sex_of(i))
        people.append(pid)
        lot = lots[i % 12]
        contract = CONTRACTS[i % 6]
        await clauses.place(lot["id"], pid, start_date="2026-01-01", contract_type=contract,
                            mode="temp_work_etti" if contract == "interim" else "direct_hire")  # fmt: skip
        for m in months_of(i):
            response = await clauses.declare(lot["id"], pid, f"{MONTHS[m]:%Y-%m}", hours_of(i, m))
            assert response.status_code == 201, response.text
            entry = response.json()
            if status_of(i, m) == "validated":
                assert (await clauses.validate(entry["id"])).status_code == 200
            elif status_of(i, m) == "rejected":
                assert (await clauses.reject(entry["id"])).status_code == 200
    # Another territory's hours, in the same months, count for nobody here.
    foreign_lot = (await clauses.market(OTHER, reference="OP-0"))["lots"][0]
    foreign = await clauses.participant(OTHER, sex="F")
    await clauses.place(foreign_lot["id"], foreign, tenant=OTHER)
    entry = (await clauses.declare(foreign_lot["id"], foreign, "2026-03", 100, tenant=OTHER)).json()
    assert (await clauses.validate(entry["id"], tenant=OTHER)).status_code == 200
    return markets, people


async def test_territory_and_buyer_reports_match_the_dataset(clauses_pg):
    clauses = clauses_pg
    markets, _ = await build(clauses)
    expected = expected_report()
    params = {"from": REPORT_FROM, "to": REPORT_TO, "as_of": AS_OF.isoformat()}
    response = await clauses.client.get("/api/v1/clauses/reports", params=params, headers=clauses.headers())
    assert response.status_code == 200, response.text
    report = response.json()
    assert D(report["validated_hours"]) == expected["validated_hours"]
    assert (report["operations"], report["buyers"]) == (6, 4)
    assert report["participants"] == expected["participants"] == 20
    assert report["participants_by_sex"] == expected["by_sex"] == {"F": 10, "M": 10, "unknown": 0}
    assert report["contracts_by_type"] == expected["contracts"]
    assert {m: D(f["validated_hours"]) for m, f in report["fulfilment_modes"].items()} == expected["modes_hours"]
    assert {m: f["placements"] for m, f in report["fulfilment_modes"].items()} == expected["modes_placements"]
    assert {x["month"]: D(x["validated_hours"]) for x in report["hours_by_month"]} == expected["by_month"]
    # Nobody here has a hire, a parcours move or an exit: all 20 are measured (as_of is far), none in work.
    for months in (6, 12):
        assert report["outcomes"][f"after_{months}_months"] == {"measured": 20, "in_work_or_training": 0,
                                                                 "share": "0.0000"}  # fmt: skip

    as_csv = await clauses.client.get("/api/v1/clauses/reports", params=params,
                                      headers=clauses.headers() | {"Accept": "text/csv"})  # fmt: skip
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = {(r["indicator"], r["breakdown"]): r["value"] for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert D(rows[("validated_hours", "")]) == expected["validated_hours"]
    assert rows[("participants", "")] == "20" and rows[("operations", "")] == "6" and rows[("buyers", "")] == "4"
    assert rows[("participants_by_sex", "F")] == "10"
    assert {k[1]: int(v) for k, v in rows.items() if k[0] == "contracts_by_type"} == expected["contracts"]
    assert rows[("outcome_after_12_months", "measured")] == "20"

    # The buyer's report of market 0: its lot 1 has people 0 and 12, its lot 2 people 1 and 13.
    market = markets[0]
    proof = (await clauses.client.get(f"/api/v1/clauses/markets/{market['id']}/report", params={"on": "2026-07-02"},
                                      headers=clauses.headers())).json()  # fmt: skip
    lot_people = {1: [0, 12], 2: [1, 13]}
    for lot in proof["lots"]:
        entries = [(i, m) for i in lot_people[lot["number"]] for m in months_of(i) if status_of(i, m) == "validated"]
        assert D(lot["validated_hours"]) == sum((hours_of(i, m) for i, m in entries), D(0))
        assert len(lot["entries"]) == len(entries) and lot["participants"] == 2
        assert all(e["validated_by"] == "facilitatrice" for e in lot["entries"])
    assert proof["participants"] == 4 and proof["market"]["reference"] == "OP-0"
    assert "participant_id" not in str(proof)
    proof_csv = await clauses.client.get(f"/api/v1/clauses/markets/{market['id']}/report",
                                         headers=clauses.headers() | {"Accept": "text/csv"})  # fmt: skip
    lines = list(csv.DictReader(io.StringIO(proof_csv.text)))
    assert len(lines) == sum(len(lot["entries"]) for lot in proof["lots"])
    assert sum(D(r["hours"]) for r in lines) == D(proof["validated_hours"])

    # Progress of market 0 agrees with the buyer's report.
    progress = (await clauses.client.get(f"/api/v1/clauses/markets/{market['id']}/progress",
                                         params={"on": "2026-07-02"}, headers=clauses.headers())).json()  # fmt: skip
    assert progress["total"]["validated"] == proof["validated_hours"]
    assert progress["total"]["required"] == "650.50"


# The outcome fixture: who (clause work from January), last validated month, and what is known after.
# Measure dates: last month March → 2026-09-30 (6) and 2027-03-31 (12); June → 2026-12-31 and
# 2027-06-30, after as_of (2027-03-31), so not measured at 12 months. Worked out by hand:
#                                                                            6 months  12 months
# A  clause hire CDD 2026-01-05, nothing after                                  no        no
# B  clause hire CDI 2026-01-05, nothing after                                  yes       yes
# C  clause hire CDI; parcours exit dropped_out 2026-11-15                      yes       no
# D  placement; parcours employed 2026-05-04, back to supported 2027-01-20      yes       no
# E  placement; training 2026-04-01, exit qualifying_training 2026-06-10        no        no
# F  placement; parcours training from 2026-08-01                               yes       yes
# G  placement; hire CDI 2026-10-01 (no lot)                                    no        yes
# H  placement, hours to June; parcours employed from 2026-07-15                yes       (not yet)
# I  clause hire CDI; hire interim 2026-12-01                                   yes       no
# J  placement, April rejected (last: March); employed from 2026-10-10          no        yes
# → 6 months: 10 measured, 6 in work or training (B C D F H I); 12 months: 9 measured, 4 (B F G J).
OUTCOME_AS_OF = "2027-03-31"


async def test_outcomes_six_and_twelve_months_after_the_last_clause_hours(clauses_pg):
    clauses = clauses_pg
    lot = (await clauses.market(reference="OP-OUT", lots=[lot_body(1, required_hours="2000")]))["lots"][0]

    async def person(months: range, clause_hire: str | None = None, rejected: str | None = None):
        pid = await clauses.participant()
        if clause_hire:
            await clauses.apply(TENANT, hire(pid, clause_hire, date(2026, 1, 5), lot["id"]))
        else:
            await clauses.place(lot["id"], pid)
        for m in months:
            entry = await clauses.declare(lot["id"], pid, f"2026-{m:02d}", 35)
            assert entry.status_code == 201, entry.text
            decide = clauses.reject if f"2026-{m:02d}" == rejected else clauses.validate
            assert (await decide(entry.json()["id"])).status_code == 200
        return uuid.UUID(pid)

    def hire(pid, contract_type: str, start: date, lot_id: str | None = None) -> PlacementHiredV1:
        return PlacementHiredV1(application_id=uuid.uuid4(), participant_id=uuid.UUID(str(pid)), offer_id=uuid.uuid4(),
                                employer_siret=BUYERS[3], contract_type=contract_type, start_date=start,
                                weekly_hours=35, clause_lot_id=uuid.UUID(lot_id) if lot_id else None)  # fmt: skip

    async def moves(pid, *steps: tuple[str, str, date, str | None]) -> None:
        parcours = uuid.uuid4()
        for from_state, to_state, at, exit_kind in steps:
            common = {"parcours_id": parcours, "participant_id": pid, "programme": "plie", "at": at}
            await clauses.apply(TENANT, ParcoursTransitionedV1(**common, from_state=from_state, to_state=to_state,
                                                               exit_kind=exit_kind))  # fmt: skip
            if to_state == "exited":
                await clauses.apply(TENANT, ParcoursExitedV1(**common, exit_kind=exit_kind,
                                                             positive=exit_kind == "qualifying_training"))  # fmt: skip

    jan_mar = range(1, 4)
    await person(jan_mar, clause_hire="cdd")  # A
    await person(jan_mar, clause_hire="cdi")  # B
    c = await person(jan_mar, clause_hire="cdi")
    await moves(c, ("supported", "exited", date(2026, 11, 15), "dropped_out"))
    d = await person(jan_mar)
    await moves(
        d, ("supported", "employed", date(2026, 5, 4), None), ("employed", "supported", date(2027, 1, 20), None)
    )
    e = await person(jan_mar)
    await moves(e, ("supported", "training", date(2026, 4, 1), None),
                ("training", "exited", date(2026, 6, 10), "qualifying_training"))  # fmt: skip
    f = await person(jan_mar)
    await moves(f, ("supported", "training", date(2026, 8, 1), None))
    g = await person(jan_mar)
    await clauses.apply(TENANT, hire(g, "cdi", date(2026, 10, 1)))
    h = await person(range(1, 7))
    await moves(h, ("supported", "employed", date(2026, 7, 15), None))
    i = await person(jan_mar, clause_hire="cdi")
    await clauses.apply(TENANT, hire(i, "interim", date(2026, 12, 1)))
    j = await person(range(1, 5), rejected="2026-04")
    await moves(j, ("supported", "employed", date(2026, 10, 10), None))

    params = {"from": "2026-01-01", "to": "2026-06-30", "as_of": OUTCOME_AS_OF}
    report = (await clauses.client.get("/api/v1/clauses/reports", params=params, headers=clauses.headers())).json()
    assert report["participants"] == 10
    assert report["outcomes"] == {
        "after_6_months": {"measured": 10, "in_work_or_training": 6, "share": "0.6000"},
        "after_12_months": {"measured": 9, "in_work_or_training": 4, "share": "0.4444"},
    }


async def test_an_empty_period_and_a_backwards_one(clauses):
    empty = await clauses.client.get("/api/v1/clauses/reports", params={"from": "2020-01-01", "to": "2020-12-31"},
                                     headers=clauses.headers())  # fmt: skip
    assert empty.status_code == 200
    body = empty.json()
    assert (body["validated_hours"], body["operations"], body["participants"]) == ("0.00", 0, 0)
    assert body["outcomes"]["after_6_months"] == {"measured": 0, "in_work_or_training": 0, "share": None}
    backwards = await clauses.client.get("/api/v1/clauses/reports", params={"from": "2026-05-01", "to": "2026-01-01"},
                                         headers=clauses.headers())  # fmt: skip
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to"
    missing = await clauses.client.get("/api/v1/clauses/reports", headers=clauses.headers())
    assert missing.status_code == 422 and {e["field"] for e in missing.json()["errors"]} == {"from", "to"}


async def test_the_cap_holds_under_concurrent_declarations_on_postgresql(clauses_pg):
    """Eight lots, the same person and month, 50 h on each at once: four are declared (200 h), the
    others refused — never more than 210 h."""
    import asyncio

    clauses = clauses_pg
    market = await clauses.market(lots=[lot_body(n) for n in range(1, 9)])
    pid = await clauses.participant()
    for lot in market["lots"]:
        await clauses.place(lot["id"], pid)
    results = await asyncio.gather(*(clauses.declare(lot["id"], pid, "2026-09", 50) for lot in market["lots"]))
    assert sorted(r.status_code for r in results) == [201] * 4 + [422] * 4


async def test_twin_requests_with_one_idempotency_key_create_one_entry_on_postgresql(clauses_pg):
    import asyncio

    clauses = clauses_pg
    lot = (await clauses.market())["lots"][0]
    pid = await clauses.participant()
    await clauses.place(lot["id"], pid)
    headers = clauses.headers() | {"Idempotency-Key": "portail-entreprise-8812"}
    body = {"participant_id": pid, "month": "2026-05", "hours": "150"}  # two of them would pass the cap
    url = f"/api/v1/clauses/lots/{lot['id']}/hours"
    results = await asyncio.gather(*(clauses.client.post(url, json=body, headers=headers) for _ in range(5)))
    assert [r.status_code for r in results] == [201] * 5, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    listed = (await clauses.client.get(url, headers=clauses.headers())).json()["items"]
    assert len(listed) == 1
