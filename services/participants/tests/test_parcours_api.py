"""The parcours side of the participants API, in-process on SQLite and PostgreSQL (no broker: the
outbox rows are what is checked): opening, transitions, référent, CER, diagnostics, timeline, indicators, the hire
handler, the 183-day job, tenant isolation."""

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from tremplin_participants import jobs
from tremplin_participants.adapters import parcours_repository
from tremplin_participants.adapters.handlers import on_placement_hired
from tremplin_participants.adapters.orm import access_log, hires, parcours_transitions, referent_assignments
from tremplin_participants.config import Settings
from tremplin_participants.domain.flags import today
from tremplin_participants.main import create_app
from tremplin_shared.events import CloudEvent, PlacementHiredV1, new_event
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.messaging.tables import outbox

PERSON = {
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1984-03-12",
    "sex": "F",
    "latitude": 47.5861,
    "longitude": 1.3359,
    "skills": ["K2204"],
}
T = "fr.tremplin.participants."
OPENED, TRANSITIONED, EXITED = T + "parcours.opened.v1", T + "parcours.transitioned.v1", T + "parcours.exited.v1"
REFERENT, PROFILE = T + "referent.assigned.v1", T + "participant.profile_changed.v1"
HOME, ABROAD = "loir-et-cher", "indre"
BASE = today() - timedelta(days=400)


def day(n: int) -> str:
    return (BASE + timedelta(days=n)).isoformat()


