"""The consumer's guarantees, on the real broker and PostgreSQL: redelivery, crash, poison."""

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import tremplin_matching
from tremplin_matching.adapters.orm import candidates
from tremplin_matching.adapters.projection import on_participant_upserts
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.events import ParticipantRegisteredV1
from tremplin_shared.messaging.consumer import EventConsumer
from tremplin_shared.messaging.tables import inbox
from tremplin_shared.migrations import upgrade_to_head

from .kafka_helpers import as_record, event_of, publish, read_topic

MIGRATIONS = Path(tremplin_matching.__file__).parent / "migrations"


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the runner catches it."""


def registered(participant_id=None, skills=("K2204",)) -> ParticipantRegisteredV1:
    return ParticipantRegisteredV1(
        participant_id=participant_id or uuid.uuid4(),
        registered_at=datetime.now(UTC),
        latitude=47.59,
        longitude=1.33,
        skills=list(skills),
    )


@pytest.fixture
async def matching_db(postgres):
    url = await postgres.create("matching")
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def topic():
    return f"participants.events.{uuid.uuid4().hex[:8]}"


class Recorder:
    """The real projection handler, counting every time it is applied."""

    def __init__(self, fail_for: set[uuid.UUID] = frozenset()) -> None:
        self.applied: list[str] = []
        self.fail_for = fail_for

    async def __call__(self, session, event, data) -> None:
        if data.participant_id in self.fail_for:
            raise RuntimeError(f"cannot project {data.participant_id}")
        await on_participant_upserts(session, event, data)
        self.applied.append(event.id)


# Short group timeouts: a killed member is replaced in seconds rather than the production default.
FAST_GROUP = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 300, "rebalance_timeout_ms": 2000}


def consumer_for(broker, topic, sessionmaker, recorder, name=None, **options) -> EventConsumer:
    options.setdefault("group_options", FAST_GROUP)
    return EventConsumer(
        name or f"matching-{uuid.uuid4().hex[:6]}",
        [topic],
        {ParticipantRegisteredV1.ce_type: recorder},
        sessionmaker,
        broker.bootstrap,
        **options,
    )


async def count(sessionmaker, table, *where) -> int:
    async with sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def test_an_event_delivered_twice_has_one_effect(broker, topic, matching_db, wait_for):
    participant = uuid.uuid4()
    first, again = event_of(registered(participant)), event_of(registered(participant, skills=("N1103",)))
    recorder = Recorder()
    consumer = consumer_for(broker, topic, matching_db, recorder)
    task = asyncio.create_task(consumer.run())
    try:
        # Same key, so the partition keeps this order: first, its duplicate, then a newer event.
        await publish(broker.bootstrap, topic, [as_record(first), as_record(first), as_record(again)])
        assert await wait_for(lambda: asyncio.sleep(0, result=again.id in recorder.applied))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert recorder.applied == [first.id, again.id]
    assert await count(matching_db, inbox) == 2
    async with matching_db() as session:
        skills = (await session.execute(select(candidates.c.skills))).scalar_one()
    assert skills == ["N1103"]


async def test_a_consumer_killed_between_db_commit_and_offset_commit_causes_no_double_effect(
    broker, topic, matching_db, wait_for
):
    recorder, group = Recorder(), f"matching-{uuid.uuid4().hex[:6]}"

    async def die_after_the_database_commit(records) -> None:
        raise Killed()

    first = event_of(registered())
    doomed = consumer_for(
        broker, topic, matching_db, recorder, name=group, after_db_commit=die_after_the_database_commit
    )
    task = asyncio.create_task(doomed.run())
    await publish(broker.bootstrap, topic, [as_record(first)])
    with pytest.raises(Killed):
        await asyncio.wait_for(task, 30)
    await doomed.stop()  # the offset was never committed
    assert recorder.applied == [first.id]

    second = event_of(registered())
    restarted = consumer_for(broker, topic, matching_db, recorder, name=group)
    task = asyncio.create_task(restarted.run())
    try:
        await publish(broker.bootstrap, topic, [as_record(second)])
        assert await wait_for(lambda: asyncio.sleep(0, result=second.id in recorder.applied), timeout=30)
        # The restarted member saw `first` again (offset not committed) and the inbox skipped it.
        assert await wait_for(lambda: asyncio.sleep(0, result=restarted.applied_total >= 2), timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert recorder.applied == [first.id, second.id]
    assert await count(matching_db, candidates) == 2
    assert await count(matching_db, inbox, inbox.c.consumer == group) == 2


async def test_poison_messages_go_to_the_dlq_and_the_partition_moves_on(broker, topic, matching_db, wait_for):
    key = uuid.uuid4()
    unreadable = (str(key).encode(), b"{}", [("ce_type", ParticipantRegisteredV1.ce_type.encode())])
    breaks_contract = event_of(registered(key))
    breaks_contract = as_record(breaks_contract)
    breaks_contract = (breaks_contract[0], b'{"participant_id": "not-a-uuid"}', breaks_contract[2])
    handler_fails = event_of(registered(key))
    good = event_of(registered(key))
    recorder = Recorder(fail_for={key})
    # `good` shares the key, so it sits behind the three poison records on the same partition;
    # the handler refuses `key`, so `good` is rewritten for another participant with the same key.
    good = (str(key).encode(), event_of(registered()).value(), event_of(registered()).headers())
    consumer = consumer_for(broker, topic, matching_db, recorder, max_attempts=3, retry_backoff=0.01)
    task = asyncio.create_task(consumer.run())
    try:
        await publish(broker.bootstrap, topic, [unreadable, breaks_contract, as_record(handler_fails), good])
        assert await wait_for(lambda: asyncio.sleep(0, result=len(recorder.applied) == 1), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    dead = await read_topic(broker.bootstrap, f"{topic}.dlq", expected=3)
    assert len(dead) == 3
    by_offset = sorted(dead, key=lambda r: int(dict(r.headers)["dlq_original_offset"]))
    headers = [dict(r.headers) for r in by_offset]
    assert [h["dlq_attempts"] for h in headers] == [b"1", b"1", b"3"]
    assert b"missing CloudEvents headers" in headers[0]["dlq_error"]
    assert b"breaks its contract" in headers[1]["dlq_error"]
    assert b"cannot project" in headers[2]["dlq_error"]
    assert all(h["dlq_original_topic"] == topic.encode() for h in headers)
    assert by_offset[2].value == as_record(handler_fails)[1]  # the original record, untouched
    assert consumer.dead_lettered_total == 3
    assert await count(matching_db, candidates) == 1


async def test_a_replayed_dead_letter_is_applied_once_the_cause_is_fixed(broker, topic, matching_db, wait_for):
    from tremplin_cli.replay import replay_dead_letters

    participant = uuid.uuid4()
    event = event_of(registered(participant))
    recorder = Recorder(fail_for={participant})
    consumer = consumer_for(broker, topic, matching_db, recorder, max_attempts=2, retry_backoff=0.01)
    task = asyncio.create_task(consumer.run())
    try:
        await publish(broker.bootstrap, topic, [as_record(event)])
        assert await wait_for(lambda: asyncio.sleep(0, result=consumer.dead_lettered_total == 1), timeout=30)
        recorder.fail_for = set()  # the bug is fixed
        assert await replay_dead_letters(broker.bootstrap, f"{topic}.dlq", f"replay-{uuid.uuid4().hex[:6]}") == 1
        assert await wait_for(lambda: asyncio.sleep(0, result=event.id in recorder.applied), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert recorder.applied == [event.id]
    assert await count(matching_db, candidates) == 1
