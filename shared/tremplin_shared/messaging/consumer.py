"""Consumer runner: at-least-once delivery made effectively-once by the inbox table.

For each fetch (up to `max_records` records, of one or more partitions, each in its order): apply
every event in ONE database transaction (inbox rows + handlers), commit it, and only then commit
the Kafka offsets. If the batch fails, its events are retried one by one so a poison message is
isolated: after `max_attempts` failures it goes to `<topic>.dlq` (error and attempt count in
headers) and the partition moves on. With `erasure_tombstones`, an erasure leaves a tombstone and
every later event about the erased participant is skipped (erasure.py).
"""

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db import bulk_insert, describe_error, is_postgresql
from ..events.contracts import EventData, contract_for
from ..events.envelope import CloudEvent, MalformedEvent
from ..log import request_id_var
from .erasure import drop_erased
from .kafka import dlq_topic, ensure_topics, make_producer
from .tables import inbox

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, CloudEvent, EventData], Awaitable[None]]


@dataclass(frozen=True)
class BatchHandler:
    """Applies many events in one go (one statement for the lot, not one per event).

    A service whose handlers include one gets its batches in rounds: round n holds the n-th event of
    every aggregate (Kafka key) of the batch, so an aggregate's events still apply in order, while
    events of different aggregates — which Kafka never orders anyway — are grouped by handler.
    With `folds`, a round holds instead the n-th *run* of every aggregate: its consecutive events that
    go to this handler (one handler may serve several types), in order, so the handler can fold an
    aggregate's run into one write (a registration and its profile: one row written, not two).
    """

    apply: Callable[[AsyncSession, list[tuple[CloudEvent, EventData]]], Awaitable[None]]
    folds: bool = False

    async def __call__(self, session: AsyncSession, event: CloudEvent, data: EventData) -> None:
        """One event: a batch of one (so it is a `Handler` too)."""
        await self.apply(session, [(event, data)])


def rounds(
    items: list[tuple[CloudEvent, EventData]], handlers: dict[str, "Handler | BatchHandler"] | None = None
) -> list[list[tuple[CloudEvent, EventData]]]:
    """Round n = the n-th event of each aggregate, in the batch's order — or its n-th run of events for
    one folding handler (see BatchHandler.folds)."""
    slots: dict[str | None, tuple[int, object]] = {}  # aggregate → (its round so far, its last handler)
    out: list[list[tuple[CloudEvent, EventData]]] = []
    for item in items:
        subject = item[0].subject
        handler = handlers.get(item[0].type) if handlers else None
        n, previous = slots.get(subject, (-1, None))
        if not (handler is previous and isinstance(handler, BatchHandler) and handler.folds):
            n += 1
        slots[subject] = (n, handler)
        if n == len(out):
            out.append([])
        out[n].append(item)
    return out


class PoisonMessage(Exception):
    """A record that can never be applied (unreadable envelope, payload breaking its contract)."""


def decode(record: ConsumerRecord, wanted: Container[str] | None = None) -> tuple[CloudEvent, EventData | None]:
    """The envelope, and the payload checked against its contract — only for a type in `wanted` (when
    given): on a topic several services read, each judges only the events it handles, so a broken
    event is dead-lettered once, by the consumer it was meant for, not by every reader of the topic."""
    try:
        event = CloudEvent.from_kafka(record.headers, record.value)
    except MalformedEvent as exc:
        raise PoisonMessage(str(exc)) from exc
    contract = contract_for(event.type) if wanted is None or event.type in wanted else None
    if contract is None:
        return event, None
    try:
        return event, contract.model_validate(event.data)
    except ValidationError as exc:  # where and why, never the values (a birth date, an identifier)
        broken = "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}"
                           for e in exc.errors(include_input=False, include_url=False))  # fmt: skip
        raise PoisonMessage(f"{event.type} breaks its contract: {broken}") from None


INBOX_COLUMNS = ("consumer", "event_id", "event_type", "processed_at")
_INBOX_NEW_IDS = "ON CONFLICT DO NOTHING RETURNING event_id"


@functools.cache
def _inbox_insert_sqlite():
    """INSERT … ON CONFLICT DO NOTHING RETURNING event_id, built once: run with many rows of parameters
    (SQLAlchemy sends them as multi-row VALUES), it returns the ids that were new."""
    return sqlite.insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)


