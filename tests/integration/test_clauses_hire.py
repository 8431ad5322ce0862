"""The hire-to-placement path end to end, on PostgreSQL and the real broker, with participants,
matching and clauses running:

participants registers an RSA beneficiary (clause-eligible) → participant.profile_changed on
`participants.events` → clauses and matching project it; a facilitator registers a market whose lot
is the clause; matching's offer is linked to the lot; the application goes to hired → placement.hired
on `matching.events` → clauses places the person on the lot by itself → hours declared and validated
up to the lot's required hours → clause.placement.created, clause.hours.validated and
clause.lot.completed on `clauses.events`.
"""

import contextlib
import uuid
from datetime import timedelta

import httpx

from tremplin_clauses.config import Settings as ClausesSettings
from tremplin_clauses.main import create_app as create_clauses
from tremplin_matching.config import Settings as MatchingSettings
from tremplin_matching.main import create_app as create_matching
from tremplin_participants.config import Settings as ParticipantsSettings
from tremplin_participants.domain.flags import today
from tremplin_participants.main import create_app as create_participants
from tremplin_shared.events.clauses import (
    ClauseHoursValidatedV1,
    ClauseLotCompletedV1,
    ClauseMarketCreatedV1,
    ClausePlacementCreatedV1,
)
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

from .kafka_helpers import read_matching

TENANT = f"clauses-hire-{uuid.uuid4().hex[:8]}"  # its own: the broker is shared by the suite
CONTRACTOR = "73282932000074"
BUYER = "22410001600019"
FAST_GROUP = {"consumer_session_timeout_ms": 3000, "consumer_heartbeat_interval_ms": 300,
              "consumer_rebalance_timeout_ms": 2000}  # fmt: skip
PERSON = {"first_name": "Samia", "last_name": "Benali", "birth_date": "1981-04-17", "sex": "F", "rsa": True,
          "latitude": 47.59, "longitude": 1.33, "skills": ["F1703"]}  # fmt: skip
BASE = today() - timedelta(days=30)


def day(n: int) -> str:
    return (BASE + timedelta(days=n)).isoformat()


@contextlib.asynccontextmanager
async def running(app, secret: str, base_url: str, *roles: str):
    identity = Identity(TENANT, "facilitatrice-41", roles or ("referent",))
    headers = {IDENTITY_HEADER: sign_identity(identity, secret)}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as client:
            yield client


