"""Placements and hours through the API (SQLite): eligibility refusal and override, the facilitator
role, the 210-hour cap across lots naming the other entries, the validation machine (409), only
validated hours counting, progress and `behind`, lot completion, events."""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from tremplin_clauses.adapters.orm import hours_entries, placements
from tremplin_shared.events import ParticipantRegisteredV1
from tremplin_shared.events.clauses import (
    ClauseHoursValidatedV1,
    ClauseLotCompletedV1,
    ClauseMarketCreatedV1,
    ClausePlacementCreatedV1,
)
from tremplin_shared.messaging.tables import outbox

from .conftest import TENANT, lot_body, market_body


async def event_types(app) -> list[str]:
    async with app.state.sessionmaker() as session:
        return [r.event_type for r in (await session.execute(sa.select(outbox).order_by(outbox.c.seq))).all()]


async def count(app, table) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def test_an_eligible_participant_is_placed(clauses):
    lot = (await clauses.market())["lots"][0]
    pid = await clauses.participant(eligible=True)
    placement = await clauses.place(lot["id"], pid, mode="temp_work_etti", contract_type="interim")
    assert (placement["eligible"], placement["override_reason"], placement["source"]) == (True, None, "api")
    assert (placement["mode"], placement["contract_type"]) == ("temp_work_etti", "interim")
    listed = await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}/placements", headers=clauses.headers())
    assert [p["id"] for p in listed.json()["items"]] == [placement["id"]]
    assert (await event_types(clauses.app))[-1] == ClausePlacementCreatedV1.ce_type
    again = await clauses.client.post(f"/api/v1/clauses/lots/{lot['id']}/placements",
                                      json={"participant_id": pid, "mode": "direct_hire", "contract_type": "cdi",
                                            "start_date": "2026-02-01"}, headers=clauses.headers())  # fmt: skip
    assert again.status_code == 409 and again.json()["existing_placement_id"] == placement["id"]


async def test_eligibility_refusal_and_facilitator_override(clauses):
    lot = (await clauses.market())["lots"][0]
    pid = await clauses.participant(eligible=False)
    body = {"participant_id": pid, "mode": "direct_hire", "contract_type": "cdd", "start_date": "2026-02-01"}
    url = f"/api/v1/clauses/lots/{lot['id']}/placements"
    refused = await clauses.client.post(url, json=body, headers=clauses.headers())
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "participant_id"
    assert "not clause-eligible" in refused.json()["errors"][0]["message"]
    reason = "Suivie par le PLIE du Blaisois depuis 2024, hors critères mais très éloignée de l'emploi"
    not_facilitator = await clauses.client.post(url, json=body | {"override_reason": reason}, headers=clauses.headers())
    assert not_facilitator.status_code == 403
    assert await count(clauses.app, placements) == 0
    overridden = await clauses.client.post(url, json=body | {"override_reason": reason}, headers=clauses.facilitator())
    assert overridden.status_code == 201, overridden.text
    kept = overridden.json()
    assert (kept["eligible"], kept["override_reason"], kept["override_by"]) == (False, reason, "facilitatrice")
    async with clauses.app.state.sessionmaker() as session:
        row = (await session.execute(sa.select(outbox).order_by(outbox.c.seq.desc()))).first()
    assert ClausePlacementCreatedV1.model_validate_json(row.value).overridden is True