async def apply_in_order(
    session: AsyncSession,
    handlers: dict[str, "Handler | BatchHandler"],
    items: list[tuple[CloudEvent, EventData]],
    erasure_tombstones: bool = False,
) -> None:
    """Apply decoded events with their handlers, in the session's transaction: one by one in order, or
    — when a batch handler is among them — in rounds (see BatchHandler), each handler of a round at once.
    Used by the consumer and by projection rebuilds. With `erasure_tombstones` (the service's database
    has the table), erasures leave tombstones and events about an erased participant are skipped."""
    if erasure_tombstones:
        items = await drop_erased(session, items)
    if not any(isinstance(handlers.get(event.type), BatchHandler) for event, _ in items):
        for event, data in items:
            await _run_handler(session, handlers[event.type], event, data)
        return
    for round_ in rounds(items, handlers):
        by_handler: dict[int, tuple[Handler | BatchHandler, list[tuple[CloudEvent, EventData]]]] = {}
        for item in round_:
            handler = handlers[item[0].type]
            by_handler.setdefault(id(handler), (handler, []))[1].append(item)
        for handler, group in by_handler.values():
            if isinstance(handler, BatchHandler):
                await handler.apply(session, group)
            else:
                for event, data in group:
                    await _run_handler(session, handler, event, data)


async def _run_handler(session: AsyncSession, handler: "Handler", event: CloudEvent, data: EventData) -> None:
    token = request_id_var.set(event.request_id)  # the handler's logs carry the request that caused the event
    try:
        await handler(session, event, data)
    finally:
        request_id_var.reset(token)


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, runner: "EventConsumer") -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.runner.joined = False  # a rebalance: until the group hands out partitions again
        # Let the batch in flight finish and commit before another member takes the partitions.
        async with self.runner.processing:
            log.info("partitions revoked", extra={"fields": {"partitions": [str(tp) for tp in revoked]}})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.runner.joined = True
        log.info("partitions assigned", extra={"fields": {"partitions": [str(tp) for tp in assigned]}})


MAX_RECORDS = 1000  # per fetch, applied in one transaction


