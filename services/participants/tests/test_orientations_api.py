"""Orientations on real PostgreSQL (and SQLite), in-process (no broker: the registrations are handed to the
service's consumer as the records Kafka would give it, through the inbox): the queue, idempotence,
redelivery, an older registration after a newer one, tenant isolation on every route, accept (the
participant and its outbox rows atomically), dismiss, 409s, erasure."""

import json
import uuid
from datetime import date, timedelta

import httpx
import pytest
import sqlalchemy as sa
from aiokafka.structs import ConsumerRecord
from stdnum.fr import nir as stdnum_nir

from tremplin_participants import orientation_service, service_layer
from tremplin_participants.adapters.handlers import handlers
from tremplin_participants.adapters.orm import (
    access_log,
    france_travail_erasures,
    orientation_transitions,
    orientations,
    participants,
)
from tremplin_participants.config import Settings
from tremplin_participants.domain.erasure import france_travail_pseudonym
from tremplin_participants.domain.flags import today
from tremplin_participants.main import create_app
from tremplin_shared.events import new_event
from tremplin_shared.events.contracts import FranceTravailJobSeekerRegisteredV1, FranceTravailOffreClosedV1
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.messaging.consumer import EventConsumer
from tremplin_shared.messaging.tables import inbox, outbox

HOME, OTHER = "loir-et-cher", "cher"
REGISTERED = "fr.tremplin.participants.participant.registered.v1"
PROFILE_CHANGED = "fr.tremplin.participants.participant.profile_changed.v1"
NIR = "1840341018123" + stdnum_nir.calc_check_digits("1840341018123")
PERSON = {"first_name": "Inès", "last_name": "Moreau", "birth_date": "1979-09-30", "sex": "F"}


def registration(ft_id: str = "FT-0001", on: date = date(2026, 1, 5), **changes) -> FranceTravailJobSeekerRegisteredV1:
    values = {"identifiant": ft_id, "dateInscription": on, "categorie": "A", "commune": "41018", "latitude": 47.59,
              "longitude": 1.33, "romeCodes": ["K2204"], "rsa": True}  # fmt: skip
    return FranceTravailJobSeekerRegisteredV1(**{**values, **changes})