async def test_unknown_participants_and_flags_not_yet_heard_of(clauses):
    lot = (await clauses.market())["lots"][0]
    url = f"/api/v1/clauses/lots/{lot['id']}/placements"
    body = {"participant_id": str(uuid.uuid4()), "mode": "direct_hire", "contract_type": "cdd",
            "start_date": "2026-02-01"}  # fmt: skip
    assert (await clauses.client.post(url, json=body, headers=clauses.facilitator())).status_code == 404
    late = str(uuid.uuid4())  # registered, no profile heard of yet (it comes on the same topic, later)
    await clauses.apply(TENANT, ParticipantRegisteredV1(participant_id=uuid.UUID(late), registered_at=datetime.now(UTC),
                                                        latitude=47.5, longitude=1.3))  # fmt: skip
    refused = await clauses.client.post(url, json=body | {"participant_id": late}, headers=clauses.headers())
    assert refused.status_code == 422 and "not known to be clause-eligible" in refused.text
    bad = await clauses.client.post(url, json=body | {"mode": "volunteering", "start_date": "2027-01-01"},
                                    headers=clauses.headers())  # fmt: skip
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["mode"]
    after = await clauses.client.post(url, json=body | {"participant_id": late, "start_date": "2027-01-01",
                                      "override_reason": "x"}, headers=clauses.facilitator())  # fmt: skip
    assert after.status_code == 422 and after.json()["errors"][0]["field"] == "start_date"


async def test_hours_need_a_placement_and_a_month_of_the_period(clauses):
    lot = (await clauses.market())["lots"][0]
    pid = await clauses.participant()
    unplaced = await clauses.declare(lot["id"], pid, "2026-03", 35)
    assert unplaced.status_code == 422 and unplaced.json()["errors"][0]["field"] == "participant_id"
    await clauses.place(lot["id"], pid, start_date="2026-02-10")
    for month, field in (("2027-01", "month"), ("2026-01", "month"), ("2026-13", "month")):
        response = await clauses.declare(lot["id"], pid, month, 35)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.text
    for hours in ("0", "-3", "210.01", "12.345"):
        response = await clauses.declare(lot["id"], pid, "2026-03", hours)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "hours"
    ok = await clauses.declare(lot["id"], pid, "2026-02", "151.67")
    assert ok.status_code == 201, ok.text
    entry = ok.json()
    assert (entry["month"], entry["hours"], entry["status"], entry["allowed"]) == (
        "2026-02", "151.67", "declared", ["rejected", "validated"],
    )  # fmt: skip
    assert await count(clauses.app, hours_entries) == 1


async def test_the_210_hour_cap_across_lots_names_the_other_entries(clauses):
    market = await clauses.market()
    other = await clauses.market(lots=[lot_body(1, title="Voirie", required_hours="300")])
    lot_a, lot_b, lot_c = market["lots"][0], market["lots"][1], other["lots"][0]
    pid = await clauses.participant()
    for lot in (lot_a, lot_b, lot_c):
        await clauses.place(lot["id"], pid)
    first = (await clauses.declare(lot_a["id"], pid, "2026-04", 120)).json()
    second = (await clauses.declare(lot_b["id"], pid, "2026-04", "60.5")).json()
    assert (await clauses.validate(first["id"])).status_code == 200
    over = await clauses.declare(lot_c["id"], pid, "2026-04", "29.51")
    assert over.status_code == 422
    problem = over.json()
    assert problem["errors"][0]["field"] == "hours" and "210" in problem["errors"][0]["message"]
    assert {(e["id"], e["lot_id"], e["hours"], e["status"]) for e in problem["other_entries"]} == {
        (first["id"], lot_a["id"], "120.00", "validated"), (second["id"], lot_b["id"], "60.50", "declared"),
    }  # fmt: skip
    assert (await clauses.declare(lot_c["id"], pid, "2026-04", "29.50")).status_code == 201  # exactly 210
    assert (await clauses.declare(lot_c["id"], pid, "2026-05", 200)).status_code == 201  # another month
    # A rejected entry frees its hours.
    assert (await clauses.reject(second["id"])).status_code == 200
    assert (await clauses.declare(lot_b["id"], pid, "2026-04", "60.5")).status_code == 201
    # Another person's month is their own.
    other_pid = await clauses.participant()
    await clauses.place(lot_c["id"], other_pid)
    assert (await clauses.declare(lot_c["id"], other_pid, "2026-04", 210)).status_code == 201


