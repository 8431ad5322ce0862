"""participant.profile_changed.v1: what matching and clauses need to know of a participant.

Built from the participant row, the latest diagnostic and whether a parcours is open, with the
flags computed for the day. Call `stage_profile_changed` inside the transaction of any change
that may alter it (registration, PATCH, diagnostic, parcours opened or exited): the event goes to
the outbox and commits with the change. No names, no NIR, no birth date: only what matching uses,
and the sex (a statistic for the clauses reports).

Every profile event also records on the participant row the flags it carried and the next day time
alone changes them (`adapters.flag_tracking`); `send_flag_changes` sends the events of the days a
threshold was crossed since (the flags-refresh job of jobs.py, and every change before its own event).
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.calendar import day_in_france
from tremplin_shared.events import ParticipantProfileChangedV1
from tremplin_shared.messaging import outbox

from .adapters import flag_tracking, repository
from .adapters.flag_tracking import Tracking
from .domain.flag_changes import Plan, next_change, plan
from .domain.flags import today
from .domain.participant import Participant

SOURCE = "/tremplin/participants"


def profile_event(
    participant: Participant,
    diagnostic: Mapping | None,
    active: bool,
    at: date,
    changed_at: datetime | None = None,
) -> ParticipantProfileChangedV1:
    """The event for a participant (pure). The latest diagnostic, when there is one, gives the skills,
    wishes, mobility, hours and schedule exclusions; without one, the skills declared at registration."""
    d = diagnostic or {}
    return ParticipantProfileChangedV1(
        participant_id=participant.id,
        changed_at=changed_at or datetime.now(UTC),
        latitude=participant.latitude,
        longitude=participant.longitude,
        commune_insee=participant.commune_insee,
        skills=list(d["skills"]) if diagnostic is not None else participant.skills,
        wishes=list(d.get("wishes") or []),
        max_travel_km=d.get("max_travel_km"),
        travel_modes=list(d.get("travel_modes") or []),
        weekly_hours_wanted=d.get("weekly_hours_wanted"),
        schedule_exclusions=list(d.get("schedule_exclusions") or []),
        driving_licence=participant.driving_licence,
        vehicle=participant.vehicle,
        flags=participant.flags(at),
        consent_matching=participant.consent_matching,
        active=active,
        sex=participant.sex if participant.sex in ("F", "M") else None,
    )


async def build_profile(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, *, at: date | None = None
) -> ParticipantProfileChangedV1 | None:
    """The profile as the database holds it now; None for an unknown or erased participant."""
    participant = await repository.get(session, tenant, participant_id)
    if participant is None or participant.erased:
        return None
    diagnostic = await repository.latest_diagnostic(session, tenant, participant_id)
    active = await repository.has_open_parcours(session, tenant, participant_id)
    return profile_event(participant, diagnostic, active, at or today())


async def stage_profile_changed(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, *, at: date | None = None
) -> None:
    """Stage participant.profile_changed.v1 in the caller's transaction (flags computed for `at`,
    today in France by default). Does nothing for an unknown or erased participant: an erased
    person has no profile any more, and other services have purged theirs.

    The participant row is locked (PostgreSQL) and read again: the flag changes crossed before `at`
    and not sent yet go out first, each dated its day; then this event; then what it sent is recorded."""
    at = at or today()
    found = await flag_tracking.locked(session, tenant, participant_id)
    if found is None or found[0].erased:
        return
    participant, tracking = found
    diagnostic = await repository.latest_diagnostic(session, tenant, participant_id)
    active = await repository.has_open_parcours(session, tenant, participant_id)
    changes = flag_changes_until(participant, tracking, at - timedelta(days=1))
    await _stage(session, participant, diagnostic, active, changes.send)
    event = profile_event(participant, diagnostic, active, at)
    await outbox.add_event(session, event, tenant=tenant, source=SOURCE)
    await remember_flags(session, participant, at)


# ------------------------------------------------------------------------------ flags crossing a threshold
def held_flags(participant: Participant, tracking: Tracking):
    """The flags other services hold: those last sent; for a participant not tracked yet (a bulk
    import, a row older than the tracking), those of the day of its last change or registration —
    the day its last profile event was computed on, or earlier (then the changes since are sent
    again, dated right: harmless)."""
    return tracking.sent or participant.flags(day_in_france(tracking.last_change))


def flag_changes_until(participant: Participant, tracking: Tracking, until: date) -> Plan:
    return plan(participant.situation, participant.birth_date, held_flags(participant, tracking), until)


async def _stage(
    session: AsyncSession, participant: Participant, diagnostic: Mapping | None, active: bool, days: list
) -> None:
    for flags in days:
        event = profile_event(participant, diagnostic, active, flags.computed_on)
        await outbox.add_event(session, event, tenant=participant.tenant, source=SOURCE)


async def send_flag_changes(
    session: AsyncSession, participant: Participant, tracking: Tracking, until: date, *, compare_and_set: bool
) -> int | None:
    """Inside the caller's transaction, on a live participant read (and locked) with its tracking:
    stage a profile event for each day up to `until` on which time alone changed the flags since
    those other services hold (dated that day: flags.computed_on; the rest of the profile as it is
    now), and record the result. Returns how many were staged; None when `compare_and_set` found the
    tracking changed meanwhile (nothing written)."""
    changes = flag_changes_until(participant, tracking, until)
    if tracking.sent is not None and not changes.send and changes.due_on == tracking.due_on:
        return 0
    expected = tracking if compare_and_set else None
    if not await flag_tracking.record(session, participant, changes.standing, changes.due_on, expected=expected):
        return None
    if changes.send:
        diagnostic = await repository.latest_diagnostic(session, participant.tenant, participant.id)
        active = await repository.has_open_parcours(session, participant.tenant, participant.id)
        await _stage(session, participant, diagnostic, active, changes.send)
    return len(changes.send)


async def remember_flags(session: AsyncSession, participant: Participant, at: date) -> None:
    """Record that other services hold the flags of `at` for this participant's situation as it is now
    (a profile event of that day was staged, or the change staged none because they are the same)."""
    held = participant.flags(at)
    await flag_tracking.record(
        session, participant, held, next_change(participant.situation, participant.birth_date, held)
    )
