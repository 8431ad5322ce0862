"""Retention of the outbox and the inbox: what they need not keep any longer is deleted.

- outbox: the rows published more than `outbox_retention` ago (by published_at). A pending row is
  never deleted, whatever its age: it is an event that has not left yet.
- inbox: the rows processed more than `inbox_retention` ago (settings.py says why 30 days by default).
- the erasure tombstones are not touched: they must outlive every replay.

Both go in batches of `batch_size` rows, each batch one statement in a short transaction of its own:
the purge never holds long locks, and a purge that fails half-way has deleted whole batches, every row
of which was due anyway — the next pass takes it from there.

The outbox is walked along its primary key, window by window of `batch_size` rows, and the walk stops
after the first window that ends with a row created after the cutoff: rows are written in seq order,
so the rest are recent too, and a row is not published before it is created. Published rows follow
seq closely (a retried key, a republication lag behind): the purge needs no index on published_at,
and the relay writes none at each publication. Rows that stay in the old windows (pending ones,
republished ones) are looked at again by each pass; they are few. The inbox has no such order (its
key is the consumer and a random event id): it is purged along ix_inbox_processed_at (added to every
component by a migration).

Every component runs `MessagingRetention.run` with its background workers (service.py, the gateway's
main.py); `tremplin outbox purge` runs one pass by hand.
"""

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, bindparam, delete, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..db import UtcDateTime, describe_error, is_postgresql
from ..settings import ComponentSettings
from .tables import inbox, outbox

log = logging.getLogger(__name__)

# The batch's rows found along ix_inbox_processed_at, then deleted by their physical address: a TID scan
# on PostgreSQL (with `(consumer, event_id) IN (…)` the planner hashes the batch and scans the whole
# table), the rowid on SQLite. Inbox rows are never updated, so an address stays the row's.
_PURGE_INBOX_PG = text(
    "DELETE FROM inbox WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM inbox WHERE processed_at < :cutoff ORDER BY processed_at LIMIT :n))"
).bindparams(bindparam("cutoff", type_=UtcDateTime), bindparam("n", type_=Integer))


@functools.cache
def _purge_inbox_sqlite():
    rowid = literal_column("rowid")
    i = inbox.c
    oldest = select(rowid).select_from(inbox).where(i.processed_at < bindparam("cutoff", type_=UtcDateTime))
    return delete(inbox).where(rowid.in_(oldest.order_by(i.processed_at).limit(bindparam("n", type_=Integer))))


@dataclass(frozen=True)
class Purged:
    """Rows deleted by one pass."""

    outbox: int = 0
    inbox: int = 0


class MessagingRetention:
    def __init__(
        self,
        name: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox_retention: timedelta = timedelta(days=7),
        inbox_retention: timedelta = timedelta(days=30),
        interval: float = 3600.0,
        batch_size: int = 5000,
    ) -> None:
        self.name = name
        self.sessionmaker = sessionmaker
        self.outbox_retention = outbox_retention
        self.inbox_retention = inbox_retention
        self.interval = interval
        self.batch_size = batch_size
        # Rows deleted by this process (the /metrics of the service), and the passes that went through.
        self.outbox_purged_total = 0
        self.inbox_purged_total = 0
        self.passes = 0

    @classmethod
    def from_settings(
        cls, name: str, settings: ComponentSettings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> "MessagingRetention":
        return cls(
            name,
            sessionmaker,
            timedelta(days=settings.outbox_retention_days),
            timedelta(days=settings.inbox_retention_days),
            settings.retention_purge_interval_seconds,
            settings.retention_purge_batch_size,
        )

    async def purge(self, now: datetime | None = None) -> Purged:
        """One pass: the outbox, then the inbox. Logs what it deleted, also when it fails half-way."""
        now = now or datetime.now(UTC)
        before = (self.outbox_purged_total, self.inbox_purged_total)
        started = time.monotonic()
        error: Exception | None = None
        try:
            await self.purge_outbox(now - self.outbox_retention)
            await self.purge_inbox(now - self.inbox_retention)
        except Exception as exc:
            error = exc
            raise
        finally:
            purged = Purged(self.outbox_purged_total - before[0], self.inbox_purged_total - before[1])
            fields = {
                "component": self.name,
                "outbox_deleted": purged.outbox,
                "inbox_deleted": purged.inbox,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            }
            if error is not None:
                log.warning("retention purge failed", extra={"fields": {**fields, "error": describe_error(error)}})
            else:
                self.passes += 1
                level = logging.INFO if purged.outbox or purged.inbox else logging.DEBUG
                log.log(level, "retention purge", extra={"fields": fields})
        return purged

    async def purge_outbox(self, cutoff: datetime) -> int:
        """Delete the rows published before `cutoff`; pending rows stay. Returns the count."""
        o = outbox.c
        deleted, after = 0, None
        while True:
            async with self.sessionmaker() as session, session.begin():
                # The window's last row: the batch_size-th after the previous window (a PK range scan).
                last = select(o.seq, o.created_at).order_by(o.seq).offset(self.batch_size - 1).limit(1)
                stmt = delete(outbox).where(o.published_at.is_not(None), o.published_at < cutoff)
                if after is not None:
                    last, stmt = last.where(o.seq > after), stmt.where(o.seq > after)
                edge = (await session.execute(last)).first()
                if edge is not None:  # else fewer than batch_size rows are left: the last window
                    stmt = stmt.where(o.seq <= edge.seq)
                count = (await session.execute(stmt)).rowcount
            deleted += count
            self.outbox_purged_total += count
            if edge is None or edge.created_at >= cutoff:
                return deleted
            after = edge.seq
            await asyncio.sleep(0)  # between batches, the loop's other tasks (the relay, requests) go on

    async def purge_inbox(self, cutoff: datetime) -> int:
        """Delete the inbox rows processed before `cutoff`, oldest first. Returns the count."""
        deleted = 0
        while True:
            async with self.sessionmaker() as session, session.begin():
                stmt = _PURGE_INBOX_PG if is_postgresql(session) else _purge_inbox_sqlite()
                count = (await session.execute(stmt, {"cutoff": cutoff, "n": self.batch_size})).rowcount
            deleted += count
            self.inbox_purged_total += count
            if count < self.batch_size:
                return deleted
            await asyncio.sleep(0)

    async def run(self) -> None:
        """A pass at start, then one every `interval` seconds; a failed pass is logged, the next catches up."""
        while True:
            try:
                await self.purge()
            except Exception:  # database trouble, logged by purge(): what is left waits for the next pass
                log.debug("retention purge pass abandoned", exc_info=True)
            await asyncio.sleep(self.interval)
