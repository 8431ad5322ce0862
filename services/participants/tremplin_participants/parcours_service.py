"""Parcours use cases. Each write runs in one transaction: the change, its log rows and its events
(through the outbox) commit together or not at all. The rules are in `domain/parcours.py`.

Actors in the transition log: the caller's identity subject for API requests, `matching` for a
hire reported by the matching service, `system` for the 183-day rule.
"""

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.calendar import day_in_france
from tremplin_shared.events import (
    ParcoursExitedV1,
    ParcoursOpenedV1,
    ParcoursTransitionedV1,
    PlacementHiredV1,
    ReferentAssignedV1,
)
from tremplin_shared.identity import Identity
from tremplin_shared.messaging import outbox
from tremplin_shared.problems import Conflict, NotFound, Unprocessable

from .adapters import parcours_repository as repo
from .adapters import repository as people
from .domain import indicators
from .domain.flags import today
from .domain.parcours import (
    DURABLE_EMPLOYMENT_DAYS,
    EMPLOYED,
    EXITED,
    IllegalTransition,
    InvalidTransitionRequest,
    Parcours,
    Transition,
    is_allowed,
    is_positive,
)
from .profile import stage_profile_changed

log = logging.getLogger(__name__)

SOURCE = "/tremplin/participants"
MATCHING_ACTOR = "matching"
HIRE_REASON = "hire reported"


class ConcurrentChange(Conflict):
    """The parcours moved between our read and our write (another request won): nothing was written."""


def _invalid(field: str, message: str, where: str = "body") -> Unprocessable:
    return Unprocessable(f"{field}: {message}", errors=[{"field": field, "in": where, "message": message}])


def _not_in_future(field: str, day: date) -> None:
    if day > today():
        raise _invalid(field, "must not be in the future")


async def _participant(session: AsyncSession, tenant: str, participant_id: uuid.UUID, *, writable: bool):
    row = await repo.participant_row(session, tenant, participant_id)
    if row is None:
        raise NotFound(f"participant {participant_id} not found")
    if writable and row.erased_at is not None:
        raise Conflict(f"participant {participant_id} was erased")
    return row


async def _parcours(session: AsyncSession, tenant: str, parcours_id: uuid.UUID, for_update: bool = False) -> Parcours:
    item = await repo.get_parcours(session, tenant, parcours_id, for_update=for_update)
    if item is None:
        raise NotFound(f"parcours {parcours_id} not found")
    return item


# ----------------------------------------------------------------------------------------------- opening
async def open_parcours(
    session: AsyncSession, identity: Identity, participant_id: uuid.UUID, programme: str, oriented_at: date
) -> dict:
    _not_in_future("oriented_at", oriented_at)
    try:
        async with session.begin():
            await _participant(session, identity.tenant, participant_id, writable=True)
            for existing in await repo.open_parcours_of(session, identity.tenant, participant_id):
                if existing.programme == programme:
                    raise Conflict(
                        f"participant {participant_id} already has an open {programme} parcours",
                        existing_id=str(existing.id),
                    )
            item = Parcours.open(identity.tenant, participant_id, programme, oriented_at, actor=identity.subject)
            await repo.add_parcours(session, item)
            event = ParcoursOpenedV1(
                parcours_id=item.id, participant_id=participant_id, programme=programme, oriented_at=oriented_at
            )
            await outbox.add_event(session, event, tenant=identity.tenant, source=SOURCE)
            await stage_profile_changed(session, identity.tenant, participant_id)  # `active` may change
    except IntegrityError as exc:  # a concurrent request opened it between our check and our insert
        raise Conflict(f"participant {participant_id} already has an open {programme} parcours") from exc
    return await parcours_detail(session, identity, item.id, log_read=False)


# ------------------------------------------------------------------------------------------- transitions
async def _move(session: AsyncSession, item: Parcours, apply: Callable[[], Transition | None]) -> Transition | None:
    """Apply one domain step (`apply` moves `item` or raises) inside the caller's transaction: the new
    state, its log row, the events. None when `apply` decided there was nothing to do."""
    was_state, was_since = item.state, item.state_since
    step = apply()
    if step is None:
        return None
    if not await repo.save_moves(session, item, was_state, was_since):
        raise ConcurrentChange(f"parcours {item.id} was changed meanwhile; read it again")
    common = {"parcours_id": item.id, "participant_id": item.participant_id, "programme": item.programme}
    await outbox.add_event(
        session,
        ParcoursTransitionedV1(
            **common, from_state=was_state, to_state=step.to_state, at=step.at, exit_kind=step.exit_kind
        ),
        tenant=item.tenant,
        source=SOURCE,
    )
    if step.to_state == EXITED:
        await outbox.add_event(
            session,
            ParcoursExitedV1(**common, exit_kind=step.exit_kind, positive=is_positive(step.exit_kind), at=step.at),
            tenant=item.tenant,
            source=SOURCE,
        )
        await stage_profile_changed(session, item.tenant, item.participant_id)  # `active` may change
    return step


