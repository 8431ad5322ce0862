"""Applications through the API on SQLite and PostgreSQL: creation rules, the machine over HTTP (409 with
allowed), the hire (positions, filled, placement.hired in the outbox in the same transaction; the offer's
SIRET and lot kept as they were), the transition log, the lists, tenant isolation and the funnel on a
fixed dataset (Paris days, any date)."""

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from tremplin_matching.adapters.orm import application_transitions, applications, offers
from tremplin_matching.adapters.projection import on_participant_upserts
from tremplin_shared.events import ParticipantRegisteredV1, PlacementHiredV1, new_event
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.messaging.tables import outbox

SIRET = "73282932000074"
OTHER_SIRET = "41234567000019"
LOT = "6f1c3c8e-8a64-4b8c-9d0a-2c1f3e0b7a11"
HIRE = {"to": "hired", "start_date": "2026-03-02", "contract_type": "cdd", "weekly_hours": 26}


@pytest.fixture
async def matching(matching_app):
    app, secret = matching_app, matching_app.state.settings.identity_secret

    def as_tenant(tenant: str, subject: str = "referente-41") -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, subject, ("referent",)), secret)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
        yield app, client, as_tenant


async def candidate(app, tenant: str = "t") -> str:
    data = ParticipantRegisteredV1(participant_id=uuid.uuid4(), registered_at=datetime(2026, 1, 5, tzinfo=UTC),
                                   latitude=47.59, longitude=1.33, skills=["K2204"])  # fmt: skip
    async with app.state.sessionmaker() as session, session.begin():
        await on_participant_upserts(session, new_event(data, tenant=tenant, source="/t"), data)
    return str(data.participant_id)


