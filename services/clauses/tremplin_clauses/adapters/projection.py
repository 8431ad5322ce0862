"""What this service knows of participants, from participants and matching events: publics (clause
eligibility, and the dated history of their computations) and sex, parcours transitions and exits and
hires (for the 6/12-month outcomes). Purged on erasure."""

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import upsert
from tremplin_shared.events import (
    CloudEvent,
    ParcoursExitedV1,
    ParcoursTransitionedV1,
    ParticipantErasedV1,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    PlacementHiredV1,
)
from tremplin_shared.messaging.erasure import forget_in_outbox

from ..domain import eligibility
from .orm import (
    hours_entries,
    known_participants,
    participant_exits,
    participant_flags,
    participant_hires,
    participant_transitions,
    placements,
)


async def on_participant_registered(session: AsyncSession, event: CloudEvent, data: ParticipantRegisteredV1) -> None:
    await upsert(
        session,
        known_participants,
        {"tenant": event.tenant, "participant_id": data.participant_id, "registered_at": data.registered_at},
        key=["tenant", "participant_id"],
    )


def _insert(session: AsyncSession, table: sa.Table, values: dict):
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


async def on_participant_profile_changed(
    session: AsyncSession, event: CloudEvent, data: ParticipantProfileChangedV1
) -> None:
    """Record the flags in the person's dated history, then derive what depends on it from the whole
    history, never from this event alone: a redelivered event (the inbox skips it; a projection rebuild
    may not) or an older one arriving late (a DLQ replay) leaves every answer as it would be had the
    events come in order.

    History: one row per day of computation; on a day already known, the later event (changed_at,
    then id) wins. The snapshot on known_participants (flags, their date) is the latest computation;
    its sex, the latest one given. Placements a hire created without an override follow the
    eligibility in force at their start (their flags may arrive after the hire, on another topic, or
    out of order)."""
    tenant, pid = event.tenant, data.participant_id
    row = {
        "tenant": tenant,
        "participant_id": pid,
        "computed_on": data.flags.computed_on,
        "clause_eligible": data.flags.clause_eligible,
        "flags": data.flags.model_dump(mode="json"),
        "sex": data.sex,
        "changed_at": _utc(data.changed_at),
        "event_id": event.id,
    }
    stmt = _insert(session, participant_flags, row)
    newer = sa.or_(
        participant_flags.c.changed_at < stmt.excluded.changed_at,
        sa.and_(
            participant_flags.c.changed_at == stmt.excluded.changed_at,
            participant_flags.c.event_id < stmt.excluded.event_id,
        ),
    )
    keep = ("clause_eligible", "flags", "sex", "changed_at", "event_id")
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant", "participant_id", "computed_on"],
            set_={name: stmt.excluded[name] for name in keep},
            where=newer,
        )
    )
    history = await flags_history(session, tenant, pid)
    last = eligibility.latest(c for c, _, _ in history)
    snapshot = {
        "clause_eligible": last.clause_eligible,
        "flags_computed_on": last.computed_on,
        "flags": next(flags for c, flags, _ in history if c == last),
    }
    if sexes := [(c, sex) for c, _, sex in history if sex is not None]:
        snapshot["sex"] = max(sexes)[1]  # from the latest event that gave one
    stmt = _insert(session, known_participants, {"tenant": tenant, "participant_id": pid,
                                                 "registered_at": data.changed_at, **snapshot})  # fmt: skip
    await session.execute(stmt.on_conflict_do_update(index_elements=["tenant", "participant_id"], set_=snapshot))
    await _follow_history(session, tenant, pid, [c for c, _, _ in history])


async def _follow_history(session: AsyncSession, tenant: str, pid, history: list[eligibility.Computation]) -> None:
    """Hire placements without an override: eligibility as in force at their start. (Placements made
    through the API keep the decision their request got: that answer was given, and hours stand on it.)"""
    rows = await session.execute(
        select(
            placements.c.id, placements.c.start_date, placements.c.eligible, placements.c.eligibility_computed_on
        ).where(
            placements.c.tenant == tenant,
            placements.c.participant_id == pid,
            placements.c.source == "hire",
            placements.c.override_reason.is_(None),
        )
    )
    for placement in rows.all():
        chosen = eligibility.in_force(placement.start_date, history)
        values = {"eligible": chosen.clause_eligible, "eligibility_computed_on": chosen.computed_on}
        if (placement.eligible, placement.eligibility_computed_on) != tuple(values.values()):
            await session.execute(
                sa.update(placements)
                .where(placements.c.tenant == tenant, placements.c.id == placement.id)
                .values(values)
            )


