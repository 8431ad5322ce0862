"""Write side of the outbox: the event row goes in the same transaction as the state change.

A transaction that staged events wakes its engine's relay when it commits (`wake_on_commit`): the
events leave at once, whoever wrote them (a route, a consumer, a background job)."""

import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic_core import from_json
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from ..db import bulk_insert, is_postgresql
from ..events.contracts import EventData
from ..events.envelope import CloudEvent, new_event
from .tables import outbox

_INSERT = insert(outbox)  # built once: a statement built per call costs its cache key at every write
OUTBOX_COLUMNS = ("event_id", "event_type", "tenant", "topic", "key", "headers", "value", "created_at")


def outbox_row(event: CloudEvent, topic: str) -> dict:
    return {
        "event_id": event.id,
        "event_type": event.type,
        "tenant": event.tenant,
        "topic": topic,
        "key": event.subject,
        "headers": event.header_items(),
        "value": event.value().decode(),
        "created_at": datetime.now(UTC),
    }


async def add_event(session: AsyncSession, data: EventData, *, tenant: str, source: str) -> CloudEvent:
    """Stage an event in the caller's transaction; the relay publishes it once that commits."""
    event = new_event(data, tenant=tenant, source=source)
    # The row as parameters of a fixed statement: compiled once, not coerced again on every write.
    await session.execute(_INSERT, outbox_row(event, data.topic))
    mark_staged(session)
    return event


async def add_rows(session: AsyncSession, rows: list[dict]) -> None:
    """Stage many `outbox_row`s in the caller's transaction (bulk writes): on PostgreSQL one statement
    with the rows as arrays, elsewhere an executemany."""
    if not rows:
        return
    if is_postgresql(session):
        await bulk_insert(outbox, OUTBOX_COLUMNS).execute(session, rows)
    else:
        await session.execute(_INSERT, rows)
    mark_staged(session)


_STAGED = "tremplin_outbox_staged"
_WAKERS: "weakref.WeakKeyDictionary[Engine, list[weakref.WeakMethod]]" = weakref.WeakKeyDictionary()


def wake_on_commit(engine: AsyncEngine, wake: Callable[[], None]) -> None:
    """Call `wake` (a bound method, held weakly: a relay does not outlive its app for this) after each
    commit, on this engine, of a transaction that staged events."""
    _WAKERS.setdefault(engine.sync_engine, []).append(weakref.WeakMethod(wake))


def mark_staged(session: AsyncSession) -> None:
    """This transaction holds events (done by add_event, add_rows; for a writer inserting rows itself)."""
    session.sync_session.info[_STAGED] = True


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(_STAGED, False):
        for ref in _WAKERS.get(session.get_bind(), ()):
            if (wake := ref()) is not None:
                wake()


@event.listens_for(Session, "after_transaction_end")
def _forget_after_rollback(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without after_commit: rolled back
        session.info.pop(_STAGED, None)


async def outbox_stats(session: AsyncSession) -> tuple[int, float]:
    """(pending rows, age in seconds of the oldest pending row) — the relay's backlog and lag."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
        )
    ).one()
    if oldest is None:
        return count, 0.0
    return count, max(0.0, (datetime.now(UTC) - oldest).total_seconds())


def decode_headers(stored: str | list) -> list[tuple[str, bytes]]:
    items = from_json(stored) if isinstance(stored, str) else stored
    return [(k, v.encode()) for k, v in items]