class Api:
    def __init__(self, app, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app, self.client, self.settings = app, client, settings

    def headers(self, tenant: str = HOME, subject: str = "referente-1") -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, subject, ("referent",)), self.settings.identity_secret)}

    async def call(self, method: str, path: str, tenant: str = HOME, **kwargs) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers(tenant), **kwargs)

    async def person(self, tenant: str = HOME) -> str:
        response = await self.call("POST", "/api/v1/participants", tenant, json=PERSON)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def open(self, participant_id: str, programme: str = "plie", at: int = 0, tenant: str = HOME) -> dict:
        response = await self.call(
            "POST", f"/api/v1/participants/{participant_id}/parcours", tenant,
            json={"programme": programme, "oriented_at": day(at)},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    async def move(self, parcours_id: str, to: str, at: int, exit_kind: str | None = None, tenant: str = HOME):
        body = {"to": to, "at": day(at), "reason": f"to {to}"}
        if exit_kind:
            body["exit_kind"] = exit_kind
        return await self.call("POST", f"/api/v1/parcours/{parcours_id}/transitions", tenant, json=body)

    async def walk(self, parcours_id: str, *states: str, start: int = 1) -> dict:
        response = None
        for offset, state in enumerate(states):
            response = await self.move(parcours_id, state, start + offset)
            assert response.status_code == 201, response.text
        return response.json()

    async def cer(self, parcours_id: str, signed: int, review: int, objectives=("x",), tenant: str = HOME):
        body = {"objectives": list(objectives), "signed_at": day(signed), "review_at": day(review)}
        return await self.call("POST", f"/api/v1/parcours/{parcours_id}/cer", tenant, json=body)

    async def overdue(self, **params) -> list[str]:
        response = await self.call("GET", "/api/v1/parcours", params={"cer_review_overdue": "true", **params})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    async def get(self, parcours_id: str, tenant: str = HOME) -> dict:
        response = await self.call("GET", f"/api/v1/parcours/{parcours_id}", tenant)
        assert response.status_code == 200, response.text
        return response.json()

    async def events(self, event_type: str) -> list[dict]:
        async with self.app.state.sessionmaker() as session:
            rows = await session.execute(sa.select(outbox.c.value).where(outbox.c.event_type == event_type))
            return [json.loads(value) for (value,) in rows]

    async def rows(self, statement) -> list:
        async with self.app.state.sessionmaker() as session:
            return list((await session.execute(statement)).all())


@pytest.fixture(params=["sqlite", "postgres"])
async def api(request, tmp_path, postgres):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/participants.db"
    else:
        url = await postgres.create("parcours")
    settings = Settings(database_url=url, run_background_workers=False)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://participants") as client:
            yield Api(app, client, settings)


# ------------------------------------------------------------------------------------------------ opening
async def test_opening_a_parcours_starts_oriented_logs_it_and_emits_it(api):
    pid = await api.person()
    opened = await api.open(pid, "plie", at=3)
    assert (opened["state"], opened["state_since"], opened["oriented_at"]) == ("oriented", day(3), day(3))
    assert opened["allowed_targets"] == ["welcomed", "exited"]
    assert opened["referent"] is None and opened["cers"] == []
    [first] = opened["transitions"]
    assert (first["from_state"], first["to_state"], first["at"], first["actor"]) == (
        None,
        "oriented",
        day(3),
        "referente-1",
    )
    [event] = await api.events(OPENED)
    assert event == {"parcours_id": opened["id"], "participant_id": pid, "programme": "plie", "oriented_at": day(3)}
    profiles = [e for e in await api.events(PROFILE) if e["participant_id"] == pid]
    assert profiles[-1]["active"] is True  # the profile follows: the person now has an open parcours


async def test_one_open_parcours_per_participant_and_programme(api):
    pid = await api.person()
    first = await api.open(pid, "plie")
    again = await api.call(
        "POST", f"/api/v1/participants/{pid}/parcours", json={"programme": "plie", "oriented_at": day(5)}
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["existing_id"] == first["id"]
    await api.open(pid, "rsa")  # another programme is fine
    assert (await api.move(first["id"], "exited", 10, "moved")).status_code == 201
    reopened = await api.open(pid, "plie", at=20)  # once exited, a new one may be opened
    listed = (await api.call("GET", f"/api/v1/participants/{pid}/parcours")).json()["items"]
    assert {p["id"] for p in listed} == {first["id"], reopened["id"], listed[1]["id"]} and len(listed) == 3


async def test_a_concurrent_opening_caught_by_the_unique_index_is_409(api, monkeypatch):
    pid = await api.person()
    await api.open(pid, "iae")

    async def sees_nothing(*args, **kwargs):  # as if a concurrent request had not committed yet
        return []

    monkeypatch.setattr(parcours_repository, "open_parcours_of", sees_nothing)
    raced = await api.call(
        "POST", f"/api/v1/participants/{pid}/parcours", json={"programme": "iae", "oriented_at": day(1)}
    )
    assert raced.status_code == 409
    assert len(await api.events(OPENED)) == 1  # nothing half-written


async def test_opening_needs_a_known_participant_a_known_programme_and_no_future_date(api):
    pid = await api.person()
    unknown = await api.call(
        "POST", f"/api/v1/participants/{uuid.uuid4()}/parcours", json={"programme": "rsa", "oriented_at": day(0)}
    )
    assert unknown.status_code == 404
    bad = await api.call(
        "POST", f"/api/v1/participants/{pid}/parcours", json={"programme": "rmi", "oriented_at": day(0)}
    )
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["programme"]
    future = (today() + timedelta(days=2)).isoformat()
    late = await api.call(
        "POST", f"/api/v1/participants/{pid}/parcours", json={"programme": "rsa", "oriented_at": future}
    )
    assert late.status_code == 422 and [e["field"] for e in late.json()["errors"]] == ["oriented_at"]


# -------------------------------------------------------------------------------------------- transitions
async def test_a_walk_through_the_machine_is_logged_and_emitted(api):
    pid = await api.person()
    p = await api.open(pid, "plie")
    after = await api.walk(p["id"], "welcomed", "diagnosed", "supported", "immersion", "training", "employed")
    assert after["state"] == "employed" and after["allowed_targets"] == ["supported", "exited"]
    log = after["transitions"]
    assert [(t["from_state"], t["to_state"]) for t in log] == [
        (None, "oriented"), ("oriented", "welcomed"), ("welcomed", "diagnosed"), ("diagnosed", "supported"),
        ("supported", "immersion"), ("immersion", "training"), ("training", "employed"),
    ]  # fmt: skip
    assert all(t["actor"] == "referente-1" for t in log) and log[1]["reason"] == "to welcomed"
    events = await api.events(TRANSITIONED)
    assert [(e["from_state"], e["to_state"], e["at"]) for e in events][-1] == ("training", "employed", day(6))
    assert len(events) == 6


async def test_an_illegal_move_is_409_with_the_allowed_targets_and_writes_nothing(api):
    pid = await api.person()
    p = await api.open(pid)
    outbox_before = len(await api.rows(sa.select(outbox.c.event_id)))
    refused = await api.move(p["id"], "employed", 1)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["allowed"] == ["welcomed", "exited"] and body["current_state"] == "oriented"
    assert (await api.move(p["id"], "oriented", 1)).json()["allowed"] == ["welcomed", "exited"]
    assert len((await api.get(p["id"]))["transitions"]) == 1
    assert len(await api.rows(sa.select(outbox.c.event_id))) == outbox_before


async def test_exit_kind_is_required_iff_the_parcours_exits(api):
    pid = await api.person()
    p = await api.open(pid)
    missing = await api.move(p["id"], "exited", 1)
    assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["exit_kind"]
    body = {"to": "welcomed", "at": day(1), "exit_kind": "moved"}
    extra = await api.call("POST", f"/api/v1/parcours/{p['id']}/transitions", json=body)
    assert extra.status_code == 422 and [e["field"] for e in extra.json()["errors"]] == ["exit_kind"]
    nul = await api.call("POST", f"/api/v1/parcours/{p['id']}/transitions", json={"to": "welcomed", "at": day(1),
                                                                                  "reason": "a\x00b"})  # fmt: skip
    assert nul.status_code == 422 and [e["field"] for e in nul.json()["errors"]] == ["reason"]
    unknown = await api.move(p["id"], "exited", 1, "won_the_lottery")
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["exit_kind"]
    exited = await api.move(p["id"], "exited", 1, "qualifying_training")
    assert exited.status_code == 201
    body = exited.json()
    assert (body["state"], body["exit_kind"], body["exited_at"], body["positive_exit"]) == (
        "exited", "qualifying_training", day(1), True,
    )  # fmt: skip
    assert body["allowed_targets"] == []
    [event] = await api.events(EXITED)
    assert (event["exit_kind"], event["positive"], event["at"]) == ("qualifying_training", True, day(1))
    after = await api.move(p["id"], "welcomed", 2)
    assert after.status_code == 409 and after.json()["allowed"] == []
    assert [e for e in await api.events(PROFILE) if e["participant_id"] == pid][-1]["active"] is False


async def test_a_transition_cannot_go_back_in_time_nor_into_the_future(api):
    pid = await api.person()
    p = await api.open(pid, at=10)
    early = await api.move(p["id"], "welcomed", 9)
    assert early.status_code == 422 and [e["field"] for e in early.json()["errors"]] == ["at"]
    body = {"to": "welcomed", "at": (today() + timedelta(days=1)).isoformat()}
    future = await api.call("POST", f"/api/v1/parcours/{p['id']}/transitions", json=body)
    assert future.status_code == 422 and [e["field"] for e in future.json()["errors"]] == ["at"]
    assert (await api.move(p["id"], "welcomed", 10)).status_code == 201  # the same day is fine


# ---------------------------------------------------------------------------------------------- référent
async def test_a_new_referent_ends_the_previous_assignment(api):
    pid = await api.person()
    p = await api.open(pid)
    first = await api.call("PUT", f"/api/v1/parcours/{p['id']}/referent", json={"referent": "agent-a", "at": day(2)})
    assert first.status_code == 200 and first.json()["referent"] == {"referent": "agent-a", "started_at": day(2)}
    second = await api.call("PUT", f"/api/v1/parcours/{p['id']}/referent", json={"referent": "agent-b", "at": day(9)})
    assert second.json()["referent"] == {"referent": "agent-b", "started_at": day(9)}
    same = await api.call("PUT", f"/api/v1/parcours/{p['id']}/referent", json={"referent": "agent-b", "at": day(11)})
    assert same.status_code == 200  # PUT of the active référent again: nothing new
    rows = await api.rows(
        sa.select(referent_assignments.c.referent, referent_assignments.c.started_at, referent_assignments.c.ended_at)
        .order_by(referent_assignments.c.started_at)
    )  # fmt: skip
    assert [(r.referent, r.started_at.isoformat(), r.ended_at) for r in rows] == [
        ("agent-a", day(2), BASE + timedelta(days=9)),
        ("agent-b", day(9), None),
    ]
    assert [(e["referent"], e["at"]) for e in await api.events(REFERENT)] == [("agent-a", day(2)), ("agent-b", day(9))]
    before = await api.call("PUT", f"/api/v1/parcours/{p['id']}/referent", json={"referent": "agent-c", "at": day(5)})
    assert before.status_code == 422 and [e["field"] for e in before.json()["errors"]] == ["at"]


async def test_an_exited_parcours_gets_no_referent(api):
    pid = await api.person()
    p = await api.open(pid)
    await api.move(p["id"], "exited", 1, "health")
    refused = await api.call("PUT", f"/api/v1/parcours/{p['id']}/referent", json={"referent": "agent-a", "at": day(2)})
    assert refused.status_code == 409


# --------------------------------------------------------------------------------------------------- CER
async def test_cer_dates_and_the_overdue_review_list(api):
    late_person, fine_person, plie_person = await api.person(), await api.person(), await api.person()
    late = await api.open(late_person, "rsa")
    fine = await api.open(fine_person, "rsa")
    plie = await api.open(plie_person, "plie")
    wrong = await api.cer(late["id"], signed=10, review=9)
    assert wrong.status_code == 422 and [e["field"] for e in wrong.json()["errors"]] == ["review_at"]
    empty = await api.cer(late["id"], signed=10, review=11, objectives=())
    assert empty.status_code == 422 and [e["field"] for e in empty.json()["errors"]] == ["objectives"]
    signed = await api.cer(late["id"], signed=10, review=100, objectives=("permis B", "logement"))
    assert signed.status_code == 201 and signed.json()["objectives"] == ["permis B", "logement"]
    assert (await api.cer(fine["id"], signed=10, review=500)).status_code == 201
    assert (await api.cer(plie["id"], signed=10, review=20)).status_code == 409  # a CER is an RSA contract

    assert await api.overdue() == [late["id"]]
    listed = (await api.call("GET", "/api/v1/parcours", params={"cer_review_overdue": "true"})).json()["items"]
    assert listed[0]["cer_review_at"] == day(100)
    # judged on another day: on day 100 the review is not past yet; on day 600 both are
    assert await api.overdue(at=day(100)) == []
    assert set(await api.overdue(at=day(600))) == {late["id"], fine["id"]}
    # a newer CER with a later review takes the parcours off the list
    await api.cer(late["id"], signed=120, review=450, objectives=("emploi",))
    assert await api.overdue() == []
    detail = await api.get(late["id"])
    assert [c["review_at"] for c in detail["cers"]] == [day(100), day(450)] and detail["cer_review_at"] == day(450)
    # an exited parcours is never overdue
    await api.cer(fine["id"], signed=20, review=30)
    assert await api.overdue() == [fine["id"]]
    await api.move(fine["id"], "exited", 40, "moved")
    assert await api.overdue() == []


async def test_the_parcours_list_filters_and_pages_without_gaps_or_repeats(api):
    ids = set()
    for programme in ("rsa", "plie", "plie", "iae", "plie"):
        ids.add((await api.open(await api.person(), programme))["id"])
    plie = (await api.call("GET", "/api/v1/parcours", params={"programme": "plie"})).json()["items"]
    assert len(plie) == 3 and {p["programme"] for p in plie} == {"plie"}
    await api.walk(plie[0]["id"], "welcomed")
    welcomed = (await api.call("GET", "/api/v1/parcours", params={"state": "welcomed"})).json()["items"]
    assert [p["id"] for p in welcomed] == [plie[0]["id"]]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.call("GET", "/api/v1/parcours", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    bad = await api.call("GET", "/api/v1/parcours", params={"cursor": "nope"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


# ------------------------------------------------------------------------------------------- diagnostics
DIAGNOSTIC = {
    "made_at": day(5),
    "barriers": {"mobility": 2, "health": 0, "childcare": 3, "language": 0, "housing": 1, "digital": 2, "other": 0},
    "skills": ["K2204", "N1103"],
    "wishes": ["G1602"],
    "max_travel_km": 25,
    "travel_modes": ["public_transport", "bike"],
    "weekly_hours_wanted": 24,
    "schedule_exclusions": ["night", "weekend"],
}


async def test_diagnostics_are_recorded_latest_first_and_feed_matching(api):
    pid = await api.person()
    first = await api.call("POST", f"/api/v1/participants/{pid}/diagnostics", json=DIAGNOSTIC)
    assert first.status_code == 201, first.text
    assert first.json()["barriers"]["childcare"] == 3
    body = {**DIAGNOSTIC, "made_at": day(50), "wishes": ["H2909"], "max_travel_km": 10}
    later = await api.call("POST", f"/api/v1/participants/{pid}/diagnostics", json=body)
    assert later.status_code == 201
    listed = (await api.call("GET", f"/api/v1/participants/{pid}/diagnostics")).json()["items"]
    assert [d["made_at"] for d in listed] == [day(50), day(5)]
    profile = [e for e in await api.events(PROFILE) if e["participant_id"] == pid][-1]
    assert (profile["wishes"], profile["max_travel_km"], profile["schedule_exclusions"]) == (
        ["H2909"], 10, ["night", "weekend"],
    )  # fmt: skip
    reads = await api.rows(sa.select(access_log.c.action).where(access_log.c.participant_id == uuid.UUID(pid)))
    assert ("diagnostics",) in [tuple(r) for r in reads]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"skills": ["K22"]}, "skills.0"),
        ({"wishes": ["G1602", "Z1234"]}, "wishes.1"),
        ({"barriers": {"health": 4}}, "barriers.health"),
        ({"barriers": {"luck": 1}}, "barriers.luck"),
        ({"weekly_hours_wanted": 49}, "weekly_hours_wanted"),
        ({"schedule_exclusions": ["sunday"]}, "schedule_exclusions.0"),
        ({"travel_modes": ["teleport"]}, "travel_modes.0"),
        ({"max_travel_km": -1}, "max_travel_km"),
    ],
)
async def test_an_invalid_diagnostic_is_422_with_the_field_path(api, change, field):
    pid = await api.person()
    response = await api.call("POST", f"/api/v1/participants/{pid}/diagnostics", json={**DIAGNOSTIC, **change})
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


# ---------------------------------------------------------------------------------------------- timeline
async def test_the_timeline_tells_everything_in_order_and_the_read_is_logged(api):
    pid = await api.person()
    p = await api.open(pid, "rsa", at=1)
    await api.call("PUT", f"/api/v1/parcours/{p['id']}/referent", json={"referent": "agent-a", "at": day(2)})
    await api.walk(p["id"], "welcomed", "diagnosed", start=3)
    await api.call("POST", f"/api/v1/participants/{pid}/diagnostics", json={**DIAGNOSTIC, "made_at": day(4)})
    await api.cer(p["id"], signed=6, review=90)
    await api.walk(p["id"], "supported", start=7)
    await record_hire(api, pid, start=day(8))
    response = await api.call("GET", f"/api/v1/participants/{pid}/timeline")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(i["kind"], i.get("to_state")) for i in items] == [
        ("parcours_opened", None),
        ("referent_assigned", None),
        ("transition", "welcomed"),
        ("transition", "diagnosed"),  # day 4, recorded before the diagnostic of day 4
        ("diagnostic", None),
        ("cer_signed", None),
        ("transition", "supported"),
        ("hire", None),
        ("transition", "employed"),
        ("registered", None),  # registered today, after these back-dated events
    ]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert items[7]["parcours_moved"] is True and items[8]["actor"] == "matching"
    assert items[1]["referent"] == "agent-a"
    logged = await api.rows(
        sa.select(access_log.c.action, access_log.c.subject).where(access_log.c.action == "timeline")
    )
    assert [tuple(r) for r in logged] == [("timeline", "referente-1")]


