"""Twelve months of unemployment reached after registering, end to end on PostgreSQL and the real
broker, participants and clauses running: participants' flags-refresh pass (run with an injected
date) sends participant.profile_changed dated the crossing day → clauses takes the person as
clause-eligible for a placement starting from that day, not before."""

import contextlib
import uuid
from datetime import timedelta

import httpx

from tremplin_clauses.adapters.projection import eligibility_on
from tremplin_clauses.config import Settings as ClausesSettings
from tremplin_clauses.main import create_app as create_clauses
from tremplin_participants import jobs
from tremplin_participants.config import Settings as ParticipantsSettings
from tremplin_participants.domain.flags import latest_start, today
from tremplin_participants.main import create_app as create_participants
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

TENANT = f"flags-refresh-{uuid.uuid4().hex[:8]}"  # its own: the broker is shared by the suite
FAST_GROUP = {"consumer_session_timeout_ms": 3000, "consumer_heartbeat_interval_ms": 300,
              "consumer_rebalance_timeout_ms": 2000}  # fmt: skip
TODAY = today()
CROSSING = TODAY + timedelta(days=10)
PERSON = {"first_name": "Samia", "last_name": "Benali", "birth_date": "1981-04-17", "sex": "F",
          "unemployed_since": latest_start(CROSSING, 1).isoformat(), "latitude": 47.59, "longitude": 1.33,
          "skills": ["F1703"]}  # fmt: skip


@contextlib.asynccontextmanager
async def running(app, secret: str, base_url: str, *roles: str):
    headers = {IDENTITY_HEADER: sign_identity(Identity(TENANT, "facilitatrice-41", roles), secret)}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as client:
            yield client


async def test_clauses_sees_the_person_eligible_from_the_day_twelve_months_are_reached(broker, postgres, wait_for):
    common = {"kafka_bootstrap_servers": broker.bootstrap, **FAST_GROUP}
    participants_settings = ParticipantsSettings(database_url=await postgres.create("fr_participants"), **common)
    clauses_settings = ClausesSettings(database_url=await postgres.create("fr_clauses"), **common)
    participants_app, clauses_app = create_participants(participants_settings), create_clauses(clauses_settings)
    async with (
        running(participants_app, participants_settings.identity_secret, "http://participants", "referent") as people,
        running(clauses_app, clauses_settings.identity_secret, "http://clauses", "facilitator") as clauses,
    ):
        person = await people.post("/api/v1/participants", json=PERSON)
        assert person.status_code == 201, person.text
        pid = uuid.UUID(person.json()["id"])
        market = await clauses.post("/api/v1/clauses/markets", json={
            "reference": "CD41-2026-FLAGS", "title": "Voirie", "legal_basis": "article L2112-2",
            "buyer": {"name": "Conseil départemental de Loir-et-Cher", "siret": "22410001600019", "kind": "public"},
            "lots": [{"number": 1, "title": "Voirie", "contractor": {"name": "Routes 41", "siret": "73282932000074"},
                      "required_hours": "300", "start_date": (TODAY - timedelta(days=30)).isoformat(),
                      "end_date": (TODAY + timedelta(days=365)).isoformat()}],
        })  # fmt: skip
        assert market.status_code == 201, market.text
        lot_id = market.json()["lots"][0]["id"]

        async def in_force(start):
            async with clauses_app.state.sessionmaker() as session:
                return await eligibility_on(session, TENANT, pid, start)

        known = await wait_for(lambda: in_force(CROSSING), timeout=60)
        assert known is not None and known.clause_eligible is False

        def placement(start):
            body = {"participant_id": str(pid), "mode": "direct_hire", "contract_type": "cdd",
                    "start_date": start.isoformat()}  # fmt: skip
            return clauses.post(f"/api/v1/clauses/lots/{lot_id}/placements", json=body)

        refused = await placement(CROSSING)
        assert refused.status_code == 422, refused.text

        assert await jobs.refresh_flags(participants_app.state.sessionmaker, CROSSING - timedelta(days=1)) == 0
        assert await jobs.refresh_flags(participants_app.state.sessionmaker, CROSSING) == 1

        async def eligible_at_crossing():
            computed = await in_force(CROSSING)
            return computed is not None and computed.clause_eligible

        assert await wait_for(eligible_at_crossing, timeout=60)
        assert (await in_force(CROSSING)).computed_on == CROSSING
        before = await placement(CROSSING - timedelta(days=1))
        assert before.status_code == 422, before.text  # the day before, the earlier computation stands
        placed = await placement(CROSSING)
        assert placed.status_code == 201, placed.text
        assert placed.json()["eligible"] is True
