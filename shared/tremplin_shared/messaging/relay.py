"""Outbox relay: publishes pending rows in order, marks a row published only on the broker's ack.

One relay publishes at a time per database (a PostgreSQL advisory lock), so a second instance
of the service waits instead of reordering. While the broker is down, rows stay pending and the
relay retries with exponential backoff; after a broker restart it recreates the topics first.
A commit in this process wakes the relay at once; the poll is for rows committed elsewhere (another
instance, the CLI), and it slows down while the outbox stays empty, so an idle service costs nothing.
"""

import asyncio
import logging
import zlib
from datetime import UTC, datetime

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db import describe_error, is_postgresql
from .kafka import ensure_topics, make_producer, recreate_topics, topic_layout_intact
from .outbox import decode_headers, wake_on_commit
from .tables import outbox

log = logging.getLogger(__name__)

# The relay's lock, and for its transaction the pending rows read in seq order along ix_outbox_pending:
# a mostly published outbox has statistics that make the planner prefer a bitmap scan, which reads
# and sorts every pending row (10+ ms a pass with 20 000 pending) to return the first 1000.
_LOCK_PG = text("SELECT pg_try_advisory_xact_lock(:k), set_config('enable_bitmapscan', 'off', true)")
_MARK_PUBLISHED_PG = text("UPDATE outbox SET published_at = :now WHERE seq = ANY(:seqs)")  # one array parameter
_partition_of = DefaultPartitioner()  # what `producer.send` uses: murmur2 of the key, as the Java client


class TopicLayoutChanged(Exception):
    """The broker lost a topic under us (restart); the batch is sent again once it is recreated."""