# ------------------------------------------------------------------------------------------------- hires
async def record_hire(api: Api, participant_id: str, start: str, application_id=None, tenant: str = HOME) -> CloudEvent:
    data = PlacementHiredV1(
        application_id=application_id or uuid.uuid4(),
        participant_id=uuid.UUID(participant_id),
        offer_id=uuid.uuid4(),
        employer_siret="73282932000074",
        contract_type="cdd",
        start_date=start,
        weekly_hours=35,
    )
    event = new_event(data, tenant=tenant, source="/tremplin/matching")
    async with api.app.state.sessionmaker() as session, session.begin():
        await on_placement_hired(session, event, data)
    return event


async def test_a_hire_moves_every_open_parcours_that_may_be_employed_and_only_once(api):
    pid = await api.person()
    plie = await api.open(pid, "plie")
    await api.walk(plie["id"], "welcomed", "diagnosed", "supported")
    rsa = await api.open(pid, "rsa")
    await api.walk(rsa["id"], "welcomed", "diagnosed", "supported", "training")
    iae = await api.open(pid, "iae")  # oriented: cannot be employed
    application = uuid.uuid4()
    await record_hire(api, pid, start=day(2), application_id=application)  # starts before plie's last move (day 3)
    plie_after, rsa_after, iae_after = await api.get(plie["id"]), await api.get(rsa["id"]), await api.get(iae["id"])
    assert (plie_after["state"], rsa_after["state"], iae_after["state"]) == ("employed", "employed", "oriented")
    assert plie_after["state_since"] == day(3)  # never before the last transition
    assert rsa_after["state_since"] == day(4)
    last = rsa_after["transitions"][-1]
    assert (last["actor"], last["reason"], last["from_state"]) == ("matching", "hire reported", "training")
    await record_hire(api, pid, start=day(2), application_id=application)  # the same hire again (new event id)
    assert len((await api.get(plie["id"]))["transitions"]) == len(plie_after["transitions"])
    assert len(await api.rows(sa.select(hires.c.id))) == 1


