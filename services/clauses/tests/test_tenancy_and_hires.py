"""Tenant isolation on every route (foreign ids are 404, lists and reports see nothing), and the
placement a hire on an offer linked to a lot creates by itself (the handler, on SQLite)."""

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from tests.consumed import consume, event
from tests.leaks import outside_tombstones, rows_mentioning, snapshot
from tremplin_clauses.adapters.orm import hours_entries, known_participants, participant_hires, placements
from tremplin_clauses.config import Settings
from tremplin_clauses.main import build_spec
from tremplin_shared.events import ParticipantErasedV1, PlacementHiredV1
from tremplin_shared.events.clauses import ClausePlacementCreatedV1
from tremplin_shared.messaging.tables import outbox

from .conftest import CONTRACTOR_SIRET, OTHER, TENANT, lot_body


async def test_every_route_is_scoped_by_tenant(clauses):
    market = await clauses.market()
    lot = market["lots"][0]
    pid = await clauses.participant()
    placed = await clauses.place(lot["id"], pid)
    entry = (await clauses.declare(lot["id"], pid, "2026-02", 35)).json()
    other_pid = await clauses.participant(OTHER)
    foreign = clauses.headers(OTHER)
    boss = clauses.headers(OTHER, "facilitator", "admin")
    placement = {"participant_id": other_pid, "mode": "direct_hire", "contract_type": "cdi", "start_date": "2026-01-05"}
    calls = [
        ("GET", f"/api/v1/clauses/markets/{market['id']}", None),
        ("PATCH", f"/api/v1/clauses/markets/{market['id']}", {"title": "pris"}),
        ("GET", f"/api/v1/clauses/markets/{market['id']}/progress", None),
        ("GET", f"/api/v1/clauses/markets/{market['id']}/report", None),
        ("GET", f"/api/v1/clauses/lots/{lot['id']}", None),
        ("PATCH", f"/api/v1/clauses/lots/{lot['id']}", {"title": "pris"}),
        ("POST", f"/api/v1/clauses/lots/{lot['id']}/placements", placement),
        ("GET", f"/api/v1/clauses/lots/{lot['id']}/placements", None),
        ("GET", f"/api/v1/clauses/placements/{placed['id']}", None),
        ("POST", f"/api/v1/clauses/placements/{placed['id']}/override", {"reason": "pris"}),
        ("POST", f"/api/v1/clauses/lots/{lot['id']}/hours", {"participant_id": other_pid, "month": "2026-02",
                                                             "hours": "1"}),
        ("GET", f"/api/v1/clauses/lots/{lot['id']}/hours", None),
        ("GET", f"/api/v1/clauses/hours/{entry['id']}", None),
        ("POST", f"/api/v1/clauses/hours/{entry['id']}/validate", None),
        ("POST", f"/api/v1/clauses/hours/{entry['id']}/reject", {"reason": "pris"}),
    ]  # fmt: skip
    for method, url, body in calls:
        response = await clauses.client.request(method, url, json=body, headers=boss)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await clauses.client.get("/api/v1/clauses/markets", headers=foreign)).json()["items"] == []
    report = (await clauses.client.get("/api/v1/clauses/reports", params={"from": "2026-01-01", "to": "2026-12-31"},
                                       headers=foreign)).json()  # fmt: skip
    assert report["validated_hours"] == "0.00" and report["participants"] == 0
    # A participant of the caller's own territory is unknown on the other's lot, and vice versa.
    own_lot = (await clauses.market(OTHER))["lots"][0]
    mine = await clauses.client.post(f"/api/v1/clauses/lots/{own_lot['id']}/placements",
                                     json=placement | {"participant_id": pid}, headers=foreign)  # fmt: skip
    assert mine.status_code == 404
    # Nothing was changed in the first territory.
    read = (await clauses.client.get(f"/api/v1/clauses/hours/{entry['id']}", headers=clauses.headers())).json()
    assert read["status"] == "declared"
    assert (
        await clauses.client.get(f"/api/v1/clauses/markets/{market['id']}", headers=clauses.headers())
    ).json() == market
    overview = await clauses.client.get("/api/v1/clauses/overview", headers=foreign)
    assert overview.json() == {"tenant": OTHER, "known_participants": 1}


async def test_identity_is_required(clauses):
    assert (await clauses.client.get("/api/v1/clauses/markets")).status_code == 401
    forged = {"X-Tremplin-Identity": "eyJ0ZW5hbnQiOiJ4In0.forged"}
    assert (await clauses.client.get("/api/v1/clauses/markets", headers=forged)).status_code == 401