class OutboxRelay:
    def __init__(
        self,
        name: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        bootstrap: str,
        topics: list[str],
        partitions: int = 6,
        batch_size: int = 1000,
        poll_interval: float = 0.05,
        max_backoff: float = 5.0,
        idle_poll_max: float = 1.0,
    ) -> None:
        self.name = name
        self.sessionmaker = sessionmaker
        self.bootstrap = bootstrap
        self.topics = topics
        self.partitions = partitions
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.idle_poll_max = max(poll_interval, idle_poll_max)
        self.published_total = 0
        self._lock_key = zlib.crc32(f"tremplin-outbox-{name}".encode())
        self._wake = asyncio.Event()
        self._producer = None
        self._admin: AIOKafkaAdminClient | None = None
        self._topics_ready = False
        if (engine := getattr(sessionmaker, "kw", {}).get("bind")) is not None:
            wake_on_commit(engine, self.wake)

    def wake(self) -> None:
        """Called after a commit that staged events (outbox.wake_on_commit), so they leave at once."""
        self._wake.set()

    async def _ensure_producer(self) -> None:
        if not self._topics_ready:
            await ensure_topics(self.bootstrap, self.topics, self.partitions)
            self._topics_ready = True
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
            await admin.start()
            self._admin = admin
        if self._producer is None:
            producer = make_producer(self.bootstrap)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer

    async def _reset_producer(self) -> None:
        clients = (self._producer, self._admin)
        self._producer, self._admin, self._topics_ready = None, None, False
        for client in clients:
            if client is None:
                continue
            try:
                await (client.stop() if client is clients[0] else client.close())
            except Exception:  # a broken client may fail to stop; it is dropped anyway
                log.debug("kafka client stop failed", exc_info=True)

    async def publish_pending(self) -> int:
        """Publish one batch. Returns how many rows were marked published."""
        await self._ensure_producer()
        async with self.sessionmaker() as session, session.begin():
            if is_postgresql(session):
                locked = (await session.execute(_LOCK_PG, {"k": self._lock_key})).scalar()
                if not locked:
                    return 0
            rows = (
                await session.execute(
                    select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.headers, outbox.c.value)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            now = datetime.now(UTC)
            # PostgreSQL marks the rows while the broker acks them (the same transaction: nothing is
            # visible before the commit, which waits for the acks; rows that fail are unmarked below).
            # SQLite marks after the acks: its one writer at a time is not held during the sends.
            early = is_postgresql(session)
            marking = asyncio.create_task(self._mark_published(session, [r.seq for r in rows], now)) if early else None
            try:
                results = await self._send(rows)
            finally:
                if marking is not None:
                    await marking
            batch_topics = sorted({row.topic for row in rows})
            if not await topic_layout_intact(self._admin, batch_topics, self.partitions):
                await recreate_topics(self._admin, batch_topics, self.partitions)
                raise TopicLayoutChanged(f"topics {batch_topics} were lost by the broker; sending again")
            acked, failed_keys, first_error = [], set(), None
            for row, result in zip(rows, results, strict=True):
                # A key stops at its first failure: later rows of that aggregate wait for the retry,
                # so consumers never see an aggregate's events out of order.
                if isinstance(result, BaseException) or row.key in failed_keys:
                    failed_keys.add(row.key)
                    first_error = first_error or result
                else:
                    acked.append(row.seq)
            if not early:
                await self._mark_published(session, acked, now)
            if failed_keys:
                failed = [row.seq for row in rows if row.key in failed_keys]
                await session.execute(
                    update(outbox)
                    .where(outbox.c.seq.in_(failed))
                    .values(published_at=None, attempts=outbox.c.attempts + 1, last_error=str(first_error)[:1000])
                )
        self.published_total += len(acked)
        if first_error is not None:
            raise first_error if isinstance(first_error, Exception) else RuntimeError(str(first_error))
        return len(acked)

    @staticmethod
    async def _mark_published(session: AsyncSession, seqs: list[int], now: datetime) -> None:
        if is_postgresql(session):
            await session.execute(_MARK_PUBLISHED_PG, {"now": now, "seqs": seqs})
            return
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            await session.execute(update(outbox).where(outbox.c.seq.in_(chunk)).values(published_at=now))

    async def _send(self, rows) -> list[BaseException | object]:
        """Send the rows; for each, its ack or its error. The rows of one partition go as record batches
        in their order (aiokafka's batch API: one future per batch, not per record), to the partition
        `producer.send` would pick for the key, so an aggregate keeps its partition."""
        producer = self._producer
        layouts = {topic: sorted(await producer.partitions_for(topic)) for topic in {row.topic for row in rows}}
        filling: dict[tuple[str, int], tuple[object, list[int]]] = {}  # (topic, partition) → (batch, row indexes)
        sent: list[tuple[asyncio.Future, list[int]]] = []
        partition_of: dict[tuple[str, str], int] = {}  # an aggregate's events of the pass hash once
        for i, row in enumerate(rows):
            key, value, headers = row.key.encode(), row.value.encode(), decode_headers(row.headers)
            if (partition := partition_of.get((row.topic, row.key))) is None:
                partitions = layouts[row.topic]
                partition = partition_of[row.topic, row.key] = _partition_of(key, partitions, partitions)
            tp = (row.topic, partition)
            batch, members = filling.get(tp) or filling.setdefault(tp, (producer.create_batch(), []))
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full: off it goes
                sent.append((await producer.send_batch(batch, tp[0], partition=tp[1]), members))
                batch, members = filling[tp] = (producer.create_batch(), [])
                batch.append(key=key, value=value, timestamp=None, headers=headers)  # an empty batch takes any
            members.append(i)
        for (topic, partition), (batch, members) in filling.items():
            sent.append((await producer.send_batch(batch, topic, partition=partition), members))
        results: list[BaseException | object] = [None] * len(rows)
        acks = await asyncio.gather(*(future for future, _ in sent), return_exceptions=True)
        for ack, (_, members) in zip(acks, sent, strict=True):
            for i in members:
                results[i] = ack
        return results

    async def run(self) -> None:
        backoff = idle = self.poll_interval
        while True:
            try:
                published = await self.publish_pending()
                backoff = self.poll_interval
                if published:
                    idle = self.poll_interval
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database trouble: the rows stay pending, retry later
                log.warning(
                    "outbox relay failed; retrying", extra={"fields": {"error": describe_error(exc), "in_s": backoff}}
                )
                await self._reset_producer()
                await asyncio.sleep(backoff)
                backoff = min(self.max_backoff, backoff * 2 if backoff >= 0.1 else 0.1)
                continue
            self._wake.clear()
            # Woken: writes are happening here, poll fast again. Nothing came: look less often.
            idle = self.poll_interval if await self._sleep(idle) else min(self.idle_poll_max, idle * 2)

    async def _sleep(self, seconds: float) -> bool:
        """Until woken (True) or for `seconds` (False)."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        await self._reset_producer()