async def flags_history(
    session: AsyncSession, tenant: str, participant_id
) -> list[tuple[eligibility.Computation, dict, str | None]]:
    """Every dated computation of the person's flags (oldest first), with the flags and sex as sent;
    scoped by tenant (the same id in another territory is another person's history)."""
    rows = await session.execute(
        select(
            participant_flags.c.computed_on,
            participant_flags.c.changed_at,
            participant_flags.c.clause_eligible,
            participant_flags.c.flags,
            participant_flags.c.sex,
        )
        .where(participant_flags.c.tenant == tenant, participant_flags.c.participant_id == participant_id)
        .order_by(participant_flags.c.computed_on)
    )
    return [
        (eligibility.Computation(r.computed_on, r.changed_at, r.clause_eligible), r.flags, r.sex) for r in rows.all()
    ]


async def eligibility_on(
    session: AsyncSession, tenant: str, participant_id, start: date
) -> eligibility.Computation | None:
    """The computation in force on `start` (see eligibility.in_force); None when no flags are known."""
    return eligibility.in_force(start, [c for c, _, _ in await flags_history(session, tenant, participant_id)])


async def on_parcours_exited(session: AsyncSession, event: CloudEvent, data: ParcoursExitedV1) -> None:
    await upsert(
        session,
        participant_exits,
        {
            "tenant": event.tenant,
            "parcours_id": data.parcours_id,
            "participant_id": data.participant_id,
            "exit_kind": data.exit_kind,
            "at": data.at,
        },
        key=["tenant", "parcours_id"],
    )


async def on_parcours_transitioned(session: AsyncSession, event: CloudEvent, data: ParcoursTransitionedV1) -> None:
    """Keep every move, once per event (a redelivery or a rebuild writes the same row again)."""
    await upsert(
        session,
        participant_transitions,
        {
            "tenant": event.tenant,
            "event_id": event.id,
            "parcours_id": data.parcours_id,
            "participant_id": data.participant_id,
            "from_state": data.from_state,
            "to_state": data.to_state,
            "exit_kind": data.exit_kind,
            "at": data.at,
            "event_time": _utc(event.time),
        },
        key=["tenant", "event_id"],
    )


async def record_hire(session: AsyncSession, event: CloudEvent, data: PlacementHiredV1) -> None:
    await upsert(
        session,
        participant_hires,
        {
            "tenant": event.tenant,
            "application_id": data.application_id,
            "participant_id": data.participant_id,
            "contract_type": data.contract_type,
            "start_date": data.start_date,
        },
        key=["tenant", "application_id"],
    )


async def on_participant_erased(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    """Forget the person, in the consumer's one transaction: the projections go; the ledger (hours a
    buyer has the proof of) stays, under a new random id (one per erasure) that nothing links to the
    person any more — the placements lose the hire they came from (`application_id`, matching's
    application) and the free-text override and rejection reasons are blanked (a reason there was
    stays, as "": a placement standing on an override still stands). Their events leave the outbox.
    A redelivery finds nothing of the person left: it changes nothing."""
    tenant, pid = event.tenant, data.participant_id
    for table in (known_participants, participant_flags, participant_exits, participant_hires, participant_transitions):
        await session.execute(delete(table).where(table.c.tenant == tenant, table.c.participant_id == pid))
    alias = uuid.uuid4()
    for table, reason in ((placements, "override_reason"), (hours_entries, "reason")):
        theirs = (table.c.tenant == tenant, table.c.participant_id == pid)
        await session.execute(sa.update(table).where(*theirs, table.c[reason].is_not(None)).values({reason: ""}))
        values = {"participant_id": alias} | ({"application_id": None} if table is placements else {})
        await session.execute(sa.update(table).where(*theirs).values(values))
    await forget_in_outbox(session, tenant, pid)


HANDLERS = {
    ParticipantRegisteredV1.ce_type: on_participant_registered,
    ParticipantProfileChangedV1.ce_type: on_participant_profile_changed,
    ParticipantErasedV1.ce_type: on_participant_erased,
    ParcoursExitedV1.ce_type: on_parcours_exited,
    ParcoursTransitionedV1.ce_type: on_parcours_transitioned,
}


async def count_known(session: AsyncSession, tenant: str) -> int:
    stmt = select(func.count()).select_from(known_participants).where(known_participants.c.tenant == tenant)
    return (await session.execute(stmt)).scalar_one()


async def get_known(session: AsyncSession, tenant: str, participant_id) -> dict | None:
    row = (
        await session.execute(
            select(known_participants).where(
                known_participants.c.tenant == tenant, known_participants.c.participant_id == participant_id
            )
        )
    ).first()
    return row._asdict() if row else None