async def transition(
    session: AsyncSession,
    identity: Identity,
    parcours_id: uuid.UUID,
    to: str,
    at: date,
    reason: str | None = None,
    exit_kind: str | None = None,
) -> dict:
    async with session.begin():
        item = await _parcours(session, identity.tenant, parcours_id, for_update=True)
        try:
            await _move(
                session, item, lambda: item.transition(to, at, exit_kind, actor=identity.subject, reason=reason)
            )
        except IllegalTransition as exc:
            raise Conflict(str(exc), current_state=exc.from_state, allowed=exc.allowed) from exc
        except InvalidTransitionRequest as exc:
            raise _invalid(exc.field, exc.message) from exc
        _not_in_future("at", at)  # after the machine: a 409 says more than a date problem
    return await parcours_detail(session, identity, parcours_id, log_read=False)


# --------------------------------------------------------------------------------------------- référent
async def assign_referent(
    session: AsyncSession, identity: Identity, parcours_id: uuid.UUID, referent: str, at: date
) -> dict:
    _not_in_future("at", at)
    try:
        async with session.begin():
            item = await _parcours(session, identity.tenant, parcours_id, for_update=True)
            if not item.is_open:
                raise Conflict(f"parcours {parcours_id} has exited: it gets no référent any more")
            if at < item.oriented_at:
                raise _invalid("at", f"is before the parcours was opened ({item.oriented_at.isoformat()})")
            current = (await repo.active_referents(session, identity.tenant, [item.id])).get(item.id)
            if current is not None and current.referent == referent:
                pass  # already the active référent: PUT is idempotent, nothing to record
            else:
                if current is not None:
                    if at < current.started_at:
                        raise _invalid("at", f"is before the current référent started ({current.started_at})")
                    await repo.end_referent(session, current.id, at)
                await repo.add_referent(session, identity.tenant, item.id, referent, at)
                event = ReferentAssignedV1(
                    parcours_id=item.id, participant_id=item.participant_id, referent=referent, at=at
                )
                await outbox.add_event(session, event, tenant=identity.tenant, source=SOURCE)
    except IntegrityError as exc:  # the partial unique index: a concurrent assignment won
        raise ConcurrentChange(f"parcours {parcours_id} got another référent meanwhile; read it again") from exc
    return await parcours_detail(session, identity, parcours_id, log_read=False)


# -------------------------------------------------------------------------------------------------- CER
async def sign_cer(
    session: AsyncSession,
    identity: Identity,
    parcours_id: uuid.UUID,
    objectives: list[str],
    signed_at: date,
    review_at: date,
) -> dict:
    _not_in_future("signed_at", signed_at)
    async with session.begin():
        item = await _parcours(session, identity.tenant, parcours_id, for_update=True)
        if item.programme != "rsa":
            raise Conflict(f"a CER (contrat d'engagement réciproque) belongs to an rsa parcours, not {item.programme}")
        if not item.is_open:
            raise Conflict(f"parcours {parcours_id} has exited")
        if signed_at < item.oriented_at:
            raise _invalid("signed_at", f"is before the parcours was opened ({item.oriented_at.isoformat()})")
        row = await repo.add_cer(session, identity.tenant, item.id, objectives, signed_at, review_at)
    return _cer_out(row)


def _cer_out(row) -> dict:
    get = row.get if isinstance(row, dict) else row._mapping.get
    return {
        "id": get("id"),
        "parcours_id": get("parcours_id"),
        "objectives": list(get("objectives")),
        "signed_at": get("signed_at"),
        "review_at": get("review_at"),
        "recorded_at": get("recorded_at"),
    }


# ------------------------------------------------------------------------------------------ diagnostics
async def add_diagnostic(session: AsyncSession, identity: Identity, participant_id: uuid.UUID, **fields) -> dict:
    _not_in_future("made_at", fields["made_at"])
    row = {
        "id": uuid.uuid4(),
        "tenant": identity.tenant,
        "participant_id": participant_id,
        "recorded_at": datetime.now(UTC),
        **fields,
    }
    async with session.begin():
        await _participant(session, identity.tenant, participant_id, writable=True)
        await repo.add_diagnostic(session, row)
        await stage_profile_changed(session, identity.tenant, participant_id)  # the latest feeds matching
    return _diagnostic_out(row)