async def test_validation_needs_the_facilitator_role_and_follows_the_machine(clauses):
    lot = (await clauses.market())["lots"][0]
    pid = await clauses.participant()
    await clauses.place(lot["id"], pid)
    a = (await clauses.declare(lot["id"], pid, "2026-02", 70)).json()
    b = (await clauses.declare(lot["id"], pid, "2026-03", 70)).json()
    for roles in (("referent",), ("viewer",), ("fund_manager",)):
        for action, body in (("validate", None), ("reject", {"reason": "non"})):
            response = await clauses.client.post(f"/api/v1/clauses/hours/{a['id']}/{action}", json=body,
                                                 headers=clauses.headers("loir-et-cher", *roles))  # fmt: skip
            assert response.status_code == 403, (roles, action)
            assert response.json()["required_roles"] == ["facilitator"]
    admin = await clauses.client.post(f"/api/v1/clauses/hours/{a['id']}/validate",
                                      headers=clauses.headers("loir-et-cher", "admin"))  # fmt: skip
    assert admin.status_code == 200 and admin.json()["status"] == "validated"
    assert admin.json()["allowed"] == [] and admin.json()["decided_at"]
    no_reason = await clauses.client.post(f"/api/v1/clauses/hours/{b['id']}/reject", json={"reason": "  "},
                                          headers=clauses.facilitator())  # fmt: skip
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    rejected = await clauses.reject(b["id"], "heures hors chantier")
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["reason"], rejected.json()["decided_by"]) == (
        "rejected", "heures hors chantier", "facilitatrice",
    )  # fmt: skip
    for hours_id, action in ((b["id"], "validate"), (a["id"], "reject"), (a["id"], "validate")):
        again = await clauses.client.post(f"/api/v1/clauses/hours/{hours_id}/{action}", json={"reason": "r"},
                                          headers=clauses.facilitator())  # fmt: skip
        assert again.status_code == 409 and again.json()["allowed"] == []
    assert (await clauses.validate(str(uuid.uuid4()))).status_code == 404
    listed = await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}/hours", params={"status": "rejected"},
                                      headers=clauses.headers())  # fmt: skip
    assert [e["id"] for e in listed.json()["items"]] == [b["id"]]
    by_month = await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}/hours", params={"month": "2026-02"},
                                        headers=clauses.headers())  # fmt: skip
    assert [e["id"] for e in by_month.json()["items"]] == [a["id"]]
    page = await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}/hours",
                                    params={"participant_id": pid, "limit": 1, "offset": 1},
                                    headers=clauses.headers())  # fmt: skip
    assert [e["id"] for e in page.json()["items"]] == [b["id"]]


async def test_progress_counts_only_validated_hours_and_says_when_behind(clauses):
    market = await clauses.market(lots=[
        lot_body(1, required_hours="1000", start_date="2026-01-01", end_date="2026-12-31"),
        lot_body(2, required_hours="100", start_date="2026-01-01", end_date="2026-01-31"),
    ])  # fmt: skip
    lot1 = market["lots"][0]
    people = [await clauses.participant() for _ in range(3)]
    for pid in people:
        await clauses.place(lot1["id"], pid)
    url = f"/api/v1/clauses/markets/{market['id']}/progress"
    # Half the period elapsed on 2026-07-02: expected 500, behind under 400.
    validated = [(people[0], "2026-02", 150), (people[1], "2026-03", 150), (people[2], "2026-04", "99.99")]
    for pid, month, hours in validated:
        entry = (await clauses.declare(lot1["id"], pid, month, hours)).json()
        assert (await clauses.validate(entry["id"])).status_code == 200
    pending = (await clauses.declare(lot1["id"], people[0], "2026-05", 80)).json()
    rejected = (await clauses.declare(lot1["id"], people[1], "2026-05", 120)).json()
    await clauses.reject(rejected["id"])
    body = (await clauses.client.get(url, params={"on": "2026-07-02"}, headers=clauses.headers())).json()
    first = body["lots"][0]
    assert (first["required"], first["validated"], first["declared_pending"]) == ("1000.00", "399.99", "80.00")
    assert (first["expected"], first["rate"], first["elapsed_share"], first["behind"]) == (
        "500.00", "0.4000", "0.5000", True,
    )  # fmt: skip
    assert body["lots"][1]["behind"] is True and body["lots"][1]["expected"] == "100.00"  # lot 2: over, nothing done
    assert body["total"]["validated"] == "399.99" and body["total"]["behind"] is True
    # Validating the pending 80 h crosses the threshold for lot 1.
    assert (await clauses.validate(pending["id"])).status_code == 200
    body = (await clauses.client.get(url, params={"on": "2026-07-02"}, headers=clauses.headers())).json()
    assert (body["lots"][0]["validated"], body["lots"][0]["declared_pending"], body["lots"][0]["behind"]) == (
        "479.99", "0.00", False,
    )  # fmt: skip
    # Total: expected 500 + 100 = 600, threshold 480: 479.99 is still behind.
    assert body["total"]["expected"] == "600.00" and body["total"]["behind"] is True
    before = (await clauses.client.get(url, params={"on": "2025-12-01"}, headers=clauses.headers())).json()
    assert before["total"]["behind"] is False and before["total"]["expected"] == "0.00"