async def an_offer(client, headers, **over) -> dict:
    body = {"title": "Agent de propreté", "employer": {"name": "Net'Loir", "siret": SIRET},
            "location": {"latitude": 47.59, "longitude": 1.33}, "contract_type": "cdd", "rome_code": "K2204",
            "positions": 1} | over  # fmt: skip
    response = await client.post("/api/v1/offers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def apply(client, headers, participant_id, offer_id, **extra) -> httpx.Response:
    return await client.post("/api/v1/applications", json={"participant_id": participant_id, "offer_id": offer_id,
                             **extra}, headers=headers)  # fmt: skip


async def move(client, headers, application_id, to, **extra) -> httpx.Response:
    return await client.post(f"/api/v1/applications/{application_id}/transitions", json={"to": to, **extra},
                             headers=headers)  # fmt: skip


async def to_interview(client, headers, application_id) -> None:
    for state in ("sent", "interview"):
        assert (await move(client, headers, application_id, state)).status_code == 201


async def rows(app, table, *where):
    async with app.state.sessionmaker() as session:
        return [r._asdict() for r in await session.execute(sa.select(table).where(*where))]


async def test_create_an_application(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    pid, offer = await candidate(app), await an_offer(client, h)
    created = await apply(client, h, pid, offer["id"], reason="profil proche")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["state"], body["allowed"], body["hire"]) == ("proposed", ["sent", "withdrawn"], None)
    assert [(t["from_state"], t["to_state"], t["actor"], t["reason"]) for t in body["transitions"]] == [
        (None, "proposed", "referente-41", "profil proche")
    ]
    read = await client.get(f"/api/v1/applications/{body['id']}", headers=h)
    assert read.json() == body


async def test_creation_refusals(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    pid, offer = await candidate(app), await an_offer(client, h)
    assert (await apply(client, h, str(uuid.uuid4()), offer["id"])).status_code == 404  # not a candidate
    assert (await apply(client, h, pid, str(uuid.uuid4()))).status_code == 404  # no such offer
    foreign_pid = await candidate(app, "other")
    assert (await apply(client, h, foreign_pid, offer["id"])).status_code == 404
    first = await apply(client, h, pid, offer["id"])
    assert first.status_code == 201
    twice = await apply(client, h, pid, offer["id"])
    assert twice.status_code == 409 and twice.json()["existing_application_id"] == first.json()["id"]
    # Once the first one is over, a new application on the same offer is fine.
    assert (await move(client, h, first.json()["id"], "withdrawn")).status_code == 201
    assert (await apply(client, h, pid, offer["id"])).status_code == 201
    closed = await an_offer(client, h)
    await client.patch(f"/api/v1/offers/{closed['id']}", json={"status": "closed"}, headers=h)
    refused = await apply(client, h, pid, closed["id"])
    assert refused.status_code == 409 and refused.json()["offer_status"] == "closed"
    future = await apply(client, h, await candidate(app), offer["id"], at="2999-01-01T00:00:00Z")
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "at"
    assert len(await rows(app, applications)) == 2


async def test_illegal_transitions_are_409_with_allowed_and_change_nothing(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    application = (await apply(client, h, await candidate(app), (await an_offer(client, h))["id"])).json()
    for to in ("proposed", "interview", "hired", "refused"):
        response = await move(client, h, application["id"], to, **({k: v for k, v in HIRE.items() if k != "to"}))
        assert response.status_code == 409, to
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (response.json()["state"], response.json()["allowed"]) == ("proposed", ["sent", "withdrawn"])
    assert (await move(client, h, application["id"], "withdrawn")).status_code == 201
    final = await move(client, h, application["id"], "sent")
    assert final.status_code == 409 and final.json()["allowed"] == []
    unknown = await move(client, h, application["id"], "employed")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "to"
    log = await rows(app, application_transitions)
    assert [(r["from_state"], r["to_state"]) for r in log] == [(None, "proposed"), ("proposed", "withdrawn")]


async def test_every_path_to_a_final_state_is_logged(matching):
    app, client, as_tenant = matching
    h = as_tenant("t", subject="cip-2")
    offer = await an_offer(client, h, positions=5)
    paths = [["sent", "interview", "refused"], ["sent", "withdrawn"], ["sent", "interview", "withdrawn"]]
    for path in paths:
        positioned = await apply(client, h, await candidate(app), offer["id"], at="2026-01-15T10:00:00Z")
        application = positioned.json()
        for n, state in enumerate(path):
            at = f"2026-02-0{n + 1}T10:00:00+01:00"
            assert (await move(client, h, application["id"], state, at=at, reason=f"r{n}")).status_code == 201
        detail = (await client.get(f"/api/v1/applications/{application['id']}", headers=h)).json()
        assert detail["state"] == path[-1] and detail["allowed"] == []
        log = detail["transitions"][1:]
        assert [(t["to_state"], t["actor"], t["reason"]) for t in log] == [
            (s, "cip-2", f"r{n}") for n, s in enumerate(path)
        ]
        assert log[0]["at"].startswith("2026-02-01T09:00:00")  # stored in UTC
    backwards = (await apply(client, h, await candidate(app), offer["id"], at="2026-01-15T10:00:00Z")).json()
    await move(client, h, backwards["id"], "sent", at="2026-02-05T10:00:00Z")
    late = await move(client, h, backwards["id"], "interview", at="2026-02-04T10:00:00Z")
    assert late.status_code == 422 and late.json()["errors"][0]["field"] == "at"
    naive = await move(client, h, backwards["id"], "interview", at="2026-02-06T10:00:00")
    assert naive.status_code == 422


async def test_hired_requires_its_fields(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    application = (await apply(client, h, await candidate(app), (await an_offer(client, h))["id"])).json()
    await to_interview(client, h, application["id"])
    bare = await move(client, h, application["id"], "hired")
    assert bare.status_code == 422
    assert [e["field"] for e in bare.json()["errors"]] == ["start_date", "contract_type", "weekly_hours"]
    wrong = await move(client, h, application["id"], "hired", start_date="2026-03-02", contract_type="stage",
                       weekly_hours=50)  # fmt: skip
    assert sorted(e["field"] for e in wrong.json()["errors"]) == ["contract_type", "weekly_hours"]
    assert (await client.get(f"/api/v1/applications/{application['id']}", headers=h)).json()["state"] == "interview"
    assert await rows(app, outbox) == []


async def test_the_hire(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    offer = await an_offer(client, h, positions=2, clause_lot_id=LOT)
    pids = [await candidate(app) for _ in range(3)]
    apps = [(await apply(client, h, pid, offer["id"])).json() for pid in pids]
    for application in apps:
        await to_interview(client, h, application["id"])

    hired = await move(client, h, apps[0]["id"], **HIRE)
    assert hired.status_code == 201, hired.text
    assert hired.json()["hire"] == {"start_date": "2026-03-02", "contract_type": "cdd", "weekly_hours": 26.0,
                                    "employer_siret": SIRET, "clause_lot_id": LOT}  # fmt: skip
    after_one = (await client.get(f"/api/v1/offers/{offer['id']}", headers=h)).json()
    assert (after_one["open_positions"], after_one["status"]) == (1, "open")

    (event_row,) = await rows(app, outbox)
    assert (event_row["event_type"], event_row["topic"], event_row["key"], event_row["tenant"]) == (
        PlacementHiredV1.ce_type, "matching.events", apps[0]["id"], "t",
    )  # fmt: skip
    assert PlacementHiredV1.model_validate(json.loads(event_row["value"])) == PlacementHiredV1(
        application_id=apps[0]["id"], participant_id=pids[0], offer_id=offer["id"], employer_siret=SIRET,
        contract_type="cdd", start_date="2026-03-02", weekly_hours=26, clause_lot_id=LOT,
    )  # fmt: skip

    assert (await move(client, h, apps[1]["id"], **HIRE)).status_code == 201
    filled = (await client.get(f"/api/v1/offers/{offer['id']}", headers=h)).json()
    assert (filled["open_positions"], filled["status"]) == (0, "filled")
    too_many = await move(client, h, apps[2]["id"], **HIRE)
    assert too_many.status_code == 409 and too_many.json()["offer_status"] == "filled"
    assert (await client.get(f"/api/v1/applications/{apps[2]['id']}", headers=h)).json()["state"] == "interview"
    assert len(await rows(app, outbox)) == 2  # no event for the refused hire
    hired_log = await rows(app, application_transitions, application_transitions.c.to_state == "hired")
    assert len(hired_log) == 2
    # A filled offer takes no new application either.
    assert (await apply(client, h, await candidate(app), offer["id"])).status_code == 409
    # Raising the positions of a filled offer reopens it.
    reopened = await client.patch(f"/api/v1/offers/{offer['id']}", json={"positions": 3}, headers=h)
    assert (reopened.json()["status"], reopened.json()["open_positions"]) == ("open", 1)
    shrink = await client.patch(f"/api/v1/offers/{offer['id']}", json={"positions": 1}, headers=h)
    assert shrink.status_code == 422 and shrink.json()["errors"][0]["field"] == "positions"


async def test_no_hire_on_a_closed_offer_nor_without_siret(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    offer = await an_offer(client, h)
    application = (await apply(client, h, await candidate(app), offer["id"])).json()
    await to_interview(client, h, application["id"])
    await client.patch(f"/api/v1/offers/{offer['id']}", json={"status": "closed"}, headers=h)
    closed = await move(client, h, application["id"], **HIRE)
    assert closed.status_code == 409 and closed.json()["offer_status"] == "closed"
    await client.patch(f"/api/v1/offers/{offer['id']}", json={"status": "open"}, headers=h)
    async with app.state.sessionmaker() as session, session.begin():  # e.g. a France Travail offer
        await session.execute(sa.update(offers).values(employer_siret=None))
    no_siret = await move(client, h, application["id"], **HIRE)
    assert no_siret.status_code == 409 and "SIRET" in no_siret.json()["detail"]
    (row,) = await rows(app, offers)
    assert (row["open_positions"], row["status"]) == (1, "open")
    assert await rows(app, outbox) == []


async def test_lists_per_offer_and_per_participant(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    o1, o2 = await an_offer(client, h), await an_offer(client, h)
    p1, p2 = await candidate(app), await candidate(app)
    a11 = (await apply(client, h, p1, o1["id"])).json()
    a12 = (await apply(client, h, p1, o2["id"])).json()
    a21 = (await apply(client, h, p2, o1["id"])).json()
    by_offer = (await client.get(f"/api/v1/offers/{o1['id']}/applications", headers=h)).json()["items"]
    assert [a["id"] for a in by_offer] == [a11["id"], a21["id"]]
    by_participant = await client.get(f"/api/v1/matching/participants/{p1}/applications", headers=h)
    assert [a["id"] for a in by_participant.json()["items"]] == [a11["id"], a12["id"]]
    assert by_participant.json()["items"][0]["transitions"][0]["to_state"] == "proposed"
    fresh = await candidate(app)
    assert (await client.get(f"/api/v1/matching/participants/{fresh}/applications", headers=h)).json() == {"items": []}
    unknown = await client.get(f"/api/v1/matching/participants/{uuid.uuid4()}/applications", headers=h)
    assert unknown.status_code == 404


async def test_tenant_isolation_on_every_application_route(matching):
    app, client, as_tenant = matching
    mine, theirs = as_tenant("loir-et-cher"), as_tenant("indre")
    offer = await an_offer(client, mine)
    pid = await candidate(app, "loir-et-cher")
    application = (await apply(client, mine, pid, offer["id"])).json()
    assert (await apply(client, theirs, pid, offer["id"])).status_code == 404
    their_pid = await candidate(app, "indre")
    assert (await apply(client, theirs, their_pid, offer["id"])).status_code == 404
    assert (await client.get(f"/api/v1/applications/{application['id']}", headers=theirs)).status_code == 404
    assert (await move(client, theirs, application["id"], "sent")).status_code == 404
    assert (await client.get(f"/api/v1/offers/{offer['id']}/applications", headers=theirs)).status_code == 404
    listed = await client.get(f"/api/v1/matching/participants/{pid}/applications", headers=theirs)
    assert listed.status_code == 404
    funnel = (await client.get("/api/v1/matching/funnel", params={"from": "2000-01-01", "to": "2999-12-31"},
                               headers=theirs)).json()  # fmt: skip
    assert (funnel["offers_created"], funnel["participants_positioned"], funnel["hires"]) == (0, 0, 0)
    assert (await client.get(f"/api/v1/applications/{application['id']}", headers=mine)).json()["state"] == "proposed"


async def test_the_funnel_on_a_fixed_dataset(matching):
    """January 2026 in Paris (UTC+1): 3 offers created (one on Dec 31st, one on Feb 1st, outside), 3 distinct
    participants positioned (4 applications, one positioned in December), 3 hires in January (1 in February)."""
    app, client, as_tenant = matching
    h = as_tenant("t")

    async def offer_created(at: str, positions: int = 3) -> str:
        offer = await an_offer(client, h, positions=positions)
        async with app.state.sessionmaker() as session, session.begin():
            await session.execute(
                sa.update(offers).where(offers.c.id == uuid.UUID(offer["id"])).values(
                    created_at=datetime.fromisoformat(at).astimezone(UTC))  # stored in UTC, as the service does
            )  # fmt: skip
        return offer["id"]

    dec, jan1, jan2, jan3, feb = [await offer_created(at) for at in (
        "2025-12-31T23:59:59+01:00", "2026-01-01T00:00:00+01:00", "2026-01-15T12:00:00+01:00",
        "2026-01-31T23:59:59+01:00", "2026-02-01T00:00:00+01:00")]  # fmt: skip
    p = [await candidate(app) for _ in range(4)]

    async def positioned(pid: str, offer_id: str, at: str) -> str:
        response = await apply(client, h, pid, offer_id, at=at)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    a = [
        await positioned(p[0], jan1, "2026-01-02T09:00:00Z"),
        await positioned(p[0], jan2, "2026-01-03T09:00:00Z"),  # same participant: counted once
        await positioned(p[1], jan2, "2026-01-10T09:00:00Z"),
        await positioned(p[2], jan3, "2026-01-31T22:59:59Z"),  # 23:59:59 in Paris
        await positioned(p[3], dec, "2025-12-20T09:00:00Z"),  # December
    ]
    for application_id, hired_at in ((a[0], "2026-01-20T09:00:00Z"), (a[2], "2026-01-31T18:00:00Z"),
                                     (a[4], "2026-01-05T09:00:00Z"), (a[3], "2026-02-02T09:00:00Z")):  # fmt: skip
        for state, at in (("sent", hired_at), ("interview", hired_at)):
            assert (await move(client, h, application_id, state, at=at)).status_code == 201
        assert (await move(client, h, application_id, at=hired_at, **HIRE)).status_code == 201

    async def funnel(start: str, end: str) -> tuple[int, int, int]:
        response = await client.get("/api/v1/matching/funnel", params={"from": start, "to": end}, headers=h)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["from"], body["to"]) == (start, end)
        return body["offers_created"], body["participants_positioned"], body["hires"]

    assert await funnel("2026-01-01", "2026-01-31") == (3, 3, 3)
    assert await funnel("2026-01-31", "2026-01-31") == (1, 1, 1)
    assert await funnel("2025-12-01", "2025-12-31") == (1, 1, 0)
    assert await funnel("2026-02-01", "2026-02-28") == (1, 0, 1)
    assert await funnel("2025-01-01", "2026-12-31") == (5, 4, 4)
    assert feb  # created on Feb 1st, counted only in February
    backwards = await client.get("/api/v1/matching/funnel", params={"from": "2026-02-01", "to": "2026-01-01"},
                                 headers=h)  # fmt: skip
    assert backwards.status_code == 422
    assert (await client.get("/api/v1/matching/funnel", headers=h)).status_code == 422


async def test_the_funnel_counts_paris_days(matching):
    """Between midnight in UTC and midnight in Paris (one hour in winter, two in summer) an offer, a
    positioning or a hire belongs to the Paris day."""
    app, client, as_tenant = matching
    h = as_tenant("t")
    offer = await an_offer(client, h, positions=3)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(sa.update(offers).values(created_at=datetime(2026, 6, 30, 22, 30, tzinfo=UTC)))
    winter = (await apply(client, h, await candidate(app), offer["id"], at="2025-12-31T23:30:00Z")).json()
    summer = (await apply(client, h, await candidate(app), offer["id"], at="2026-06-30T21:59:59Z")).json()
    for state in ("sent", "interview"):
        await move(client, h, summer["id"], state, at="2026-06-30T22:00:00Z")
    assert (await move(client, h, summer["id"], at="2026-06-30T22:00:00Z", **HIRE)).status_code == 201

    async def funnel(start: str, end: str) -> tuple[int, int, int]:
        body = (await client.get("/api/v1/matching/funnel", params={"from": start, "to": end}, headers=h)).json()
        return body["offers_created"], body["participants_positioned"], body["hires"]

    assert await funnel("2025-12-31", "2025-12-31") == (0, 0, 0)
    assert await funnel("2026-01-01", "2026-01-01") == (0, 1, 0)  # 00:30 in Paris
    assert await funnel("2026-06-30", "2026-06-30") == (0, 1, 0)  # 23:59:59 in Paris
    assert await funnel("2026-07-01", "2026-07-01") == (1, 0, 1)  # 00:30 and 00:00 in Paris
    assert winter["state"] == "proposed"


async def test_the_funnel_takes_any_date(matching):
    """The first and last days a date can hold are bounds like any other: 200, never an overflow."""
    app, client, as_tenant = matching
    h = as_tenant("t")
    offer = await an_offer(client, h)
    await apply(client, h, await candidate(app), offer["id"], at="2025-12-31T23:30:00Z")
    for start, end, counts in (("2024-01-01", "9999-12-31", (1, 1, 0)), ("0001-01-01", "9999-12-31", (1, 1, 0)),
                               ("0001-01-01", "0001-01-01", (0, 0, 0)), ("9999-12-31", "9999-12-31", (0, 0, 0)),
                               ("0001-01-01", "2025-12-31", (0, 0, 0))):  # fmt: skip
        response = await client.get("/api/v1/matching/funnel", params={"from": start, "to": end}, headers=h)
        assert response.status_code == 200, (start, end, response.text)
        body = response.json()
        assert (body["from"], body["to"]) == (start, end)
        assert (body["offers_created"], body["participants_positioned"], body["hires"]) == counts, (start, end)


async def test_the_hire_keeps_the_offer_s_siret_and_lot_of_that_moment(matching):
    """DOMAIN.md: `hired` records the employer SIRET and the clause lot; changing the offer afterwards
    (another SIRET, another lot, no lot) does not rewrite the hire, in the API nor in the event."""
    app, client, as_tenant = matching
    h = as_tenant("t")
    offer = await an_offer(client, h, positions=3, clause_lot_id=LOT)
    first, second = [(await apply(client, h, await candidate(app), offer["id"])).json() for _ in range(2)]
    for application in (first, second):
        await to_interview(client, h, application["id"])
    assert (await move(client, h, first["id"], **HIRE)).status_code == 201
    other_lot = str(uuid.uuid4())
    patched = await client.patch(f"/api/v1/offers/{offer['id']}", headers=h,
                                 json={"employer": {"siret": OTHER_SIRET}, "clause_lot_id": other_lot})  # fmt: skip
    assert patched.status_code == 200 and patched.json()["employer"]["siret"] == OTHER_SIRET
    assert (await move(client, h, second["id"], **HIRE)).status_code == 201
    await client.patch(f"/api/v1/offers/{offer['id']}", json={"clause_lot_id": None}, headers=h)

    hire_time = {first["id"]: (SIRET, LOT), second["id"]: (OTHER_SIRET, other_lot)}
    read = [(await client.get(f"/api/v1/applications/{a}", headers=h)).json() for a in hire_time]
    by_offer = (await client.get(f"/api/v1/offers/{offer['id']}/applications", headers=h)).json()["items"]
    for application in read + by_offer:
        hire = application["hire"]
        assert (hire["employer_siret"], hire["clause_lot_id"]) == hire_time[application["id"]], application["id"]
    stored = await rows(app, applications, applications.c.state == "hired")
    assert {str(r["id"]): (r["employer_siret"], str(r["clause_lot_id"])) for r in stored} == hire_time
    events = [PlacementHiredV1.model_validate(json.loads(r["value"])) for r in await rows(app, outbox)]
    assert {str(e.application_id): (e.employer_siret, str(e.clause_lot_id)) for e in events} == hire_time


async def test_a_hire_on_an_offer_without_lot_records_no_lot(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    offer = await an_offer(client, h)
    application = (await apply(client, h, await candidate(app), offer["id"])).json()
    await to_interview(client, h, application["id"])
    await move(client, h, application["id"], **HIRE)
    await client.patch(f"/api/v1/offers/{offer['id']}", json={"clause_lot_id": LOT}, headers=h)
    hire = (await client.get(f"/api/v1/applications/{application['id']}", headers=h)).json()["hire"]
    assert (hire["employer_siret"], hire["clause_lot_id"]) == (SIRET, None)
