"""End to end on PostgreSQL and the real broker, matching AND participants running:

participants registers a person (participants.events) → matching's candidate projection; France
Travail offers arrive on `inbound.france-travail` (good, duplicate, malformed → DLQ, closed); a
référente positions the person on the offer and moves the application up to the hire → placement.hired
on `matching.events` (outbox, relay) → participants moves the open parcours from `supported` to
`employed`.
"""

import asyncio
import contextlib
import json
import uuid
from datetime import timedelta

import httpx
import sqlalchemy as sa

from tremplin_matching.adapters.orm import offers
from tremplin_matching.adapters.projection import on_participant_upserts
from tremplin_matching.config import Settings as MatchingSettings
from tremplin_matching.main import create_app as create_matching
from tremplin_participants.config import Settings as ParticipantsSettings
from tremplin_participants.domain.flags import today
from tremplin_participants.main import create_app as create_participants
from tremplin_shared.events import (
    FranceTravailOffreClosedV1,
    FranceTravailOffrePublishedV1,
    FranceTravailOffreUpdatedV1,
    ParticipantRegisteredV1,
    PlacementHiredV1,
    new_event,
)
from tremplin_shared.events.contracts import EventData
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.messaging.tables import outbox

from .kafka_helpers import as_record, publish, read_matching

TENANT = f"hire-flow-{uuid.uuid4().hex[:8]}"  # its own: the broker is shared by the suite
SIRET = "73282932000074"
BASE = today() - timedelta(days=60)
FAST_GROUP = {"consumer_session_timeout_ms": 3000, "consumer_heartbeat_interval_ms": 300,
              "consumer_rebalance_timeout_ms": 2000, "consumer_max_attempts": 2,
              "consumer_retry_backoff_seconds": 0.05}  # fmt: skip
PERSON = {"first_name": "Inès", "last_name": "Moreau", "birth_date": "1979-09-30", "sex": "F",
          "latitude": 47.59, "longitude": 1.33, "skills": ["K2204"]}  # fmt: skip
FT_OFFER = {
    "id": "187XKLM",
    "intitule": "Agent de propreté (H/F)",
    "lieuTravail": {"libelle": "41 - BLOIS", "latitude": 47.5861, "longitude": 1.3359, "commune": "41018"},
    "romeCode": "K2204",
    "entreprise": {"nom": "NET'LOIR", "siret": SIRET},
    "typeContrat": "CDI",
    "natureContrat": "Contrat travail",
    "dureeTravailLibelle": "35H Horaires normaux",
    "nombrePostes": 1,
    "salaire": {"libelle": "Mensuel de 1801.80 Euros sur 12 mois"},
}


def day(n: int) -> str:
    return (BASE + timedelta(days=n)).isoformat()


@contextlib.asynccontextmanager
async def running(app, secret: str, base_url: str):
    headers = {IDENTITY_HEADER: sign_identity(Identity(TENANT, "referente", ("referent",)), secret)}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as client:
            yield client


def ft_record(data: EventData) -> tuple[bytes, bytes, list]:
    return as_record(new_event(data, tenant=TENANT, source="/france-travail"))


def malformed_record() -> tuple[bytes, bytes, list]:
    """A published event whose offer has no coordinates: it breaks its contract."""
    good = new_event(FranceTravailOffrePublishedV1.model_validate(FT_OFFER | {"id": "BROKEN"}), tenant=TENANT,
                     source="/france-travail")  # fmt: skip
    body = json.loads(good.value())
    body["lieuTravail"] = {"libelle": "41 - BLOIS"}
    return b"BROKEN", json.dumps(body).encode(), good.headers()