def hire(pid: str, lot_id: str | None, contract_type: str = "cdi", application_id=None) -> PlacementHiredV1:
    return PlacementHiredV1(
        application_id=application_id or uuid.uuid4(), participant_id=uuid.UUID(pid), offer_id=uuid.uuid4(),
        employer_siret=CONTRACTOR_SIRET, contract_type=contract_type, start_date=date(2026, 3, 2), weekly_hours=35,
        clause_lot_id=uuid.UUID(lot_id) if lot_id else None,
    )  # fmt: skip


async def count(app, table) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def test_a_hire_on_a_lot_places_the_person_once(clauses):
    lot = (await clauses.market(lots=[lot_body(1)]))["lots"][0]
    pid = await clauses.participant(eligible=False)
    event = hire(pid, lot["id"], "interim")
    await clauses.apply(TENANT, event)
    await clauses.apply(TENANT, event)  # redelivered
    await clauses.apply(TENANT, hire(pid, lot["id"]))  # another hire of the same person on the lot
    listed = (
        await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}/placements", headers=clauses.headers())
    ).json()
    (placement,) = listed["items"]
    assert (placement["source"], placement["mode"], placement["contract_type"], placement["start_date"]) == (
        "hire", "temp_work_ett", "interim", "2026-03-02",
    )  # fmt: skip
    assert placement["application_id"] == str(event.application_id) and placement["eligible"] is False
    assert await count(clauses.app, participant_hires) == 2  # both hires kept for the outcomes
    async with clauses.app.state.sessionmaker() as session:
        types = [r.event_type for r in (await session.execute(sa.select(outbox))).all()]
    assert types.count(ClausePlacementCreatedV1.ce_type) == 1
    # Not eligible: hours wait for a facilitator's override.
    waiting = await clauses.declare(lot["id"], pid, "2026-03", 140)
    assert waiting.status_code == 409 and waiting.json()["placement_id"] == placement["id"]
    url = f"/api/v1/clauses/placements/{placement['id']}/override"
    reason = {"reason": "Embauché en intérim par l'attributaire ; parcours PLIE en cours, avis du comité"}
    assert (await clauses.client.post(url, json=reason, headers=clauses.headers())).status_code == 403
    overridden = await clauses.client.post(url, json=reason, headers=clauses.facilitator())
    assert overridden.status_code == 200, overridden.text
    assert (overridden.json()["override_reason"], overridden.json()["override_by"]) == (
        reason["reason"],
        "facilitatrice",
    )
    assert (await clauses.client.post(url, json=reason, headers=clauses.facilitator())).status_code == 409
    assert (await clauses.declare(lot["id"], pid, "2026-03", 140)).status_code == 201


async def test_a_hire_before_the_flags_gets_them_when_they_arrive(clauses):
    lot = (await clauses.market())["lots"][0]
    pid = str(uuid.uuid4())
    await clauses.apply(TENANT, hire(pid, lot["id"]))  # matching's event first, participants' later
    url = f"/api/v1/clauses/lots/{lot['id']}/placements"
    assert (await clauses.client.get(url, headers=clauses.headers())).json()["items"][0]["eligible"] is None
    await clauses.participant(eligible=True, pid=uuid.UUID(pid))
    assert (await clauses.client.get(url, headers=clauses.headers())).json()["items"][0]["eligible"] is True


async def test_hires_without_a_lot_or_on_a_foreign_lot_place_nobody(clauses):
    lot = (await clauses.market(OTHER))["lots"][0]
    pid = await clauses.participant()
    await clauses.apply(TENANT, hire(pid, None))
    await clauses.apply(TENANT, hire(pid, lot["id"]))  # the lot is another territory's
    await clauses.apply(TENANT, hire(pid, str(uuid.uuid4())))
    assert await count(clauses.app, placements) == 0
    assert await count(clauses.app, participant_hires) == 3