async def test_a_lot_is_completed_once_when_validated_hours_reach_required(clauses):
    market = await clauses.market(lots=[lot_body(1, required_hours="200")])
    lot = market["lots"][0]
    pid, other = await clauses.participant(), await clauses.participant()
    for p in (pid, other):
        await clauses.place(lot["id"], p)
    a = (await clauses.declare(lot["id"], pid, "2026-02", 150)).json()
    b = (await clauses.declare(lot["id"], other, "2026-02", 50)).json()
    c = (await clauses.declare(lot["id"], other, "2026-03", 10)).json()
    await clauses.validate(a["id"])
    read = await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}", headers=clauses.headers())
    assert read.json()["completed_at"] is None
    await clauses.validate(b["id"])
    await clauses.validate(c["id"])
    read = await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}", headers=clauses.headers())
    assert read.json()["completed_at"] is not None
    types = await event_types(clauses.app)
    assert types.count(ClauseHoursValidatedV1.ce_type) == 3 and types.count(ClauseLotCompletedV1.ce_type) == 1
    async with clauses.app.state.sessionmaker() as session:
        row = (
            await session.execute(sa.select(outbox).where(outbox.c.event_type == ClauseLotCompletedV1.ce_type))
        ).one()
    completed = ClauseLotCompletedV1.model_validate_json(row.value)
    assert (str(completed.lot_id), completed.validated_hours, completed.required_hours) == (lot["id"], 200, 200)