async def test_a_contract_starting_later_moves_the_parcours_on_its_start_date(api):
    """Reported ahead of its start, a hire moves nothing yet: the référent can still move or exit the
    parcours meanwhile; the parcours pass makes the move on the start date (or the first pass after)."""
    pid = await api.person()
    plie = await api.open(pid, "plie", at=1)
    await api.walk(plie["id"], "welcomed", "diagnosed", "supported", start=2)
    rsa = await api.open(pid, "rsa", at=1)
    await api.walk(rsa["id"], "welcomed", "diagnosed", "supported", start=2)
    start = today() + timedelta(days=10)
    application = uuid.uuid4()
    data = PlacementHiredV1(application_id=application, participant_id=uuid.UUID(pid), offer_id=uuid.uuid4(),
                            employer_siret="73282932000074", contract_type="cdi", start_date=start,
                            weekly_hours=35)  # fmt: skip
    async with api.app.state.sessionmaker() as session, session.begin():
        await on_placement_hired(session, new_event(data, tenant=HOME, source="/tremplin/matching"), data)
    assert [(await api.get(p["id"]))["state"] for p in (plie, rsa)] == ["supported", "supported"]
    [hire] = [i for i in (await api.call("GET", f"/api/v1/participants/{pid}/timeline")).json()["items"]
              if i["kind"] == "hire"]  # fmt: skip
    assert (hire["awaiting_start"], hire["parcours_moved"]) == (True, False)
    # meanwhile the Département closes its RSA parcours today: allowed (it was frozen until the start)
    exit_rsa = await api.call("POST", f"/api/v1/parcours/{rsa['id']}/transitions",
                              json={"to": "exited", "exit_kind": "other", "at": today().isoformat()})  # fmt: skip
    assert exit_rsa.status_code == 201, exit_rsa.text
    sessionmaker = api.app.state.sessionmaker
    assert await jobs.start_due_hires(sessionmaker, start - timedelta(days=1)) == 0  # not yet
    assert await jobs.start_due_hires(sessionmaker, start + timedelta(days=2)) == 1  # a late pass
    after = await api.get(plie["id"])
    assert (after["state"], after["state_since"]) == ("employed", start.isoformat())  # dated the start
    assert after["transitions"][-1]["actor"] == "matching"
    assert (await api.get(rsa["id"]))["state"] == "exited"
    assert await jobs.start_due_hires(sessionmaker, start + timedelta(days=3)) == 0  # once
    [row] = await api.rows(sa.select(hires.c.awaiting_start, hires.c.parcours_moved))
    assert (row.awaiting_start, row.parcours_moved) == (False, True)
    # the 183-day rule counts from the start
    assert await jobs.exit_durable_employments(sessionmaker, start + timedelta(days=182)) == 0
    assert await jobs.exit_durable_employments(sessionmaker, start + timedelta(days=183)) == 1


