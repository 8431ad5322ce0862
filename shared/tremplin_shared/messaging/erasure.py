"""Erasure tombstones: an erased participant stays erased.

An erasure purges what a service holds on the person, but an older event about them applied later
would bring it back: a `tremplin dlq replay` of a registration dead-lettered before the erasure, a
projection rebuild, a late redelivery on another topic. So a service that holds data about
participants (matching, clauses, funding) keeps a tombstone (tenant, participant_id, erased_at) per
erasure, written in the transaction that applies the erasure, and skips every event about a
tombstoned participant of that tenant — an event is about a participant when its contract has a
`participant_id` field.

`apply_in_order(..., erasure_tombstones=True)` (the consumer's and the rebuilds' path; a service
opts in with `ServiceSpec.erasure_tombstones` and a migration calling
`create_erasure_tombstones_table()`) does both, so no handler repeats the check.

A tombstone holds the real participant id by design (it is the key that keeps the person erased); it
says only that someone was erased, and when. `forget_in_outbox` removes the person's events from a
service's own outbox, so that a `tremplin outbox republish` cannot send them again.
"""

import logging
import uuid

from sqlalchemy import Uuid, any_, bindparam, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import is_postgresql
from ..events.contracts import EventData, ParticipantErasedV1
from ..events.envelope import CloudEvent
from .tables import erasure_tombstones, outbox

log = logging.getLogger(__name__)

ERASED = ParticipantErasedV1.ce_type


def participant_of(data: EventData) -> uuid.UUID | None:
    """The participant an event is about, if any."""
    return getattr(data, "participant_id", None)


async def record_tombstone(session: AsyncSession, tenant: str, data: ParticipantErasedV1) -> None:
    """Idempotent: the first erasure's time is kept."""
    dialect = postgresql if is_postgresql(session) else sqlite
    values = {"tenant": tenant, "participant_id": data.participant_id, "erased_at": data.erased_at}
    await session.execute(dialect.insert(erasure_tombstones).values(values).on_conflict_do_nothing())


async def tombstoned(session: AsyncSession, keys: set[tuple[str, uuid.UUID]]) -> set[tuple[str, uuid.UUID]]:
    """Those of the (tenant, participant_id) pairs that carry a tombstone (one query)."""
    if not keys:
        return set()
    t = erasure_tombstones.c
    ids = list({pid for _, pid in keys})
    # PostgreSQL: one array parameter (an IN list would be a new statement for every count of ids).
    ids_array = bindparam("ids", ids, type_=ARRAY(Uuid))
    among = t.participant_id == any_(ids_array) if is_postgresql(session) else t.participant_id.in_(ids)
    rows = await session.execute(select(t.tenant, t.participant_id).where(among))
    return {(row.tenant, row.participant_id) for row in rows} & keys


async def drop_erased(
    session: AsyncSession, items: list[tuple[CloudEvent, EventData]]
) -> list[tuple[CloudEvent, EventData]]:
    """The items to apply, in order: an erasure records its tombstone and stays (its handler purges);
    an event about a participant tombstoned before it — in the database or earlier in `items` — goes,
    logged without personal data."""
    keys = {(event.tenant, pid) for event, data in items if (pid := participant_of(data)) is not None}
    erased = await tombstoned(session, keys)
    kept = []
    for event, data in items:
        pid = participant_of(data)
        if event.type == ERASED:
            await record_tombstone(session, event.tenant, data)
            erased.add((event.tenant, pid))
        elif pid is not None and (event.tenant, pid) in erased:
            log.info(
                "event about an erased participant skipped",
                extra={"fields": {"event_id": event.id, "event_type": event.type, "tenant": event.tenant}},
            )
            continue
        kept.append((event, data))
    return kept


async def forget_in_outbox(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, *, keep_event_id: str | None = None
) -> int:
    """Delete, in the caller's transaction (the one that applies the erasure), every outbox row of
    `tenant` that mentions the participant: its body (`value`, the JSON text, holds the id's canonical
    string — hex digits and hyphens, no LIKE wildcard, so the match is exact enough for a UUID) or its
    key (the aggregate id, also the `ce_subject` header). Published rows and pending ones alike: a
    published row is what `tremplin outbox republish` would send again.

    `keep_event_id`: the participant.erased event the participants service stages in this same
    transaction — it must still go out. Pending rows of other aggregates that mention the person (a
    placement, hours, a hire not yet relayed) are deleted too and never leave: that is fine, the
    consumers would drop them anyway — an event about a tombstoned participant is skipped
    (`drop_erased`), and what one applied before the erasure wrote, the erasure purges.
    Scoped by tenant: the same id in another territory is another person (as for the tombstones).
    Idempotent: a second call finds nothing. Returns the number of rows deleted."""
    o = outbox.c
    mentions = or_(o.value.like(f"%{participant_id}%"), o.key == str(participant_id))
    stmt = delete(outbox).where(o.tenant == tenant, mentions)
    if keep_event_id is not None:
        stmt = stmt.where(o.event_id != keep_event_id)
    return (await session.execute(stmt)).rowcount
