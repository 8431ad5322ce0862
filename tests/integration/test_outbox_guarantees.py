"""The outbox's guarantees, on the real broker and PostgreSQL: atomic writes, broker outages."""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2
from sqlalchemy import func, select

import tremplin_participants
from tremplin_participants.adapters.orm import participants
from tremplin_participants.config import Settings
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.events import ParticipantProfileChangedV1, ParticipantRegisteredV1
from tremplin_shared.messaging import outbox as outbox_module
from tremplin_shared.messaging import relay as relay_module
from tremplin_shared.messaging.kafka import make_producer
from tremplin_shared.messaging.tables import outbox
from tremplin_shared.migrations import upgrade_to_head

from .kafka_helpers import read_matching, read_topic
from .services import participants_service

PARTICIPANTS_MIGRATIONS = Path(tremplin_participants.__file__).parent / "migrations"
TOPIC = ParticipantRegisteredV1.topic
REGISTERED = ParticipantRegisteredV1.ce_type.encode()
PROFILE_CHANGED = ParticipantProfileChangedV1.ce_type.encode()
EVENTS_PER_REGISTRATION = 2  # participant.registered and participant.profile_changed


def body(i: int = 0) -> dict:
    return {
        "first_name": f"Camille{i}",
        "last_name": "Martin",
        "birth_date": "1984-03-12",
        "sex": "F",
        "latitude": 47.5861,
        "longitude": 1.3359,
        "skills": ["K2204"],
    }


async def count(app, table, *where) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def test_a_request_failing_after_the_row_is_written_leaves_no_row_and_no_event(
    broker, postgres, monkeypatch, wait_for
):
    settings = Settings(database_url=await postgres.create("participants"), kafka_bootstrap_servers=broker.bootstrap)
    real_add_event = outbox_module.add_event

    async def add_event_then_fail(*args, **kwargs):
        await real_add_event(*args, **kwargs)  # the participant row and the event row are both written…
        raise RuntimeError("the disk is full")  # …and then the request fails before the commit

    async with participants_service(settings, "loir-et-cher", ("admin",)) as (app, client):
        monkeypatch.setattr(outbox_module, "add_event", add_event_then_fail)
        failed = await client.post("/api/v1/participants", json=body(1))
        monkeypatch.setattr(outbox_module, "add_event", real_add_event)
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
        assert await count(app, participants) == 0
        assert await count(app, outbox) == 0

        ok = await client.post("/api/v1/participants", json=body(2), headers={"X-Request-ID": "req-from-cd41"})
        assert ok.status_code == 201
        assert await wait_for(lambda: _published_all(app))

    records = await read_topic(broker.bootstrap, TOPIC, expected=2, timeout=3)
    tenants_and_ids = {(dict(r.headers)["ce_tenant"], json.loads(r.value)["participant_id"]) for r in records}
    assert (b"loir-et-cher", ok.json()["id"]) in tenants_and_ids
    # registration emits participant.registered and participant.profile_changed, in that order
    mine = [r for r in records if json.loads(r.value)["participant_id"] == ok.json()["id"]]
    assert [dict(r.headers)["ce_type"] for r in mine] == [REGISTERED, PROFILE_CHANGED]
    published = mine[0]
    assert dict(published.headers)["ce_requestid"] == b"req-from-cd41"  # the request id travels with the event
    # Only the successful request's event exists: the failed one left nothing to publish.
    assert all(b"Camille" not in r.value for r in records)


async def _published_all(app) -> bool:
    return await count(app, outbox, outbox.c.published_at.is_(None)) == 0