async def test_a_hire_that_cannot_move_a_parcours_is_recorded_and_an_unknown_person_is_ignored(api):
    pid = await api.person()
    p = await api.open(pid, "plie")
    await record_hire(api, pid, start=day(5))
    assert (await api.get(p["id"]))["state"] == "oriented"
    [row] = await api.rows(sa.select(hires.c.parcours_moved, hires.c.participant_id))
    assert row.parcours_moved is False
    await record_hire(api, str(uuid.uuid4()), start=day(5))  # nobody: no error, nothing stored
    await record_hire(api, pid, start=day(5), tenant=ABROAD)  # the right id in another tenant: ignored too
    assert len(await api.rows(sa.select(hires.c.id))) == 1
    gone = await api.person()
    assert (await api.call("DELETE", f"/api/v1/participants/{gone}")).status_code in (200, 204)
    await record_hire(api, gone, start=day(5))  # an erased person: nothing new is stored about them
    assert len(await api.rows(sa.select(hires.c.id))) == 1
    refused = await api.call(
        "POST", f"/api/v1/participants/{gone}/parcours", json={"programme": "rsa", "oriented_at": day(1)}
    )
    assert refused.status_code == 409
    diagnostic = await api.call("POST", f"/api/v1/participants/{gone}/diagnostics", json=DIAGNOSTIC)
    assert diagnostic.status_code == 409