def _diagnostic_out(row) -> dict:
    get = row.get if isinstance(row, dict) else row._mapping.get
    names = ("id", "participant_id", "made_at", "barriers", "skills", "wishes", "max_travel_km", "travel_modes",
             "weekly_hours_wanted", "schedule_exclusions", "recorded_at")  # fmt: skip
    return {name: get(name) for name in names}


async def list_diagnostics(session: AsyncSession, identity: Identity, participant_id: uuid.UUID) -> list[dict]:
    async with session.begin():
        await _participant(session, identity.tenant, participant_id, writable=False)
        rows = await repo.diagnostics_of(session, identity.tenant, participant_id)
        await people.log_access(session, identity, [participant_id], "diagnostics")
    return [_diagnostic_out(row) for row in rows]


# ---------------------------------------------------------------------------------------------- reading
def _transition_out(t) -> dict:
    return {
        "from_state": t.from_state,
        "to_state": t.to_state,
        "at": t.at,
        "reason": t.reason,
        "exit_kind": t.exit_kind,
        "actor": t.actor,
        "recorded_at": t.recorded_at,
    }


def _summary(item: Parcours, referent_row, latest_cer) -> dict:
    return {
        "id": item.id,
        "participant_id": item.participant_id,
        "programme": item.programme,
        "state": item.state,
        "state_since": item.state_since,
        "oriented_at": item.oriented_at,
        "opened_at": item.opened_at,
        "exit_kind": item.exit_kind,
        "exited_at": item.exited_at,
        "positive_exit": item.positive_exit,
        "allowed_targets": item.allowed_targets(),
        "referent": None
        if referent_row is None
        else {"referent": referent_row.referent, "started_at": referent_row.started_at},
        "cer_review_at": None if latest_cer is None else latest_cer.review_at,
    }


async def _summaries(session: AsyncSession, tenant: str, items: list[Parcours]) -> list[dict]:
    ids = [item.id for item in items]
    referents = await repo.active_referents(session, tenant, ids)
    latest: dict = {}
    for row in await repo.cers_of(session, tenant, ids):  # oldest first: the last one wins
        latest[row.parcours_id] = row
    return [_summary(item, referents.get(item.id), latest.get(item.id)) for item in items]


async def parcours_detail(
    session: AsyncSession, identity: Identity, parcours_id: uuid.UUID, *, log_read: bool = True
) -> dict:
    async with session.begin():
        item = await _parcours(session, identity.tenant, parcours_id)
        [out] = await _summaries(session, identity.tenant, [item])
        log_rows = (await repo.transitions_of(session, identity.tenant, [item.id])).get(item.id, [])
        cer_rows = await repo.cers_of(session, identity.tenant, [item.id])
        if log_read:
            await people.log_access(session, identity, [item.participant_id], "parcours")
    out["transitions"] = [_transition_out(t) for t in log_rows]
    out["cers"] = [_cer_out(row) for row in cer_rows]
    return out


async def participant_parcours(session: AsyncSession, identity: Identity, participant_id: uuid.UUID) -> list[dict]:
    async with session.begin():
        await _participant(session, identity.tenant, participant_id, writable=False)
        items = await repo.parcours_of(session, identity.tenant, participant_id)
        out = await _summaries(session, identity.tenant, items)
        await people.log_access(session, identity, [participant_id], "parcours")
    return out


async def list_parcours(
    session: AsyncSession,
    identity: Identity,
    *,
    programme: str | None,
    state: str | None,
    cer_review_overdue: bool,
    at: date | None,
    after: uuid.UUID | None,
    limit: int,
) -> tuple[list[dict], uuid.UUID | None]:
    """One page (by id) and the cursor of the next page, or None when this is the last."""
    async with session.begin():
        items = await repo.list_parcours(
            session,
            identity.tenant,
            programme=programme,
            state=state,
            cer_review_overdue_at=(at or today()) if cer_review_overdue else None,
            after=after,
            limit=limit + 1,
        )
        page = items[:limit]
        out = await _summaries(session, identity.tenant, page)
        await people.log_access(session, identity, [item.participant_id for item in page], "parcours_list")
    return out, (page[-1].id if len(items) > limit else None)


