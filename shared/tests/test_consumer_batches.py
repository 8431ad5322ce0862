"""How a consumer batch is applied: one inbox statement, duplicates inside a batch applied once, and
batch handlers fed in rounds that keep every aggregate's order, a fetch of several partitions in one
transaction. On SQLite and PostgreSQL (its inbox rows go as arrays); no broker needed: the batch is
handed to the consumer as the records Kafka would give it."""

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from sqlalchemy import func, select

from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.events import ParticipantErasedV1, ParticipantRegisteredV1, new_event
from tremplin_shared.messaging.consumer import BatchHandler, EventConsumer, rounds
from tremplin_shared.messaging.tables import erasure_tombstones, inbox, messaging_metadata, tombstone_metadata


def record(event, offset: int, partition: int = 0) -> ConsumerRecord:
    return ConsumerRecord("participants.events", partition, offset, 0, 0, event.subject.encode(), event.value(), None,
                          0, 0, event.headers())  # fmt: skip


def registered(pid: uuid.UUID):
    data = ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC), latitude=47.6, longitude=1.3)
    return new_event(data, tenant="t", source="/test"), data


def erased(pid: uuid.UUID):
    data = ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC))
    return new_event(data, tenant="t", source="/test"), data


def test_rounds_hold_the_nth_event_of_each_aggregate_in_batch_order():
    a, b = uuid.uuid4(), uuid.uuid4()
    items = [registered(a), registered(b), erased(a), erased(b)]
    assert [[e.id for e, _ in r] for r in rounds(items)] == [[items[0][0].id, items[1][0].id],
                                                             [items[2][0].id, items[3][0].id]]  # fmt: skip
    only_a = [registered(a), erased(a), registered(a)]
    assert [len(r) for r in rounds(only_a)] == [1, 1, 1]


@pytest.fixture(params=["sqlite", "postgres"])
async def sessionmaker(request, tmp_path, postgres):
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db" if request.param == "sqlite" else await postgres.create("inbox")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(tombstone_metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_a_batch_applies_each_event_once_even_twice_in_the_batch_and_in_aggregate_order(sessionmaker):
    calls: list[tuple[str, list[str]]] = []

    async def on_registered(session, items):
        calls.append(("registered", [str(d.participant_id) for _, d in items]))

    async def on_erased(session, event, data):
        calls.append(("erased", [str(data.participant_id)]))

    consumer = EventConsumer(
        "c", ["participants.events"],
        {ParticipantRegisteredV1.ce_type: BatchHandler(on_registered), ParticipantErasedV1.ce_type: on_erased},
        sessionmaker, "127.0.0.1:1",
    )  # fmt: skip
    a, b = uuid.uuid4(), uuid.uuid4()
    reg_a, reg_b, gone_a = registered(a), registered(b), erased(a)
    batch = [record(reg_a[0], 0), record(reg_a[0], 1), record(gone_a[0], 2), record(reg_b[0], 3)]
    await consumer._apply(batch)
    # round 1: a's and b's registrations together (the duplicate of a's dropped); round 2: a's erasure
    assert calls == [("registered", [str(a), str(b)]), ("erased", [str(a)])]
    await consumer._apply(batch)  # redelivered: nothing applies again
    assert len(calls) == 2
    async with sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(inbox))).scalar_one() == 3


async def test_a_fetch_of_several_partitions_is_one_transaction_then_one_offset_commit(sessionmaker):
    calls: list[list[str]] = []
    commits: list[dict] = []

    async def on_registered(session, items):
        calls.append([str(d.participant_id) for _, d in items])

    class Kafka:
        async def commit(self, offsets) -> None:
            commits.append(offsets)

    handlers = {ParticipantRegisteredV1.ce_type: BatchHandler(on_registered)}
    consumer = EventConsumer("c", ["participants.events"], handlers, sessionmaker, "127.0.0.1:1")
    consumer._consumer = Kafka()
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first, second = TopicPartition("participants.events", 0), TopicPartition("participants.events", 3)
    batches = {
        first: [record(registered(a)[0], 10), record(registered(b)[0], 11)],
        second: [record(registered(c)[0], 7, partition=3)],
    }
    await consumer.process_batches(batches)
    assert calls == [[str(a), str(b), str(c)]]  # one statement for both partitions' events
    assert commits == [{first: 12, second: 8}]  # after the database commit, every partition's next offset


async def test_a_consumer_of_erasures_skips_later_events_about_an_erased_participant(sessionmaker):
    calls: list[tuple[str, str]] = []

    async def on_registered(session, items):
        calls.extend(("registered", str(d.participant_id)) for _, d in items)

    async def on_erased(session, event, data):
        calls.append(("erased", str(data.participant_id)))

    handlers = {ParticipantRegisteredV1.ce_type: BatchHandler(on_registered), ParticipantErasedV1.ce_type: on_erased}
    consumer = EventConsumer("c", ["participants.events"], handlers, sessionmaker, "127.0.0.1:1",
                             erasure_tombstones=True)  # fmt: skip
    a, b = uuid.uuid4(), uuid.uuid4()
    old_a, gone_a = registered(a), erased(a)  # old_a: dead-lettered before the erasure, never applied
    await consumer._apply([record(gone_a[0], 0), record(registered(b)[0], 1)])
    await consumer._apply([record(old_a[0], 2), record(registered(a)[0], 3)])  # a DLQ replay, a late one
    assert calls == [("erased", str(a)), ("registered", str(b))]
    async with sessionmaker() as session:
        tombstones = (await session.execute(select(erasure_tombstones.c.participant_id))).scalars().all()
        assert tombstones == [a]
        assert (await session.execute(select(func.count()).select_from(inbox))).scalar_one() == 4  # seen, skipped
