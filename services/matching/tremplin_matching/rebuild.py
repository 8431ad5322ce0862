"""Rebuild the candidate projection from the participants topic (`tremplin matching rebuild`).

The projection is derived data: whatever happened to it (a bug fixed in a handler, a restored
backup, a lost table), replaying `participants.events` from the beginning gives it back. The topic
is read by assignment (no consumer group, so the running service's offsets are untouched) up to the
end offsets seen at the start; the candidates (of one tenant, or all) are deleted and every event is
applied again with the service's own handlers, in order per participant, in ONE transaction: a
failed rebuild leaves the projection as it was. The inbox is left alone: the live consumer applies
later events as usual, and an event it applies again only writes the same state. So are the erasure
tombstones (tremplin_shared/messaging/erasure.py): an erased person stays out even when the topic
holds an event about them after their erasure (a dead letter replayed later) or no longer holds the
erasure itself.

The ranking index of a running matching process is loaded from the database at start: restart the
service after a rebuild (or run the rebuild while it is stopped).
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tremplin_shared.events.contracts import PARTICIPANTS_TOPIC
from tremplin_shared.messaging.consumer import PoisonMessage, apply_in_order, decode

from .adapters.orm import candidates
from .adapters.projection import HANDLERS

CHUNK = 1000  # events applied per call (all in the one transaction)


class RebuildError(Exception):
    """Nothing to rebuild from: the projection is left as it is."""


@dataclass
class RebuildReport:
    read: int = 0  # records read from the topic
    applied: int = 0  # events of the projection (of the tenant) applied
    skipped: int = 0  # unreadable records or records breaking their contract (their DLQ has them)
    deleted: int = 0  # candidate rows deleted before the replay


async def read_to_end(bootstrap: str, topic: str, on_record: Callable[[object], None]) -> int:
    """Every record of `topic`, from the beginning up to the end offsets seen when it starts."""
    # auto_offset_reset="earliest": otherwise the fetcher, resetting the fresh assignment to "latest",
    # can win the race against the seek below.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=2000
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        if not partitions:
            return 0
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        left = {tp for tp in partitions if ends[tp] > starts[tp]}
        count = 0
        while left:
            batches = await consumer.getmany(*left, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        on_record(record)
                        count += 1
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        return count
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str, wait_s: float = 10.0) -> list[TopicPartition]:
    """The topic's partitions; none if it does not exist. Metadata can lag behind a fresh topic: retried."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        await consumer.topics()  # (re)loads the metadata
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return [TopicPartition(topic, p) for p in sorted(numbers)]
        if asyncio.get_running_loop().time() > deadline:
            return []
        await asyncio.sleep(0.2)


async def rebuild_candidates(
    sessionmaker: async_sessionmaker[AsyncSession],
    bootstrap: str,
    tenant: str | None = None,
    topic: str = PARTICIPANTS_TOPIC,
    progress: Callable[[int], None] | None = None,
    allow_empty: bool = False,
) -> RebuildReport:
    """Refuses (RebuildError) when the topic has no record at all, unless `allow_empty`: a memory broker
    that restarted has lost its log, and replaying nothing would erase every candidate."""
    report = RebuildReport()
    items = []

    def keep(record) -> None:
        report.read += 1
        if progress is not None:
            progress(report.read)
        try:
            event, data = decode(record, HANDLERS)
        except PoisonMessage:
            report.skipped += 1
            return
        if data is not None and event.type in HANDLERS and (tenant is None or event.tenant == tenant):
            items.append((event, data))

    await read_to_end(bootstrap, topic, keep)
    if report.read == 0 and not allow_empty:
        raise RebuildError(f"{topic} has no record on {bootstrap}: nothing to rebuild from (the broker lost its log?)")
    async with sessionmaker() as session, session.begin():
        stmt = delete(candidates) if tenant is None else delete(candidates).where(candidates.c.tenant == tenant)
        report.deleted = (await session.execute(stmt)).rowcount
        for start in range(0, len(items), CHUNK):
            await apply_in_order(session, HANDLERS, items[start : start + CHUNK], erasure_tombstones=True)
        report.applied = len(items)
    return report