# --------------------------------------------------------------------------------------------- timeline
_KIND_ORDER = {"registered": 0, "parcours_opened": 1, "transition": 2, "referent_assigned": 3, "diagnostic": 4,
               "cer_signed": 5, "hire": 6}  # fmt: skip


async def timeline(session: AsyncSession, identity: Identity, participant_id: uuid.UUID) -> list[dict]:
    """Everything that happened to the person, in order of the day it happened, then of recording."""
    tenant = identity.tenant
    async with session.begin():
        person = await _participant(session, tenant, participant_id, writable=False)
        items = await repo.parcours_of(session, tenant, participant_id)
        programmes = {item.id: item.programme for item in items}
        ids = list(programmes)
        logs = await repo.transitions_of(session, tenant, ids)
        referents = await repo.referent_history(session, tenant, ids)
        cer_rows = await repo.cers_of(session, tenant, ids)
        diagnostic_rows = await repo.diagnostics_of(session, tenant, participant_id)
        hire_rows = await repo.hires_of(session, tenant, participant_id)
        await people.log_access(session, identity, [participant_id], "timeline")

    events: list[dict] = [
        {
            "at": day_in_france(person.registered_at),
            "recorded_at": person.registered_at,
            "kind": "registered",
        }
    ]
    for parcours_id, steps in logs.items():
        for t in steps:
            common = {"at": t.at, "recorded_at": t.recorded_at, "parcours_id": parcours_id,
                      "programme": programmes[parcours_id], "actor": t.actor}  # fmt: skip
            if t.from_state is None:
                events.append({**common, "kind": "parcours_opened"})
            else:
                events.append({**common, "kind": "transition", "from_state": t.from_state, "to_state": t.to_state,
                               "reason": t.reason, "exit_kind": t.exit_kind})  # fmt: skip
    for r in referents:
        events.append({"at": r.started_at, "recorded_at": r.recorded_at, "kind": "referent_assigned",
                       "parcours_id": r.parcours_id, "programme": programmes[r.parcours_id],
                       "referent": r.referent, "ended_at": r.ended_at})  # fmt: skip
    for d in diagnostic_rows:
        events.append({"at": d.made_at, "recorded_at": d.recorded_at, "kind": "diagnostic", "diagnostic_id": d.id,
                       "barriers": d.barriers, "skills": d.skills, "wishes": d.wishes})  # fmt: skip
    for c in cer_rows:
        events.append({"at": c.signed_at, "recorded_at": c.recorded_at, "kind": "cer_signed", "cer_id": c.id,
                       "parcours_id": c.parcours_id, "programme": programmes[c.parcours_id],
                       "objectives": c.objectives, "review_at": c.review_at})  # fmt: skip
    for h in hire_rows:
        events.append({"at": h.start_date, "recorded_at": h.recorded_at, "kind": "hire", "application_id": h.id,
                       "offer_id": h.offer_id, "contract_type": h.contract_type, "weekly_hours": h.weekly_hours,
                       "parcours_moved": h.parcours_moved, "awaiting_start": h.awaiting_start})  # fmt: skip
    events.sort(key=lambda e: (e["at"], e["recorded_at"], _KIND_ORDER[e["kind"]]))
    return events


# ------------------------------------------------------------------------------------------- indicators
def _period(start: date, end: date) -> None:
    if start > end:
        raise _invalid("from", "must not be after `to`", where="query")


async def plie_indicators(session: AsyncSession, identity: Identity, start: date, end: date) -> dict:
    _period(start, end)
    async with session.begin():
        facts = await repo.indicator_facts(session, identity.tenant, "plie")
    result = indicators.plie_indicators(facts, start, end)
    return {
        "from": result.start,
        "to": result.end,
        "entries": result.entries,
        "exits": result.exits,
        "positive_exits": result.positive_exits,
        "durable_employment_exits": result.durable_employment_exits,
        "qualifying_training_exits": result.qualifying_training_exits,
        "exits_by_kind": result.exits_by_kind,
        "rates": {
            "positive": result.positive_rate.as_dict(),
            "durable_employment": result.durable_employment_rate.as_dict(),
            "qualifying_training": result.qualifying_training_rate.as_dict(),
        },
    }


async def rsa_indicators(session: AsyncSession, identity: Identity, start: date, end: date) -> dict:
    _period(start, end)
    async with session.begin():
        facts = await repo.indicator_facts(session, identity.tenant, "rsa")
    result = indicators.rsa_indicators(facts, start, end)
    return {
        "from": result.start,
        "to": result.end,
        "followed": result.followed,
        "with_referent": result.with_referent.as_dict(),
        "with_signed_cer": result.with_signed_cer.as_dict(),
        "welcomed": result.welcomed,
        "median_days_oriented_to_welcomed": result.median_days_oriented_to_welcomed,
        "cer_reviews_overdue": result.cer_reviews_overdue,
    }