async def test_from_france_travail_offer_to_employed_parcours(broker, postgres, wait_for):
    participants_settings = ParticipantsSettings(
        database_url=await postgres.create("hire_participants"), kafka_bootstrap_servers=broker.bootstrap,
        durable_exit_interval_seconds=3600, **FAST_GROUP,
    )  # fmt: skip
    matching_settings = MatchingSettings(
        database_url=await postgres.create("hire_matching"), kafka_bootstrap_servers=broker.bootstrap, **FAST_GROUP
    )
    participants_app, matching_app = create_participants(participants_settings), create_matching(matching_settings)
    async with (
        running(participants_app, participants_settings.identity_secret, "http://participants") as participants,
        running(matching_app, matching_settings.identity_secret, "http://matching") as matching,
    ):
        # A person whose parcours is `supported` (participants), known to matching through events.
        person = await participants.post("/api/v1/participants", json=PERSON)
        assert person.status_code == 201, person.text
        pid = person.json()["id"]
        parcours = await participants.post(f"/api/v1/participants/{pid}/parcours",
                                           json={"programme": "plie", "oriented_at": day(0)})  # fmt: skip
        assert parcours.status_code == 201, parcours.text
        parcours_id = parcours.json()["id"]
        for n, state in enumerate(("welcomed", "diagnosed", "supported"), start=1):
            moved = await participants.post(f"/api/v1/parcours/{parcours_id}/transitions",
                                            json={"to": state, "at": day(n)})  # fmt: skip
            assert moved.status_code == 201, moved.text

        async def candidate_known() -> bool:
            return (await matching.get(f"/api/v1/matching/candidates/{pid}")).status_code == 200

        assert await wait_for(candidate_known, timeout=60)

        # France Travail pushes: published, the same again (redelivery under a new event id), a
        # malformed one, another offer published then closed.
        other = FT_OFFER | {"id": "187XKLZ", "intitule": "Laveur de vitres"}
        await publish(broker.bootstrap, "inbound.france-travail", [
            ft_record(FranceTravailOffrePublishedV1.model_validate(FT_OFFER)),
            ft_record(FranceTravailOffrePublishedV1.model_validate(FT_OFFER)),
            malformed_record(),
            ft_record(FranceTravailOffrePublishedV1.model_validate(other)),
            ft_record(FranceTravailOffreUpdatedV1.model_validate(FT_OFFER | {"intitule": "Agent de propreté"})),
            ft_record(FranceTravailOffreClosedV1(id="187XKLZ")),
        ])  # fmt: skip

        async def offers_by_external_id() -> dict:
            items = (await matching.get("/api/v1/offers")).json()["items"]
            return {o["external"]["id"]: o for o in items}

        async def intake_done() -> dict | None:
            found = await offers_by_external_id()
            ready = (
                found.get("187XKLM", {}).get("title") == "Agent de propreté"
                and found.get("187XKLZ", {}).get("status") == "closed"
            )
            return found if ready else None

        found = await wait_for(intake_done, timeout=60)
        assert found, await offers_by_external_id()
        assert sorted(found) == ["187XKLM", "187XKLZ"]  # no duplicate, nothing from the broken record
        offer = found["187XKLM"]
        assert (offer["contract_type"], offer["weekly_hours"], offer["employer"]["siret"]) == ("cdi", 35.0, SIRET)
        # Dead-lettered by matching, whose event it is; participants reads this topic too (for the job
        # seeker registrations) and leaves offers alone, broken or not.
        dead = await read_matching(
            broker.bootstrap, "inbound.france-travail.dlq", lambda r: dict(r.headers)["ce_tenant"] == TENANT.encode(), 1
        )
        assert [r.key for r in dead] == [b"BROKEN"]
        assert dict(dead[0].headers)["dlq_consumer"] == b"matching"
        assert b"breaks its contract" in dict(dead[0].headers)["dlq_error"]
        async with matching_app.state.sessionmaker() as session:
            count = sa.select(sa.func.count()).select_from(offers).where(offers.c.external_id == "187XKLM")
            assert (await session.execute(count)).scalar_one() == 1

        # Positioned, sent, interview, hired.
        created = await matching.post("/api/v1/applications", json={"participant_id": pid, "offer_id": offer["id"]})
        assert created.status_code == 201, created.text
        application_id = created.json()["id"]
        for state in ("sent", "interview"):
            assert (await matching.post(f"/api/v1/applications/{application_id}/transitions",
                                        json={"to": state})).status_code == 201  # fmt: skip
        hired = await matching.post(
            f"/api/v1/applications/{application_id}/transitions",
            json={"to": "hired", "start_date": day(40), "contract_type": "cdi", "weekly_hours": 35},
        )
        assert hired.status_code == 201, hired.text
        filled = (await matching.get(f"/api/v1/offers/{offer['id']}")).json()
        assert (filled["status"], filled["open_positions"]) == ("filled", 0)

        async def parcours_state() -> str:
            return (await participants.get(f"/api/v1/parcours/{parcours_id}")).json()["state"]

        async def employed() -> bool:
            return await parcours_state() == "employed"

        assert await wait_for(employed, timeout=60), await parcours_state()
        detail = (await participants.get(f"/api/v1/parcours/{parcours_id}")).json()
        assert (detail["transitions"][-1]["from_state"], detail["transitions"][-1]["to_state"]) == (
            "supported", "employed",
        )  # fmt: skip

        (record,) = await read_matching(
            broker.bootstrap, "matching.events", lambda r: r.key == application_id.encode(), expected=1
        )
        headers = dict(record.headers)
        assert headers["ce_type"] == PlacementHiredV1.ce_type.encode() and headers["ce_tenant"] == TENANT.encode()
        assert PlacementHiredV1.model_validate_json(record.value) == PlacementHiredV1(
            application_id=uuid.UUID(application_id), participant_id=uuid.UUID(pid), offer_id=uuid.UUID(offer["id"]),
            employer_siret=SIRET, contract_type="cdi", start_date=day(40), weekly_hours=35,
        )  # fmt: skip