async def test_a_hire_on_an_offer_of_a_lot_places_the_person_and_the_hours_complete_the_lot(broker, postgres,
                                                                                            wait_for):  # fmt: skip
    common = {"kafka_bootstrap_servers": broker.bootstrap, **FAST_GROUP}
    participants_settings = ParticipantsSettings(database_url=await postgres.create("ch_participants"),
                                                 durable_exit_interval_seconds=3600, **common)  # fmt: skip
    matching_settings = MatchingSettings(database_url=await postgres.create("ch_matching"), **common)
    clauses_settings = ClausesSettings(database_url=await postgres.create("ch_clauses"), **common)
    apps = (
        create_participants(participants_settings),
        create_matching(matching_settings),
        create_clauses(clauses_settings),
    )
    async with (
        running(apps[0], participants_settings.identity_secret, "http://participants") as participants,
        running(apps[1], matching_settings.identity_secret, "http://matching") as matching,
        running(apps[2], clauses_settings.identity_secret, "http://clauses", "facilitator") as clauses,
    ):
        person = await participants.post("/api/v1/participants", json=PERSON)
        assert person.status_code == 201, person.text
        pid = person.json()["id"]
        parcours = await participants.post(f"/api/v1/participants/{pid}/parcours",
                                           json={"programme": "rsa", "oriented_at": day(0)})  # fmt: skip
        parcours_id = parcours.json()["id"]
        for n, state in enumerate(("welcomed", "diagnosed", "supported"), start=1):
            moved = await participants.post(f"/api/v1/parcours/{parcours_id}/transitions",
                                            json={"to": state, "at": day(n)})  # fmt: skip
            assert moved.status_code == 201, moved.text

        market = await clauses.post("/api/v1/clauses/markets", json={
            "reference": "CD41-2026-COL-BLOIS", "title": "Restructuration du collège Bégon, Blois",
            "legal_basis": "article L2112-2 du code de la commande publique",
            "buyer": {"name": "Conseil départemental de Loir-et-Cher", "siret": BUYER, "kind": "public"},
            "lots": [{"number": 3, "title": "Maçonnerie", "contractor": {"name": "Maçonnerie Val de Loire",
                      "siret": CONTRACTOR}, "required_hours": "300", "start_date": day(0),
                      "end_date": day(365)}],
        })  # fmt: skip
        assert market.status_code == 201, market.text
        lot = market.json()["lots"][0]

        async def candidate_known() -> bool:
            return (await matching.get(f"/api/v1/matching/candidates/{pid}")).status_code == 200

        assert await wait_for(candidate_known, timeout=60)
        offer = await matching.post("/api/v1/offers", json={
            "title": "Maçon (H/F)", "employer": {"name": "Maçonnerie Val de Loire", "siret": CONTRACTOR},
            "rome_code": "F1703", "location": {"latitude": 47.59, "longitude": 1.33}, "contract_type": "cdd",
            "weekly_hours": 35, "clause_lot_id": lot["id"],
        })  # fmt: skip
        assert offer.status_code == 201, offer.text
        application = await matching.post("/api/v1/applications",
                                          json={"participant_id": pid, "offer_id": offer.json()["id"]})  # fmt: skip
        application_id = application.json()["id"]
        for state in ("sent", "interview"):
            moved = await matching.post(f"/api/v1/applications/{application_id}/transitions", json={"to": state})
            assert moved.status_code == 201, moved.text
        hired = await matching.post(f"/api/v1/applications/{application_id}/transitions",
                                    json={"to": "hired", "start_date": day(5), "contract_type": "cdd",
                                          "weekly_hours": 35})  # fmt: skip
        assert hired.status_code == 201, hired.text

        async def placements() -> list:
            return (await clauses.get(f"/api/v1/clauses/lots/{lot['id']}/placements")).json()["items"]

        placed = await wait_for(placements, timeout=60)
        assert placed, "no placement from the hire"
        (placement,) = placed
        assert (placement["participant_id"], placement["application_id"], placement["source"]) == (
            pid, application_id, "hire",
        )  # fmt: skip
        assert (placement["mode"], placement["contract_type"], placement["start_date"]) == (
            "direct_hire", "cdd", day(5),
        )  # fmt: skip

        async def eligibility() -> bool | None:
            return (await placements())[0]["eligible"]

        # RSA: clause-eligible, learnt from participants' events (which may arrive after the hire).
        assert await wait_for(eligibility, timeout=30) is True

        month = day(5)[:7]
        ids = []
        for hours in ("150", "150"):
            response = await clauses.post(f"/api/v1/clauses/lots/{lot['id']}/hours",
                                          json={"participant_id": pid, "month": month, "hours": hours})  # fmt: skip
            if ids:  # 300 h in one month is over the cap
                assert response.status_code == 422, response.text
                next_month = (BASE + timedelta(days=40)).isoformat()[:7]
                response = await clauses.post(
                    f"/api/v1/clauses/lots/{lot['id']}/hours",
                    json={"participant_id": pid, "month": next_month, "hours": hours},
                )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        for hours_id in ids:
            validated = await clauses.post(f"/api/v1/clauses/hours/{hours_id}/validate")
            assert validated.status_code == 200, validated.text

        records = await read_matching(
            broker.bootstrap, "clauses.events", lambda r: dict(r.headers)["ce_tenant"] == TENANT.encode(), expected=5
        )
        types = [dict(r.headers)["ce_type"].decode() for r in records]
        assert sorted(types) == sorted([ClauseMarketCreatedV1.ce_type, ClausePlacementCreatedV1.ce_type,
                                        ClauseHoursValidatedV1.ce_type, ClauseHoursValidatedV1.ce_type,
                                        ClauseLotCompletedV1.ce_type])  # fmt: skip
        assert all(dict(r.headers)["ce_tenant"] == TENANT.encode() for r in records)
        (created,) = [r for r in records if dict(r.headers)["ce_type"] == ClausePlacementCreatedV1.ce_type.encode()]
        event = ClausePlacementCreatedV1.model_validate_json(created.value)
        assert event.application_id == uuid.UUID(application_id) and event.participant_id == uuid.UUID(pid)
        progress = (await clauses.get(f"/api/v1/clauses/markets/{market.json()['id']}/progress")).json()
        assert progress["total"]["validated"] == "300.00" and progress["total"]["rate"] == "1.0000"