# ------------------------------------------------------------------------------------------ 183-day rule
async def test_the_183_day_job_exits_on_day_183_not_182_and_only_once(api):
    pid = await api.person()
    p = await api.open(pid, "plie")
    await api.walk(p["id"], "welcomed", "diagnosed", "supported", "employed")  # employed on day 4
    other = await api.open(await api.person(), "plie")
    await api.walk(other["id"], "welcomed", "diagnosed", "supported", "employed", "supported")  # not employed
    employed_on = BASE + timedelta(days=4)
    sessionmaker = api.app.state.sessionmaker

    assert await jobs.exit_durable_employments(sessionmaker, employed_on + timedelta(days=182)) == 0
    assert (await api.get(p["id"]))["state"] == "employed"
    assert await jobs.exit_durable_employments(sessionmaker, employed_on + timedelta(days=183)) == 1
    after = await api.get(p["id"])
    assert (after["state"], after["exit_kind"], after["exited_at"], after["positive_exit"]) == (
        "exited", "durable_employment", (employed_on + timedelta(days=183)).isoformat(), True,
    )  # fmt: skip
    last = after["transitions"][-1]
    assert (last["actor"], last["from_state"], last["to_state"]) == ("system", "employed", "exited")
    assert await jobs.exit_durable_employments(sessionmaker, employed_on + timedelta(days=183)) == 0
    assert await jobs.exit_durable_employments(sessionmaker, employed_on + timedelta(days=300)) == 0
    assert len((await api.get(p["id"]))["transitions"]) == len(after["transitions"])
    exits = [e for e in await api.events(EXITED) if e["parcours_id"] == p["id"]]
    assert [(e["exit_kind"], e["positive"]) for e in exits] == [("durable_employment", True)]
    assert (await api.get(other["id"]))["state"] == "supported"
    n_log = await api.rows(sa.select(parcours_transitions.c.id).where(parcours_transitions.c.actor == "system"))
    assert len(n_log) == 1