async def test_idempotency_key_gives_back_what_the_first_request_created(clauses):
    key = {"Idempotency-Key": "sheet-2026-03-line-12"}
    body = market_body()
    first = await clauses.client.post("/api/v1/clauses/markets", json=body, headers=clauses.headers() | key)
    again = await clauses.client.post("/api/v1/clauses/markets", json=body, headers=clauses.headers() | key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = await clauses.client.post("/api/v1/clauses/markets", json=market_body(), headers=clauses.headers() | key)
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "idempotency-key"
    lot = first.json()["lots"][0]
    pid = await clauses.participant()
    placement = {"participant_id": pid, "mode": "direct_hire", "contract_type": "cdd", "start_date": "2026-01-05"}
    placed = [await clauses.client.post(f"/api/v1/clauses/lots/{lot['id']}/placements", json=placement,
                                        headers=clauses.headers() | key) for _ in range(2)]  # fmt: skip
    assert [p.status_code for p in placed] == [201, 201] and placed[0].json() == placed[1].json()
    hours = {"participant_id": pid, "month": "2026-03", "hours": "150"}
    declared = [await clauses.client.post(f"/api/v1/clauses/lots/{lot['id']}/hours", json=hours,
                                          headers=clauses.headers() | key) for _ in range(3)]  # fmt: skip
    assert {d.json()["id"] for d in declared} == {declared[0].json()["id"]}
    assert await count(clauses.app, hours_entries) == 1  # 150 h once, not 450 (which the cap would refuse)
    # Without a key, the same body is a new entry (here: over the cap).
    assert (await clauses.declare(lot["id"], pid, "2026-03", 150)).status_code == 422
    types = await event_types(clauses.app)
    assert types.count(ClausePlacementCreatedV1.ce_type) == 1
    assert types.count(ClauseMarketCreatedV1.ce_type) == 1


async def test_lowering_the_required_hours_can_complete_a_lot(clauses):
    lot = (await clauses.market(lots=[lot_body(1, required_hours="300")]))["lots"][0]
    pid = await clauses.participant()
    await clauses.place(lot["id"], pid)
    entry = (await clauses.declare(lot["id"], pid, "2026-02", 120)).json()
    await clauses.validate(entry["id"])
    url = f"/api/v1/clauses/lots/{lot['id']}"
    assert (await clauses.client.patch(url, json={"required_hours": "150"}, headers=clauses.headers())).json()[
        "completed_at"
    ] is None
    patched = await clauses.client.patch(url, json={"required_hours": "120"}, headers=clauses.headers())
    assert patched.json()["completed_at"] is not None
    assert (await event_types(clauses.app)).count(ClauseLotCompletedV1.ce_type) == 1


async def test_each_months_hours_carry_their_own_mode_and_contract(clauses):
    """An ETTI mission, then a direct hire on the same lot: the placement's mode and contract by default,
    the month's own when given; the report counts the placement under both contracts."""
    lot = (await clauses.market())["lots"][0]
    pid = await clauses.participant(eligible=True)
    await clauses.place(lot["id"], pid, mode="temp_work_etti", contract_type="interim")
    url = f"/api/v1/clauses/lots/{lot['id']}/hours"
    mission = await clauses.declare(lot["id"], pid, "2026-02", 120)
    assert (mission.json()["mode"], mission.json()["contract_type"]) == ("temp_work_etti", "interim")
    hired = await clauses.client.post(url, json={"participant_id": pid, "month": "2026-03", "hours": "151.67",
                                                 "mode": "direct_hire", "contract_type": "cdi"},
                                      headers=clauses.headers())  # fmt: skip
    assert hired.status_code == 201, hired.text
    assert (hired.json()["mode"], hired.json()["contract_type"]) == ("direct_hire", "cdi")
    for entry in (mission.json(), hired.json()):
        assert (await clauses.validate(entry["id"])).status_code == 200
    listed = (await clauses.client.get(url, headers=clauses.headers())).json()["items"]
    assert sorted((e["month"], e["mode"], e["contract_type"]) for e in listed) == [
        ("2026-02", "temp_work_etti", "interim"), ("2026-03", "direct_hire", "cdi")]  # fmt: skip
    report = (await clauses.client.get("/api/v1/clauses/reports", params={"from": "2026-01-01", "to": "2026-12-31"},
                                       headers=clauses.headers())).json()  # fmt: skip
    assert report["contracts_by_type"] == {"cdi": 1, "interim": 1}
    by_months = await clauses.client.get("/api/v1/clauses/reports", params={"from": "2026-01", "to": "2026-12"},
                                         headers=clauses.headers())  # fmt: skip
    assert by_months.status_code == 200 and by_months.json() == report, by_months.text
    assert (report["from"], report["to"]) == ("2026-01", "2026-12")  # the months covered, whole
    assert {m: (f["placements"], f["validated_hours"]) for m, f in report["fulfilment_modes"].items()} == {
        "direct_hire": (1, "151.67"), "temp_work_etti": (1, "120.00")}  # fmt: skip
    # a mode or contract outside the lists: 422 on the field, nothing written
    for field, value in (("mode", "stage"), ("contract_type", "freelance")):
        bad = await clauses.client.post(url, json={"participant_id": pid, "month": "2026-04", "hours": "10",
                                                   field: value}, headers=clauses.headers())  # fmt: skip
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text
    assert await count(clauses.app, hours_entries) == 2