@pytest.mark.parametrize("writes", [25])
async def test_writes_succeed_while_the_broker_is_down_and_every_event_arrives_after(
    own_broker, postgres, wait_for, writes
):
    settings = Settings(
        database_url=await postgres.create("participants"), kafka_bootstrap_servers=own_broker.bootstrap
    )
    async with participants_service(settings, "loir-et-cher", ("admin",)) as (app, client):
        first = await client.post("/api/v1/participants", json=body(0))
        assert first.status_code == 201
        assert await wait_for(lambda: _published_all(app))

        own_broker.stop()
        ids = []
        for i in range(writes):
            response = await client.post("/api/v1/participants", json=body(i))
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        pending = writes * EVENTS_PER_REGISTRATION
        assert await count(app, outbox, outbox.c.published_at.is_(None)) == pending
        metrics = (await client.get("/metrics")).text
        assert f"tremplin_outbox_pending {float(pending)}" in metrics
        lag = next(line for line in metrics.splitlines() if line.startswith("tremplin_outbox_lag_seconds "))
        assert float(lag.split()[1]) > 0  # the backlog is ageing (a substring test took 0.09 s for 0.0)

        own_broker.start()  # memory storage: the topic is gone, the relay must recreate it
        assert await wait_for(lambda: _published_all(app), timeout=60)
        assert await count(app, outbox) == (writes + 1) * EVENTS_PER_REGISTRATION

    records = await read_topic(own_broker.bootstrap, TOPIC, expected=writes * EVENTS_PER_REGISTRATION, timeout=10)
    published = [json.loads(r.value)["participant_id"] for r in records if dict(r.headers)["ce_type"] == REGISTERED]
    # Every write delivered, none lost. (At-least-once: a send that timed out after reaching the
    # broker is sent again, so a duplicate is allowed here; consumers drop it through their inbox.)
    assert set(published) == set(ids)


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_the_relay_sends_an_aggregate_in_order_to_the_partition_of_its_key(
    broker, postgres, tmp_path, monkeypatch, db
):
    """The relay sends record batches itself: each record must still land where `producer.send` (and the
    Java client) put its key — murmur2 — in the outbox's order, also when a partition's rows fill more
    than one record batch, and only acked rows are marked published."""
    url = f"sqlite+aiosqlite:///{tmp_path}/participants.db" if db == "sqlite" else await postgres.create("relay")
    await asyncio.to_thread(upgrade_to_head, PARTICIPANTS_MIGRATIONS, url)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    monkeypatch.setattr(relay_module, "make_producer", lambda bootstrap: make_producer(bootstrap, max_batch_size=4096))
    aggregates = [uuid.uuid4() for _ in range(60)]
    async with sessionmaker() as session, session.begin():
        for n in range(4):  # the n-th event of every aggregate, then the next round
            for pid in aggregates:
                data = ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC), latitude=47.0,
                                               longitude=1.0, skills=[f"A{n:04d}"])  # fmt: skip
                await outbox_module.add_event(session, data, tenant="cher", source="/tests")
    relay = relay_module.OutboxRelay("relay-test", sessionmaker, broker.bootstrap, [TOPIC], batch_size=100)
    try:
        while await relay.publish_pending():
            pass
    finally:
        await relay.stop()
    assert relay.published_total == 240
    async with sessionmaker() as session:
        assert (await session.execute(select(func.count()).where(outbox.c.published_at.is_(None)))).scalar() == 0
    await engine.dispose()

    ours = {str(pid).encode() for pid in aggregates}
    records = await read_matching(broker.bootstrap, TOPIC, lambda r: r.key in ours, expected=240)
    assert len(records) == 240
    skills_by_key: dict[bytes, list[str]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % 6
        skills_by_key.setdefault(record.key, []).append(json.loads(record.value)["skills"][0])
    assert all(skills == ["A0000", "A0001", "A0002", "A0003"] for skills in skills_by_key.values())


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_rows_whose_send_failed_stay_pending_and_their_aggregate_waits(broker, postgres, tmp_path, db):
    """PostgreSQL marks a pass's rows while the broker acks them: a row whose send failed must end up
    pending all the same, with its attempt counted, and so must the later rows of its aggregate."""
    url = f"sqlite+aiosqlite:///{tmp_path}/participants.db" if db == "sqlite" else await postgres.create("relay")
    await asyncio.to_thread(upgrade_to_head, PARTICIPANTS_MIGRATIONS, url)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    unlucky, lucky = uuid.uuid4(), uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        for pid in (unlucky, lucky, unlucky):
            data = ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC), latitude=47.0,
                                           longitude=1.0, skills=["K2204"])  # fmt: skip
            await outbox_module.add_event(session, data, tenant="cher", source="/tests")
    relay = relay_module.OutboxRelay("relay-failure", sessionmaker, broker.bootstrap, [TOPIC])
    real_send = relay._send

    async def first_send_fails(rows):
        results = await real_send(rows)
        return [RuntimeError("broker said no") if i == 0 else r for i, r in enumerate(results)]

    relay._send = first_send_fails
    try:
        with pytest.raises(RuntimeError, match="broker said no"):
            await relay.publish_pending()
    finally:
        await relay.stop()
    async with sessionmaker() as session:
        rows = (await session.execute(select(outbox.c.key, outbox.c.published_at, outbox.c.attempts,
                                             outbox.c.last_error).order_by(outbox.c.seq))).all()  # fmt: skip
    await engine.dispose()
    assert [(r.key, r.published_at is None, r.attempts) for r in rows] == [
        (str(unlucky), True, 1), (str(lucky), False, 0), (str(unlucky), True, 1)
    ]  # fmt: skip
    assert rows[0].last_error == "broker said no" and relay.published_total == 1
