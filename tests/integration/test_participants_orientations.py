"""France Travail's job seeker registrations on the real broker and PostgreSQL: an event produced to
`inbound.france-travail` (as the gateway's intake does, tenant in `ce_tenant`) appears as a pending
orientation of that tenant, once; the offer events of the same topic are matching's: skipped, not
dead-lettered."""

import asyncio
import uuid
from datetime import date

from tremplin_participants.config import Settings
from tremplin_shared.events.contracts import FranceTravailJobSeekerRegisteredV1, FranceTravailOffreClosedV1

from .kafka_helpers import as_record, event_of, publish, read_topic
from .services import participants_service
from .test_participants_hire import FAST_GROUP

TOPIC = "inbound.france-travail"
TENANT = f"orient-{uuid.uuid4().hex[:8]}"  # its own: the broker is shared by the suite


async def test_a_registration_on_the_topic_becomes_a_pending_orientation_once(broker, postgres, wait_for):
    settings = Settings(database_url=await postgres.create("participants_orient"),
                        kafka_bootstrap_servers=broker.bootstrap, **FAST_GROUP)  # fmt: skip
    async with participants_service(settings, TENANT) as (app, client):
        consumer = app.state.consumer
        assert TOPIC in consumer.topics
        data = FranceTravailJobSeekerRegisteredV1(identifiant="FT-INT-1", dateInscription=date(2026, 2, 2),
                                                  categorie="A", commune="41018", latitude=47.59, longitude=1.33,
                                                  romeCodes=["K2204"], rsa=False)  # fmt: skip
        registered = event_of(data, tenant=TENANT)
        offer_closed = event_of(FranceTravailOffreClosedV1(id="OFFRE-INT-1"), tenant=TENANT)
        elsewhere = event_of(data, tenant=f"{TENANT}-other")
        await publish(broker.bootstrap, TOPIC, [as_record(offer_closed), as_record(registered), as_record(elsewhere)])

        async def pending() -> list[dict]:
            response = await client.get("/api/v1/participants/orientations")
            assert response.status_code == 200, response.text
            return response.json()["items"]

        items = await wait_for(pending, timeout=60)
        assert [(i["france_travail_id"], i["registered_on"], i["status"]) for i in items] == [
            ("FT-INT-1", "2026-02-02", "pending")
        ]
        applied = consumer.applied_total
        await publish(broker.bootstrap, TOPIC, [as_record(registered)])  # redelivered: nothing new
        assert await wait_for(lambda: asyncio.sleep(0, result=consumer.applied_total > applied), timeout=30)
        assert len(await pending()) == 1
        dead = await read_topic(broker.bootstrap, f"{TOPIC}.dlq", expected=10**9, timeout=1.0)
        assert [r for r in dead if dict(r.headers).get("ce_tenant") == TENANT.encode()] == []  # offer skipped