# ------------------------------------------------------------------------- hires and the 183-day rule
async def record_hire(
    session: AsyncSession, tenant: str, data: PlacementHiredV1, on: date | None = None
) -> bool | None:
    """Apply a hire reported by matching, inside the consumer's transaction (`on`: today in France).

    Every open parcours of the participant whose state allows `employed` (supported, immersion,
    training) moves there — oldest first; each programme follows the person in work on its own
    terms. The move is dated the contract's start, or the parcours' last transition if that is later
    (a log never goes back in time). Other parcours stay as they are; the hire is recorded anyway
    (the timeline shows it). Idempotent by application id. Returns whether a parcours moved, or
    None when the hire was ignored (participant unknown in the tenant or erased, hire already recorded).

    A contract starting after `on` moves nothing yet: the hire is recorded `awaiting_start`, and the
    parcours pass of jobs.py makes the moves on the start date (`start_due_hires`). Dated in the
    future now, the move would freeze the parcours until then: no move may be dated before the last
    one, nor after today.
    """
    participant = await repo.participant_row(session, tenant, data.participant_id)
    if participant is None or participant.erased_at is not None:
        log.warning(
            "hire for a participant unknown (or erased) in this tenant: ignored",
            extra={"fields": {"tenant": tenant, "participant_id": str(data.participant_id)}},
        )
        return None
    if await repo.hire_exists(session, data.application_id):
        return None
    recorded_at = datetime.now(UTC)  # before the moves: the timeline shows the hire, then its effect
    awaiting = data.start_date > (on or today())
    moved = False if awaiting else await _move_to_employed(session, tenant, data.participant_id, data.start_date)
    await repo.add_hire(
        session,
        {
            "id": data.application_id,
            "tenant": tenant,
            "participant_id": data.participant_id,
            "offer_id": data.offer_id,
            "contract_type": data.contract_type,
            "start_date": data.start_date,
            "weekly_hours": data.weekly_hours,
            "parcours_moved": moved,
            "awaiting_start": awaiting,
            "recorded_at": recorded_at,
        },
    )
    return moved


async def _move_to_employed(session: AsyncSession, tenant: str, participant_id: uuid.UUID, start: date) -> bool:
    moved = False
    for item in await repo.open_parcours_of(session, tenant, participant_id, for_update=True):
        if is_allowed(item.state, EMPLOYED):
            await _move(session, item, partial(_hired, item, max(start, item.state_since)))
            moved = True
    return moved


async def start_hire_if_due(session: AsyncSession, tenant: str, application_id: uuid.UUID, day: date) -> bool:
    """A hire awaiting its start, on or after that start: the moves record_hire deferred, dated the
    start, inside the caller's transaction. False if not (or no longer) due, or the person was erased."""
    hire = await repo.get_hire(session, tenant, application_id, for_update=True)
    if hire is None or not hire.awaiting_start or hire.start_date > day:
        return False
    participant = await repo.participant_row(session, tenant, hire.participant_id)
    moved = False
    if participant is not None and participant.erased_at is None:
        moved = await _move_to_employed(session, tenant, hire.participant_id, hire.start_date)
    await repo.hire_started(session, tenant, application_id, moved)
    return True


def _hired(item: Parcours, at: date) -> Transition:
    return item.transition(EMPLOYED, at, actor=MATCHING_ACTOR, reason=HIRE_REASON)


async def hires_starting(session: AsyncSession, day: date) -> list[tuple[str, uuid.UUID]]:
    return await repo.hires_awaiting_start(session, day)


async def due_for_exit(session: AsyncSession, day: date) -> list[tuple[str, uuid.UUID]]:
    return await repo.due_durable_exits(session, day - timedelta(days=DURABLE_EMPLOYMENT_DAYS))


async def exit_if_durably_employed(session: AsyncSession, tenant: str, parcours_id: uuid.UUID, day: date) -> bool:
    """The 183-day rule for one parcours, inside the caller's transaction. False if not (or no longer) due."""
    item = await repo.get_parcours(session, tenant, parcours_id, for_update=True)
    if item is None:
        return False
    return await _move(session, item, lambda: item.exit_if_durably_employed(day)) is not None