async def test_concurrent_hires_and_applications_on_postgresql(postgres):
    """Two hires racing for the last position: one wins, the other is 409, one event. Two identical
    applications at once: one is created, the other is 409."""
    settings = MatchingSettings(database_url=await postgres.create("hire_race"), run_background_workers=False)
    app = create_matching(settings)
    async with running(app, settings.identity_secret, "http://matching") as matching:
        pids = []
        for _ in range(3):
            data = ParticipantRegisteredV1(participant_id=uuid.uuid4(), registered_at="2026-01-05T00:00:00Z",
                                           latitude=47.59, longitude=1.33)  # fmt: skip
            async with app.state.sessionmaker() as session, session.begin():
                await on_participant_upserts(session, new_event(data, tenant=TENANT, source="/t"), data)
            pids.append(str(data.participant_id))
        offer = (
            await matching.post("/api/v1/offers", json={
                "title": "Agent de propreté", "employer": {"name": "Net'Loir", "siret": SIRET}, "contract_type": "cdi",
                "location": {"latitude": 47.59, "longitude": 1.33}, "positions": 1})
        ).json()  # fmt: skip
        ids = []
        for pid in pids[:2]:
            application = await matching.post("/api/v1/applications", json={"participant_id": pid,
                                                                             "offer_id": offer["id"]})  # fmt: skip
            ids.append(application.json()["id"])
            for state in ("sent", "interview"):
                await matching.post(f"/api/v1/applications/{ids[-1]}/transitions", json={"to": state})
        hire = {"to": "hired", "start_date": day(40), "contract_type": "cdi", "weekly_hours": 35}
        results = await asyncio.gather(
            *(matching.post(f"/api/v1/applications/{i}/transitions", json=hire) for i in ids)
        )
        assert sorted(r.status_code for r in results) == [201, 409]
        assert (await matching.get(f"/api/v1/offers/{offer['id']}")).json()["open_positions"] == 0
        async with app.state.sessionmaker() as session:
            events = (await session.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one()
        assert events == 1

        other = (
            await matching.post("/api/v1/offers", json={
                "title": "Cariste", "employer": {"name": "Logis", "siret": SIRET}, "contract_type": "cdi",
                "location": {"latitude": 47.59, "longitude": 1.33}})
        ).json()  # fmt: skip
        body = {"participant_id": pids[2], "offer_id": other["id"]}
        twins = await asyncio.gather(*(matching.post("/api/v1/applications", json=body) for _ in range(4)))
        assert sorted(r.status_code for r in twins) == [201, 409, 409, 409]