async def test_the_job_run_late_dates_the_exit_on_day_183(api):
    pid = await api.person()
    p = await api.open(pid, "rsa")
    await api.walk(p["id"], "welcomed", "diagnosed", "supported", "employed")
    employed_on = BASE + timedelta(days=4)
    assert await jobs.exit_durable_employments(api.app.state.sessionmaker, employed_on + timedelta(days=250)) == 1
    assert (await api.get(p["id"]))["exited_at"] == (employed_on + timedelta(days=183)).isoformat()


# -------------------------------------------------------------------------------------------- indicators
async def test_indicators_through_the_api(api):
    a, b = await api.person(), await api.person()
    pa, pb = await api.open(a, "plie", at=10), await api.open(b, "plie", at=20)
    await api.move(pa["id"], "exited", 30, "durable_employment")
    await api.move(pb["id"], "exited", 40, "dropped_out")
    r = await api.open(a, "rsa", at=10)
    await api.walk(r["id"], "welcomed", start=14)  # 4 days
    await api.call("PUT", f"/api/v1/parcours/{r['id']}/referent", json={"referent": "agent-a", "at": day(15)})
    plie = await api.call("GET", "/api/v1/participants/indicators/plie", params={"from": day(0), "to": day(35)})
    assert plie.status_code == 200, plie.text
    body = plie.json()
    # entries: a (10), b (20) = 2; exits in [0, 35]: a (30, durable) = 1 → 1/1 for positive and durable
    assert (body["from"], body["entries"], body["exits"], body["positive_exits"]) == (day(0), 2, 1, 1)
    assert body["rates"]["positive"] == {"numerator": 1, "denominator": 1, "rate": 1.0, "target": 0.5, "met": True}
    assert body["rates"]["qualifying_training"]["met"] is False
    rsa = (await api.call("GET", "/api/v1/participants/indicators/rsa", params={"from": day(0), "to": day(35)})).json()
    assert rsa["followed"] == 1 and rsa["with_referent"]["rate"] == 1.0 and rsa["with_signed_cer"]["rate"] == 0.0
    assert rsa["median_days_oriented_to_welcomed"] == 4
    reversed_period = await api.call(
        "GET", "/api/v1/participants/indicators/rsa", params={"from": day(9), "to": day(1)}
    )
    assert reversed_period.status_code == 422 and reversed_period.json()["errors"][0]["field"] == "from"
    missing = await api.call("GET", "/api/v1/participants/indicators/plie", params={"to": day(1)})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "from"
    period = {"from": day(0), "to": day(35)}
    abroad = (await api.call("GET", "/api/v1/participants/indicators/plie", ABROAD, params=period)).json()
    assert (abroad["entries"], abroad["exits"]) == (0, 0)