class Api:
    def __init__(self, app, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app, self.client, self.settings = app, client, settings
        self.offset = 0
        self.consumer = EventConsumer("participants", ["inbound.france-travail"], handlers(settings.nir_hash_key),
                                      app.state.sessionmaker, bootstrap="unused")  # fmt: skip

    def headers(self, tenant: str = HOME):
        identity = Identity(tenant, "referente-1", ("referent",))
        return {IDENTITY_HEADER: sign_identity(identity, self.settings.identity_secret)}

    async def deliver(self, *events) -> None:
        """The records through the consumer's own path (decode, inbox, handlers), one transaction."""
        records = []
        for event in events:
            self.offset += 1
            records.append(ConsumerRecord("inbound.france-travail", 0, self.offset, 0, 0, event.subject.encode(),
                                          event.value(), None, 0, 0, event.headers()))  # fmt: skip
        await self.consumer._apply(records)

    async def push(self, data, tenant: str = HOME):
        event = new_event(data, tenant=tenant, source="/france-travail")
        await self.deliver(event)
        return event

    async def get(self, path: str, tenant: str = HOME, **params) -> httpx.Response:
        return await self.client.get(f"/api/v1/participants/orientations{path}", params=params,
                                     headers=self.headers(tenant))  # fmt: skip

    async def post(self, path: str, body: dict, tenant: str = HOME) -> httpx.Response:
        return await self.client.post(f"/api/v1/participants/orientations{path}", json=body,
                                      headers=self.headers(tenant))  # fmt: skip

    async def pending(self, tenant: str = HOME, **params) -> list[dict]:
        response = await self.get("", tenant, **params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def count(self, table, *where) -> int:
        async with self.app.state.sessionmaker() as session:
            stmt = sa.select(sa.func.count()).select_from(table)
            return (await session.execute(stmt.where(*where) if where else stmt)).scalar_one()

    async def outbox_events(self, event_type: str) -> list[dict]:
        async with self.app.state.sessionmaker() as session:
            rows = await session.execute(sa.select(outbox.c.value).where(outbox.c.event_type == event_type))
            return [json.loads(v) for v in rows.scalars()]


@pytest.fixture(params=["postgres", "sqlite"])
async def api(request, postgres, tmp_path):
    # PostgreSQL as in production; SQLite too, the embedded default's database.
    url = (
        await postgres.create("orientations") if request.param == "postgres" else f"sqlite+aiosqlite:///{tmp_path}/p.db"
    )
    settings = Settings(database_url=url, run_background_workers=False, nir_hash_key="test-nir-key")
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://participants") as client:
            yield Api(app, client, settings)


# ------------------------------------------------------------------------------------------ consumer
async def test_a_registration_becomes_a_pending_orientation_without_identity(api):
    await api.push(registration())
    [item] = await api.pending()
    assert {k: item[k] for k in ("france_travail_id", "registered_on", "category", "commune_insee", "latitude",
                                 "longitude", "rome_codes", "rsa", "status", "participant_id")} == {
        "france_travail_id": "FT-0001", "registered_on": "2026-01-05", "category": "A", "commune_insee": "41018",
        "latitude": 47.59, "longitude": 1.33, "rome_codes": ["K2204"], "rsa": True, "status": "pending",
        "participant_id": None,
    }  # fmt: skip
    detail = (await api.get(f"/{item['id']}")).json()
    assert [(t["from_status"], t["to_status"], t["actor"]) for t in detail["transitions"]] == [
        (None, "pending", "france-travail")
    ]
    assert await api.count(outbox) == 0  # an orientation is not a participant: nothing to tell others


async def test_a_redelivered_event_and_a_duplicate_in_one_batch_apply_once(api):
    event = await api.push(registration())
    await api.deliver(event)  # redelivery (after a crash before the offset commit)
    await api.deliver(event, event)
    assert len(await api.pending()) == 1
    assert await api.count(inbox, inbox.c.event_id == event.id) == 1
    assert await api.count(orientation_transitions) == 1


async def test_a_re_registration_updates_the_pending_entry_and_an_older_one_never_overwrites(api):
    await api.push(registration(on=date(2026, 1, 5)))
    await api.push(registration(on=date(2026, 2, 10), categorie="B", commune="41269", romeCodes=["N1103"], rsa=None))
    [item] = await api.pending()
    assert (item["registered_on"], item["category"], item["commune_insee"], item["rome_codes"], item["rsa"]) == (
        "2026-02-10", "B", "41269", ["N1103"], None,
    )  # fmt: skip
    await api.push(registration(on=date(2026, 1, 5)))  # an older event, arriving late (new event id)
    [again] = await api.pending()
    assert again["registered_on"] == "2026-02-10" and again["category"] == "B"
    assert await api.count(orientations) == 1


async def test_offer_events_on_the_topic_are_skipped_not_applied_nor_dead_lettered(api):
    await api.push(FranceTravailOffreClosedV1(id="OFFRE-1"))
    assert await api.count(inbox) == 0 and await api.count(orientations) == 0  # no handler: skipped
    assert api.consumer.dead_lettered_total == 0


async def test_the_tenant_is_the_events_and_each_territory_has_its_own_queue(api):
    await api.push(registration("FT-SAME"), tenant=HOME)
    await api.push(registration("FT-SAME", categorie="C"), tenant=OTHER)
    [home] = await api.pending(HOME)
    [other] = await api.pending(OTHER)
    assert home["id"] != other["id"] and (home["category"], other["category"]) == ("A", "C")
    # Every route answers 404 for the other territory's orientation, and writes nothing.
    assert (await api.get(f"/{home['id']}", OTHER)).status_code == 404
    accepted = await api.post(f"/{home['id']}/accept", PERSON, OTHER)
    dismissed = await api.post(f"/{home['id']}/dismiss", {"reason": "x"}, OTHER)
    for response in (accepted, dismissed):
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert await api.count(participants) == 0
    assert (await api.get(f"/{home['id']}")).json()["status"] == "pending"


async def test_a_registration_for_a_known_participant_updates_them_instead_of_queueing(api):
    long_ago = today() - timedelta(days=400)  # unemployed since then: long-term unemployed
    await api.push(registration("FT-KNOWN", on=long_ago))
    [item] = await api.pending()
    accepted = await api.post(f"/{item['id']}/accept", PERSON)
    assert accepted.status_code == 201, accepted.text
    pid = accepted.json()["participant"]["id"]
    assert accepted.json()["participant"]["flags"]["long_term_unemployed"] is True
    patched = await api.client.patch(f"/api/v1/participants/{pid}", json={"job_seeker_registered": False,
                                     "unemployed_since": None}, headers=api.headers())  # fmt: skip
    assert patched.status_code == 200 and patched.json()["flags"]["long_term_unemployed"] is False
    before = len(await api.outbox_events(PROFILE_CHANGED))
    await api.push(registration("FT-KNOWN", on=long_ago))  # France Travail reports it again
    assert await api.pending() == []  # no new orientation
    person = (await api.client.get(f"/api/v1/participants/{pid}", headers=api.headers())).json()
    assert person["job_seeker_registered"] is True and person["unemployed_since"] == long_ago.isoformat()
    assert person["flags"]["long_term_unemployed"] is True
    profiles = await api.outbox_events(PROFILE_CHANGED)
    assert len(profiles) == before + 1  # through the outbox, as any change
    assert profiles[-1]["participant_id"] == pid and profiles[-1]["flags"]["long_term_unemployed"] is True
    await api.push(registration("FT-KNOWN", on=today() - timedelta(days=10)))  # nothing new to say: no event
    person = (await api.client.get(f"/api/v1/participants/{pid}", headers=api.headers())).json()
    assert person["unemployed_since"] == long_ago.isoformat()  # known: kept
    assert len(await api.outbox_events(PROFILE_CHANGED)) == before + 1
    assert await api.count(orientations) == 1


async def test_a_later_registration_after_a_dismissal_is_a_new_pending_orientation(api):
    await api.push(registration("FT-D", on=date(2026, 1, 5)))
    [item] = await api.pending()
    assert (await api.post(f"/{item['id']}/dismiss", {"reason": "lives elsewhere"})).status_code == 200
    await api.push(registration("FT-D", on=date(2026, 1, 5)))  # a replay of the dismissed one
    assert await api.pending() == []
    await api.push(registration("FT-D", on=date(2026, 5, 1)))  # registered again, months later
    [again] = await api.pending()
    assert again["id"] != item["id"] and again["registered_on"] == "2026-05-01"


# ------------------------------------------------------------------------------------------- list
async def test_the_list_filters_by_status_commune_and_rsa_and_pages(api):
    for n in range(5):
        await api.push(registration(f"FT-{n}", on=date(2026, 1, 1) + timedelta(days=n), rsa=n % 2 == 0,
                                    commune="41018" if n < 3 else "41269"))  # fmt: skip
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("", **params)).json()
        seen += [i["france_travail_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["FT-0", "FT-1", "FT-2", "FT-3", "FT-4"]  # oldest registration first
    assert [i["france_travail_id"] for i in await api.pending(rsa="true")] == ["FT-0", "FT-2", "FT-4"]
    assert [i["france_travail_id"] for i in await api.pending(commune="41269")] == ["FT-3", "FT-4"]
    first = (await api.pending())[0]
    await api.post(f"/{first['id']}/dismiss", {"reason": "duplicate"})
    assert [i["france_travail_id"] for i in await api.pending(status="dismissed")] == ["FT-0"]
    assert len(await api.pending()) == 4
    bad = await api.get("", cursor="not-a-cursor")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    bad = await api.get("", status="accepted-ish")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


# ------------------------------------------------------------------------------------------- accept
async def test_accept_creates_the_participant_with_its_events_and_closes_the_orientation(api):
    await api.push(registration("FT-A", on=date(2026, 1, 5), romeCodes=["K2204", "N1103"]))
    [item] = await api.pending()
    response = await api.post(f"/{item['id']}/accept", {**PERSON, "skills": ["N1103", "G1602"]})
    assert response.status_code == 201, response.text
    body = response.json()
    person, orientation = body["participant"], body["orientation"]
    assert person["job_seeker_registered"] is True and person["unemployed_since"] == "2026-01-05"
    assert (person["latitude"], person["longitude"], person["commune_insee"]) == (47.59, 1.33, "41018")
    assert person["skills"] == ["N1103", "G1602", "K2204"] and person["rsa"] is True
    assert person["france_travail_id"] == "FT-A"
    assert (orientation["status"], orientation["participant_id"]) == ("accepted", person["id"])
    assert [(t["from_status"], t["to_status"], t["actor"]) for t in orientation["transitions"]] == [
        (None, "pending", "france-travail"), ("pending", "accepted", "referente-1"),
    ]  # fmt: skip
    # Exactly what a normal creation emits: registered + profile_changed, no names.
    [registered] = await api.outbox_events(REGISTERED)
    [profile] = await api.outbox_events(PROFILE_CHANGED)
    assert registered["participant_id"] == person["id"] == profile["participant_id"]
    assert profile["skills"] == ["N1103", "G1602", "K2204"]
    async with api.app.state.sessionmaker() as session:
        values = (await session.execute(sa.select(outbox.c.value))).scalars().all()
    assert not any("Moreau" in v or "Inès" in v or "FT-A" in v for v in values)
    assert await api.pending() == []


async def test_reading_an_accepted_orientation_is_in_the_person_s_access_log(api):
    await api.push(registration("FT-LOG"))
    [item] = await api.pending()
    assert (await api.get(f"/{item['id']}")).status_code == 200
    assert await api.count(access_log) == 0  # a pending one leads to no person on the platform yet
    accepted = await api.post(f"/{item['id']}/accept", PERSON)
    assert accepted.status_code == 201, accepted.text
    person = accepted.json()["participant"]["id"]
    assert (await api.get(f"/{item['id']}")).status_code == 200
    assert (await api.get("", status="accepted")).status_code == 200
    log = await api.client.get(f"/api/v1/participants/{person}/access-log", headers=api.headers())
    assert log.status_code == 200, log.text
    actions = [(e["action"], e["subject"]) for e in log.json()["items"]]
    assert ("orientation", "referente-1") in actions and ("orientation_list", "referente-1") in actions


async def test_accept_with_an_existing_nir_is_409_and_writes_nothing(api):
    other = await api.client.post("/api/v1/participants", json={**PERSON, "latitude": 47.0, "longitude": 1.0,
                                  "nir": NIR}, headers=api.headers())  # fmt: skip
    assert other.status_code == 201
    await api.push(registration("FT-N"))
    [item] = await api.pending()
    before = await api.count(outbox)
    response = await api.post(f"/{item['id']}/accept", {**PERSON, "nir": NIR})
    assert response.status_code == 409 and response.json()["existing_id"] == other.json()["id"]
    assert await api.count(outbox) == before and await api.count(participants) == 1
    assert (await api.get(f"/{item['id']}")).json()["status"] == "pending"


async def test_accept_422s_have_field_paths_and_write_nothing(api):
    await api.push(registration("FT-L", latitude=None, longitude=None))
    [item] = await api.pending()
    cases = [
        ({**PERSON}, ["latitude", "longitude"]),  # France Travail gave no location: the body must
        ({**PERSON, "latitude": 47.0, "longitude": 1.0, "birth_date": "2030-01-01"}, ["birth_date"]),
        ({**PERSON, "latitude": 47.0, "longitude": 1.0, "skills": ["nope"]}, ["skills.0"]),
        ({**PERSON, "latitude": 47.0, "longitude": 1.0, "job_seeker_registered": False}, ["job_seeker_registered"]),
        ({"first_name": "X"}, ["last_name", "birth_date", "sex"]),
    ]
    for body, fields in cases:
        response = await api.post(f"/{item['id']}/accept", body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert sorted(e["field"] for e in response.json()["errors"]) == sorted(fields), response.text
    assert await api.count(participants) == 0 and await api.count(outbox) == 0
    ok = await api.post(f"/{item['id']}/accept", {**PERSON, "latitude": 47.0, "longitude": 1.0})
    assert ok.status_code == 201 and ok.json()["participant"]["latitude"] == 47.0


async def test_a_failure_in_the_middle_of_accept_leaves_neither_participant_nor_event(api, monkeypatch):
    await api.push(registration("FT-F"))
    [item] = await api.pending()

    async def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    # After the participant row and its outbox rows were written, before the orientation's log.
    monkeypatch.setattr(orientation_service.repo, "log_transition", broken)
    response = await api.post(f"/{item['id']}/accept", PERSON)
    assert response.status_code == 500 and response.headers["content-type"] == "application/problem+json"
    assert await api.count(participants) == 0 and await api.count(outbox) == 0
    assert (await api.get(f"/{item['id']}")).json()["status"] == "pending"
    monkeypatch.undo()
    assert (await api.post(f"/{item['id']}/accept", PERSON)).status_code == 201


async def test_illegal_transitions_are_409_with_the_allowed_targets(api):
    await api.push(registration("FT-X"))
    await api.push(registration("FT-Y"))
    first, second = await api.pending()
    assert (await api.post(f"/{first['id']}/accept", PERSON)).status_code == 201
    assert (await api.post(f"/{second['id']}/dismiss", {"reason": "  moved  "})).json()["dismissal_reason"] == "moved"
    for some_id, move, body, current in [
        (first["id"], "accept", PERSON, "accepted"),
        (first["id"], "dismiss", {"reason": "late"}, "accepted"),
        (second["id"], "accept", PERSON, "dismissed"),
        (second["id"], "dismiss", {"reason": "again"}, "dismissed"),
    ]:
        response = await api.post(f"/{some_id}/{move}", body)
        assert response.status_code == 409, response.text
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert (problem["current_status"], problem["allowed"]) == (current, [])
    assert await api.count(participants) == 1 and len(await api.outbox_events(REGISTERED)) == 1
    assert (await api.post(f"/{second['id']}/dismiss", {"reason": " "})).status_code == 422
    assert (await api.get(f"/{uuid.uuid4()}")).status_code == 404


async def test_accept_when_a_participant_already_carries_the_id_is_409(api):
    await api.push(registration("FT-Z"))
    [item] = await api.pending()
    # The id reached a participant meanwhile (e.g. the pending entry predates the link).
    fields = {**PERSON, "birth_date": date(1979, 9, 30), "latitude": 47.0, "longitude": 1.0, "skills": [],
              "france_travail_id": "FT-Z"}  # fmt: skip
    participant = service_layer.new_participant(HOME, fields, None, "k")
    async with api.app.state.sessionmaker() as session, session.begin():
        await service_layer.add_participant(session, participant)
    before = await api.count(outbox)
    response = await api.post(f"/{item['id']}/accept", PERSON)
    assert response.status_code == 409 and response.json()["existing_id"] == str(participant.id)
    assert await api.count(participants) == 1 and await api.count(outbox) == before
    assert (await api.get(f"/{item['id']}")).json()["status"] == "pending"


# ------------------------------------------------------------------------------------------- erasure
async def test_erasure_leaves_the_accepted_orientation_unlinkable(api):
    await api.push(registration("FT-E", romeCodes=["K2204"]))
    [item] = await api.pending()
    pid = (await api.post(f"/{item['id']}/accept", PERSON)).json()["participant"]["id"]
    erased = await api.client.delete(f"/api/v1/participants/{pid}", headers=api.headers())
    assert erased.status_code == 204
    detail = (await api.get(f"/{item['id']}")).json()
    assert detail["status"] == "accepted" and detail["registered_on"] == "2026-01-05"  # the counts stay
    assert detail["commune_insee"] == "41018" and detail["category"] == "A"
    assert (detail["france_travail_id"], detail["participant_id"], detail["latitude"], detail["rome_codes"]) == (
        None, None, None, [],
    )  # fmt: skip
    async with api.app.state.sessionmaker() as session:
        left = (await session.execute(sa.select(participants.c.france_travail_id))).scalars().all()
        linked = await session.execute(sa.select(orientations.c.id).where(orientations.c.france_travail_id == "FT-E"))
    assert left == [None] and linked.all() == []
    assert [i["france_travail_id"] for i in await api.pending(status="accepted")] == [None]
    # What France Travail sends again of the registrations the person had (a dead letter replayed, an
    # update, a registration dated before the erasure): nothing comes back.
    for again in (registration("FT-E", romeCodes=["K2204"]), registration("FT-E", on=date(2026, 6, 1))):
        assert await apply(api, again) == "erased_ignored"
    assert await api.pending() == []
    # Registered again after the erasure: a new case to orient, not the erased person.
    await api.push(registration("FT-E", on=today() + timedelta(days=1)))
    [fresh] = await api.pending()
    assert fresh["id"] != item["id"] and fresh["participant_id"] is None
    # The erasure kept a pseudonym of the id, never the id itself.
    async with api.app.state.sessionmaker() as session:
        [kept] = (await session.execute(sa.select(france_travail_erasures))).all()
    assert kept.tenant == HOME and kept.registered_until == today() and "FT-E" not in kept.pseudonym
    assert kept.pseudonym == france_travail_pseudonym("FT-E", api.settings.nir_hash_key) != france_travail_pseudonym(
        "FT-E", "another-key")  # fmt: skip


async def test_erasure_forgets_the_persons_other_orientations_and_another_territory_is_not_concerned(api):
    """The person's first registration was dismissed, a later one accepted: the erasure forgets the
    dismissed orientation too (it carries their France Travail id). The same id in another territory
    is that territory's case."""
    await api.push(registration("FT-D"))
    await api.push(registration("FT-D"), tenant=OTHER)
    [first] = await api.pending()
    assert (await api.post(f"/{first['id']}/dismiss", {"reason": "déménagement"})).status_code == 200
    await api.push(registration("FT-D", on=date(2026, 3, 2)))
    [second] = await api.pending()
    pid = (await api.post(f"/{second['id']}/accept", PERSON)).json()["participant"]["id"]
    assert (await api.client.delete(f"/api/v1/participants/{pid}", headers=api.headers())).status_code == 204
    detail = (await api.get(f"/{first['id']}")).json()
    assert (detail["status"], detail["france_travail_id"], detail["latitude"], detail["dismissal_reason"]) == (
        "dismissed", None, None, None)  # fmt: skip
    async with api.app.state.sessionmaker() as session:
        kept = await session.execute(
            sa.select(orientations.c.id).where(
                orientations.c.tenant == HOME, orientations.c.france_travail_id.is_not(None)
            )
        )
    assert kept.all() == []
    assert await apply(api, registration("FT-D", on=date(2026, 3, 2))) == "erased_ignored"
    [theirs] = await api.pending(OTHER)
    assert theirs["france_travail_id"] == "FT-D"
    assert await apply(api, registration("FT-D", on=date(2026, 2, 1)), tenant=OTHER) == "updated"


async def apply(api, data, tenant: str = HOME) -> str:
    """One registration through the service's use case (what the consumer's handler calls): its outcome."""
    async with api.app.state.sessionmaker() as session, session.begin():
        return await orientation_service.apply_registration(session, tenant, data, api.settings.nir_hash_key)


async def test_a_registration_date_before_birth_or_in_the_future_is_not_forced_on_a_participant(api):
    await api.push(registration("FT-B"))
    [item] = await api.pending()
    pid = (await api.post(f"/{item['id']}/accept", PERSON)).json()["participant"]["id"]
    await api.client.patch(f"/api/v1/participants/{pid}", json={"unemployed_since": None}, headers=api.headers())
    await api.push(registration("FT-B", on=today() + timedelta(days=3)))
    person = (await api.client.get(f"/api/v1/participants/{pid}", headers=api.headers())).json()
    assert person["unemployed_since"] is None and person["job_seeker_registered"] is True