class EventConsumer:
    def __init__(
        self,
        name: str,
        topics: list[str],
        handlers: dict[str, Handler | BatchHandler],
        sessionmaker: async_sessionmaker[AsyncSession],
        bootstrap: str,
        max_attempts: int = 5,
        retry_backoff: float = 0.2,
        partitions: int = 6,
        max_records: int = MAX_RECORDS,
        after_db_commit: Callable[[list[ConsumerRecord]], Awaitable[None]] | None = None,
        group_options: dict | None = None,
        erasure_tombstones: bool = False,
    ) -> None:
        self.name = name  # the consumer group and the inbox's consumer name
        self.topics = topics
        self.handlers = handlers
        self.sessionmaker = sessionmaker
        self.bootstrap = bootstrap
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.partitions = partitions
        self.max_records = max_records
        self.after_db_commit = after_db_commit  # a seam for tests that kill the consumer right there
        # Group timing (session, heartbeat, rebalance timeouts): how fast a dead member is replaced.
        self.group_options = group_options or {}
        self.erasure_tombstones = erasure_tombstones  # see erasure.py
        self.processing = asyncio.Lock()
        self.applied_total = 0
        self.dead_lettered_total = 0
        # In the group with its share of the partitions (maybe none): what it is sent, it consumes. A
        # group's first join takes a few seconds; events written meanwhile wait for it, none are lost.
        self.joined = False
        self._consumer: AIOKafkaConsumer | None = None
        self._producer = None

    async def start(self) -> None:
        await ensure_topics(self.bootstrap, [*self.topics, *map(dlq_topic, self.topics)], self.partitions)
        self._producer = make_producer(self.bootstrap)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_records,
            **self.group_options,
        )
        await self._consumer.start()
        self._consumer.subscribe(self.topics, listener=_Rebalance(self))

    async def stop(self) -> None:
        self.joined = False
        consumer, producer, self._consumer, self._producer = self._consumer, self._producer, None, None
        for client in (consumer, producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # stopping a client of a dead broker may fail; it is dropped anyway
                    log.debug("client stop failed", exc_info=True)

    async def run(self) -> None:
        """Start, consume until cancelled, stop. Restarts itself after broker trouble."""
        while True:
            try:
                await self.start()
                while True:
                    batches = await self._consumer.getmany(timeout_ms=200, max_records=self.max_records)
                    if batches:
                        async with self.processing:
                            await self.process_batches(batches)
            except asyncio.CancelledError:
                await self.stop()
                raise
            except KafkaError as exc:
                log.warning("consumer lost the broker; restarting", extra={"fields": {"error": repr(exc)}})
                await self.stop()
                await asyncio.sleep(1.0)

    async def process_batch(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        await self.process_batches({tp: records})

    async def process_batches(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """The records of one fetch in one transaction (an aggregate is on one partition, so its events
        keep their order), then every partition's offset in one commit."""
        try:
            await self._apply([record for records in batches.values() for record in records])
        except Exception as exc:  # one bad event fails the batch: isolate it, one record at a time
            partitions = [str(tp) for tp in batches]
            log.info(
                "batch failed, retrying one by one",
                extra={"fields": {"error": describe_error(exc), "partitions": partitions}},
            )
            for tp, records in batches.items():
                for record in records:
                    await self._apply_one_with_retries(tp, record)
            return
        await self._commit_offsets({tp: records[-1].offset + 1 for tp, records in batches.items()})

    async def _apply(self, records: list[ConsumerRecord]) -> None:
        decoded = [decode(record, self.handlers) for record in records]
        wanted = [(event, data) for event, data in decoded if data is not None and event.type in self.handlers]
        async with self.sessionmaker() as session:
            async with session.begin():
                fresh = await self._first_time(session, [event for event, _ in wanted])
                todo = []
                for event, data in wanted:
                    if event.id in fresh:
                        fresh.discard(event.id)  # the same event twice in one batch applies once
                        todo.append((event, data))
                await apply_in_order(session, self.handlers, todo, self.erasure_tombstones)
            if self.after_db_commit is not None:
                await self.after_db_commit(records)
        self.applied_total += len(records)

    async def _first_time(self, session: AsyncSession, events: list[CloudEvent]) -> set[str]:
        """Record the batch's events in the inbox in one statement; the ids not seen before."""
        if not events:
            return set()
        now = datetime.now(UTC)
        rows = {
            e.id: {"consumer": self.name, "event_id": e.id, "event_type": e.type, "processed_at": now} for e in events
        }
        if is_postgresql(session):  # the batch as arrays: one statement, whatever its size
            result = await bulk_insert(inbox, INBOX_COLUMNS, _INBOX_NEW_IDS).execute(session, rows.values())
        else:
            result = await session.execute(_inbox_insert_sqlite(), list(rows.values()))
        return set(result.scalars())

    async def _apply_one_with_retries(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._apply([record])
                await self._commit(tp, record.offset + 1)
                return
            except PoisonMessage as exc:
                error, attempt_count = exc, attempt
                break  # retrying cannot help
            except Exception as exc:  # a handler or database failure may pass: retry with backoff
                error, attempt_count = exc, attempt
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))
        await self._dead_letter(record, error, attempt_count)
        await self._commit(tp, record.offset + 1)

    async def _dead_letter(self, record: ConsumerRecord, error: Exception, attempts: int) -> None:
        headers = [
            *(record.headers or ()),
            ("dlq_error", describe_error(error)[:2000].encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_original_topic", record.topic.encode()),
            ("dlq_original_partition", str(record.partition).encode()),
            ("dlq_original_offset", str(record.offset).encode()),
        ]
        await self._producer.send_and_wait(dlq_topic(record.topic), value=record.value, key=record.key, headers=headers)
        self.dead_lettered_total += 1
        log.error(
            "event dead-lettered",
            extra={
                "fields": {
                    "topic": record.topic,
                    "offset": record.offset,
                    "attempts": attempts,
                    "error": describe_error(error)[:500],
                }
            },
        )

    async def _commit(self, tp: TopicPartition, offset: int) -> None:
        await self._commit_offsets({tp: offset})

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # A partition moved to another member mid-batch; it will see these events again
            # and the inbox will skip them.
            partitions = [str(tp) for tp in offsets]
            log.warning("offset commit refused after rebalance", extra={"fields": {"partitions": partitions}})
