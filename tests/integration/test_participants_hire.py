"""The hire-to-employed path on the real broker and PostgreSQL: matching's placement.hired arrives on
`matching.events`, the participants service's own consumer applies it; and the 183-day job on
PostgreSQL."""

import asyncio
import json
import uuid
from datetime import date, timedelta

import httpx
import sqlalchemy as sa

from tremplin_participants import jobs
from tremplin_participants.adapters.orm import hires, parcours_transitions
from tremplin_participants.config import Settings
from tremplin_participants.domain.flags import today
from tremplin_shared.events import PlacementHiredV1
from tremplin_shared.messaging.tables import outbox

from .kafka_helpers import as_record, event_of, publish
from .services import participants_service

TENANT = "loir-et-cher"
BASE = today() - timedelta(days=300)
PERSON = {"first_name": "Inès", "last_name": "Moreau", "birth_date": "1979-09-30", "sex": "F",
          "latitude": 47.59, "longitude": 1.33, "skills": ["K2204"]}  # fmt: skip
FAST_GROUP = {"consumer_session_timeout_ms": 3000, "consumer_heartbeat_interval_ms": 300,
              "consumer_rebalance_timeout_ms": 2000}  # fmt: skip


def day(n: int) -> str:
    return (BASE + timedelta(days=n)).isoformat()


async def parcours_in(client: httpx.AsyncClient, programme: str, *states: str) -> tuple[str, str]:
    person = await client.post("/api/v1/participants", json=PERSON)
    assert person.status_code == 201, person.text
    pid = person.json()["id"]
    opened = await client.post(
        f"/api/v1/participants/{pid}/parcours", json={"programme": programme, "oriented_at": day(0)}
    )
    assert opened.status_code == 201, opened.text
    for n, state in enumerate(states, start=1):
        moved = await client.post(
            f"/api/v1/parcours/{opened.json()['id']}/transitions", json={"to": state, "at": day(n)}
        )
        assert moved.status_code == 201, moved.text
    return pid, opened.json()["id"]


def hired(participant_id: str, application_id: uuid.UUID | None = None, start: date | None = None) -> PlacementHiredV1:
    return PlacementHiredV1(
        application_id=application_id or uuid.uuid4(),
        participant_id=uuid.UUID(participant_id),
        offer_id=uuid.uuid4(),
        employer_siret="35600000000048",
        contract_type="cdi",
        start_date=start or BASE + timedelta(days=10),
        weekly_hours=35,
    )


async def count(app, statement) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(statement.subquery()))).scalar_one()


async def test_a_hire_on_the_broker_moves_the_parcours_to_employed_once(broker, postgres, wait_for):
    settings = Settings(
        database_url=await postgres.create("participants_hire"),
        kafka_bootstrap_servers=broker.bootstrap,
        durable_exit_interval_seconds=3600,
        **FAST_GROUP,
    )
    async with participants_service(settings, TENANT) as (app, client):
        pid, parcours_id = await parcours_in(client, "plie", "welcomed", "diagnosed", "supported")
        waiting_pid, waiting_id = await parcours_in(client, "rsa")  # stays `oriented`
        consumer = app.state.consumer
        assert consumer is not None and consumer.topics == ["matching.events", "inbound.france-travail"]

        first = event_of(hired(pid), tenant=TENANT)
        await publish(broker.bootstrap, "matching.events", [as_record(first)])

        async def state_of(some_id: str) -> str:
            return (await client.get(f"/api/v1/parcours/{some_id}")).json()["state"]

        assert await wait_for(lambda: _equals(state_of(parcours_id), "employed"), timeout=60)
        detail = (await client.get(f"/api/v1/parcours/{parcours_id}")).json()
        last = detail["transitions"][-1]
        assert (last["from_state"], last["to_state"], last["actor"], last["reason"]) == (
            "supported", "employed", "matching", "hire reported",
        )  # fmt: skip
        assert last["at"] == day(10)  # the contract's start
        log_size = len(detail["transitions"])

        # The same event again (redelivery), the same hire under a new event id (a replay upstream),
        # a hire for someone unknown here, and a hire for the person whose parcours is `oriented`.
        again = event_of(hired(pid, application_id=uuid.UUID(first.data["application_id"])), tenant=TENANT)
        stranger = event_of(hired(str(uuid.uuid4())), tenant=TENANT)
        waiting_hire = event_of(hired(waiting_pid), tenant=TENANT)
        applied_before = consumer.applied_total
        records = [as_record(first), as_record(again), as_record(stranger), as_record(waiting_hire)]
        await publish(broker.bootstrap, "matching.events", records)

        async def timeline_has_hire() -> bool:
            items = (await client.get(f"/api/v1/participants/{waiting_pid}/timeline")).json()["items"]
            return any(i["kind"] == "hire" for i in items)

        assert await wait_for(timeline_has_hire, timeout=60)
        assert await wait_for(lambda: asyncio.sleep(0, result=consumer.applied_total >= applied_before + 4), 30)
        assert consumer.dead_lettered_total == 0  # nothing broke: no DLQ
        assert await state_of(waiting_id) == "oriented"
        after = (await client.get(f"/api/v1/parcours/{parcours_id}")).json()
        assert len(after["transitions"]) == log_size and after["state"] == "employed"
        assert await count(app, sa.select(hires.c.id).where(hires.c.participant_id == uuid.UUID(pid))) == 1
        moved = await count(app, sa.select(hires.c.id).where(hires.c.parcours_moved.is_(True)))
        assert moved == 1
        async with app.state.sessionmaker() as session:
            values = (
                await session.execute(
                    sa.select(outbox.c.value).where(
                        outbox.c.event_type == "fr.tremplin.participants.parcours.transitioned.v1"
                    )
                )
            ).scalars()
            transitioned = [json.loads(v) for v in values]
        to_employed = [e for e in transitioned if e["parcours_id"] == parcours_id and e["to_state"] == "employed"]
        assert len(to_employed) == 1  # emitted once, through the outbox


async def _equals(awaitable, expected) -> bool:
    return (await awaitable) == expected


async def test_the_183_day_job_on_postgresql(postgres):
    settings = Settings(database_url=await postgres.create("participants_job"), run_background_workers=False)
    async with participants_service(settings, TENANT) as (app, client):
        _, parcours_id = await parcours_in(client, "plie", "welcomed", "diagnosed", "supported", "employed")
        employed_on = BASE + timedelta(days=4)
        sessionmaker = app.state.sessionmaker
        assert await jobs.exit_durable_employments(sessionmaker, employed_on + timedelta(days=182)) == 0
        # Two passes at once (two processes, or a slow pass overlapping the next): one exit only.
        results = await asyncio.gather(
            jobs.exit_durable_employments(sessionmaker, employed_on + timedelta(days=183)),
            jobs.exit_durable_employments(sessionmaker, employed_on + timedelta(days=183)),
        )
        assert sorted(results) == [0, 1]
        detail = (await client.get(f"/api/v1/parcours/{parcours_id}")).json()
        assert (detail["state"], detail["exit_kind"], detail["exited_at"]) == (
            "exited", "durable_employment", (employed_on + timedelta(days=183)).isoformat(),
        )  # fmt: skip
        system_rows = sa.select(parcours_transitions.c.id).where(parcours_transitions.c.actor == "system")
        assert await count(app, system_rows) == 1