async def test_erasure_forgets_the_person_but_keeps_the_hours(clauses):
    lot = (await clauses.market())["lots"][0]
    pid = await clauses.participant()
    await clauses.place(lot["id"], pid)
    entry = (await clauses.declare(lot["id"], pid, "2026-02", 35)).json()
    await clauses.validate(entry["id"])
    await clauses.apply(TENANT, ParticipantErasedV1(participant_id=uuid.UUID(pid), erased_at="2026-06-01T00:00:00Z"))
    assert await count(clauses.app, known_participants) == 0
    kept = (await clauses.client.get(f"/api/v1/clauses/hours/{entry['id']}", headers=clauses.headers())).json()
    assert kept["hours"] == "35.00" and kept["participant_id"] != pid
    report = (await clauses.client.get("/api/v1/clauses/reports", params={"from": "2026-01-01", "to": "2026-12-31"},
                                       headers=clauses.headers())).json()  # fmt: skip
    assert (report["validated_hours"], report["participants"], report["participants_by_sex"]["unknown"]) == (
        "35.00", 1, 1,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def service(request):
    return request.getfixturevalue("clauses" if request.param == "sqlite" else "clauses_pg")


async def test_erasure_leaves_nothing_that_names_or_links_the_person(service):
    """Placements and hours stay under the alias (the buyer's proof), but no link back: not the hire's
    application, not the override or rejection text; the person's events leave the outbox."""
    clauses = service
    lot, other_lot = (await clauses.market())["lots"]
    pid, other = await clauses.participant(eligible=False), await clauses.participant()
    placed = await clauses.client.post(
        f"/api/v1/clauses/lots/{lot['id']}/placements", headers=clauses.facilitator(),
        json={"participant_id": pid, "mode": "direct_hire", "contract_type": "cdd", "start_date": "2026-01-05",
              "override_reason": "sortie de détention, suivi SPIP"},
    )  # fmt: skip
    assert placed.status_code == 201, placed.text
    await clauses.apply(TENANT, hire(pid, other_lot["id"]))  # a placement with its application_id
    # (the hire's placement on the other lot awaits an override: hours go on the overridden one)
    for month, hours, decide in (("2026-02", 35, clauses.validate), ("2026-03", 20, clauses.reject)):
        declared = await clauses.declare(lot["id"], pid, month, hours)
        assert declared.status_code == 201, declared.text
        assert (await decide(declared.json()["id"])).status_code == 200
    await clauses.place(lot["id"], other)
    entry = (await clauses.declare(lot["id"], other, "2026-02", 10)).json()
    assert (await clauses.reject(entry["id"], reason="bulletin illisible")).status_code == 200

    async def totals():
        async with clauses.app.state.sessionmaker() as session:
            h = hours_entries.c
            sums = sa.select(h.status, sa.func.sum(h.hours_centi), sa.func.count()).group_by(h.status)
            return sorted(tuple(r) for r in await session.execute(sums))

    async def report():
        params = {"from": "2026-01-01", "to": "2026-12-31"}
        return (await clauses.client.get("/api/v1/clauses/reports", params=params, headers=clauses.headers())).json()

    before, report_before = await totals(), await report()
    assert {"placements", "hours_entries", "outbox"} <= set(await rows_mentioning(clauses.app, uuid.UUID(pid)))
    erasure = event(TENANT, ParticipantErasedV1(participant_id=uuid.UUID(pid), erased_at="2026-06-01T00:00:00Z"))
    spec = build_spec(Settings())  # the consumer's path: tombstone, then the handler
    await consume(clauses.app, spec, [erasure])

    # Only the tombstone names the person (by design: it keeps them erased).
    assert outside_tombstones(await rows_mentioning(clauses.app, uuid.UUID(pid))) == {}
    assert list(await rows_mentioning(clauses.app, uuid.UUID(pid))) == ["erasure_tombstones"]
    assert await totals() == before  # hours kept, to the hundredth
    report_after = await report()
    for key in ("validated_hours", "participants", "operations"):
        assert report_after[key] == report_before[key], key
    async with clauses.app.state.sessionmaker() as session:
        p, h = placements.c, hours_entries.c
        theirs = (await session.execute(sa.select(placements).where(p.participant_id != uuid.UUID(other)))).all()
        assert len(theirs) == 2 and len({r.participant_id for r in theirs}) == 1  # one alias
        assert [r.application_id for r in theirs] == [None, None]
        overrides = sorted("-" if r.override_reason is None else r.override_reason for r in theirs)
        assert overrides == ["", "-"]  # the override still stands, its text gone
        reasons = (await session.execute(sa.select(h.participant_id, h.reason).where(h.reason.is_not(None)))).all()
        assert sorted(r.reason for r in reasons) == ["", "bulletin illisible"]  # another person's stays
    overridden = next(r for r in theirs if r.override_reason is not None)
    read = await clauses.client.get(f"/api/v1/clauses/placements/{overridden.id}", headers=clauses.headers())
    assert read.status_code == 200 and read.json()["override_reason"] == ""  # still overridden, the text gone
    # A redelivered erasure (a rebuild, a DLQ replay) changes nothing more.
    kept = await snapshot(clauses.app)
    await consume(clauses.app, spec, [erasure])
    assert await snapshot(clauses.app) == kept