# ------------------------------------------------------------------------------------------------ tenancy
async def test_every_parcours_route_hides_another_tenants_data(api):
    pid = await api.person()
    p = await api.open(pid, "rsa")
    await api.cer(p["id"], signed=1, review=2)
    await api.call("POST", f"/api/v1/participants/{pid}/diagnostics", json=DIAGNOSTIC)
    foreign = [
        ("GET", f"/api/v1/parcours/{p['id']}", None),
        ("POST", f"/api/v1/parcours/{p['id']}/transitions", {"to": "welcomed", "at": day(1)}),
        ("PUT", f"/api/v1/parcours/{p['id']}/referent", {"referent": "intruder", "at": day(1)}),
        ("POST", f"/api/v1/parcours/{p['id']}/cer", {"objectives": ["x"], "signed_at": day(1), "review_at": day(2)}),
        ("POST", f"/api/v1/participants/{pid}/parcours", {"programme": "plie", "oriented_at": day(1)}),
        ("GET", f"/api/v1/participants/{pid}/parcours", None),
        ("POST", f"/api/v1/participants/{pid}/diagnostics", DIAGNOSTIC),
        ("GET", f"/api/v1/participants/{pid}/diagnostics", None),
        ("GET", f"/api/v1/participants/{pid}/timeline", None),
    ]
    for method, path, body in foreign:
        response = await api.call(method, path, ABROAD, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.headers["content-type"] == "application/problem+json"
    for params in ({}, {"cer_review_overdue": "true"}, {"programme": "rsa"}):
        assert (await api.call("GET", "/api/v1/parcours", ABROAD, params=params)).json()["items"] == []
    untouched = await api.get(p["id"])
    assert untouched["state"] == "oriented" and untouched["referent"] is None and len(untouched["cers"]) == 1
    # nothing was written for the intruder, not even an access-log row
    abroad_rows = await api.rows(sa.select(access_log.c.id).where(access_log.c.tenant == ABROAD))
    assert abroad_rows == []


async def test_the_background_loop_runs_a_pass_with_its_clock(api):
    from types import SimpleNamespace

    from tremplin_shared.messaging.relay import OutboxRelay

    pid = await api.person()
    p = await api.open(pid, "plie")
    await api.walk(p["id"], "welcomed", "diagnosed", "supported", "employed")
    relay = OutboxRelay("probe", api.app.state.sessionmaker, "127.0.0.1:1", ["t"])  # not running: we look at it
    state = SimpleNamespace(settings=api.settings, sessionmaker=api.app.state.sessionmaker)
    clock = lambda: BASE + timedelta(days=4 + 183)  # noqa: E731
    task = asyncio.create_task(jobs.durable_exit_loop(SimpleNamespace(state=state), clock=clock))
    try:
        for _ in range(200):
            if (await api.get(p["id"]))["state"] == "exited":
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (await api.get(p["id"]))["state"] == "exited"
    assert relay._wake.is_set()  # the pass's commit woke the relay: the events leave at once
