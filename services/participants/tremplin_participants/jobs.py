"""Scheduled work of the participants service: the 183-day rule, and flags crossing a threshold.

**The parcours pass.** First the hires whose contract starts on a later day than matching reported
it: on their start date (or the first pass after it), their parcours move to `employed`, dated the
start (`start_due_hires`; parcours_service.record_hire). Then the 183-day rule: a parcours `employed`
for 183 days in a row exits as `durable_employment` by itself, dated day 183 (see
`domain.parcours.durable_exit_date`). `exit_durable_employments(sessionmaker, today)` does one pass
with an injected date; `durable_exit_loop(app)` runs both at start and then every
`PARTICIPANTS_DURABLE_EXIT_INTERVAL_SECONDS` (an hour by default).

Safe to run twice, or in two processes at once: each hire is started, each parcours exited, in its
own transaction after re-reading it (row lock on PostgreSQL, compare-and-set on the state
everywhere), so a hire already started or a parcours already exited is skipped and never gets a
second log row or event.

**Flags crossing a threshold.** The flags are computed at a date (DOMAIN.md §Programmes and publics):
12 and 24 months of unemployment, the 26th and 50th birthdays change them with nothing else
changing. Clauses keeps the dated computations it receives and judges eligibility with the one in
force at a placement's start, so each such day must reach it as a participant.profile_changed.v1
(the usual event and contract) whose `flags.computed_on` is the day the threshold was crossed;
`changed_at` stays the moment the event is made (it orders two computations of one day).

- Every profile event records on the participant row the flags it carried (`flags_sent`) and the
  next day time alone changes them (`flags_due_on`, None: never; `domain.flag_changes`), in the
  transaction of the event (`profile.stage_profile_changed`, `service_layer.change_participant` —
  which records them too when a change sends no event, since the next day may have moved).
- `refresh_flags(sessionmaker, today)` selects only the live participants whose `flags_due_on` is
  `today` or earlier (partial index), and those not tracked yet (imported in bulk, or older than
  migration 0005: their held flags are taken as those of the day of their last change or
  registration). Each in its own transaction: the row is locked (PostgreSQL) and read again, the
  events of every day a flag changed since the held flags, up to `today`, are staged oldest first
  in the outbox, and the tracking is written by compare-and-set on what was read (a participant a
  concurrent pass or change already handled is skipped, nothing written). Running it twice on one
  day sends nothing new; after days without a pass, every crossing is sent with its own date.
- A change made while crossings are pending (the job down for days) sends them first, from the
  situation before the change, then its own event.
- Erased participants are never selected, and are skipped if erased in between. Events carry the
  profile (no name, no NIR, no birth date); logs carry counts and ids only.

`flags_refresh_loop(app)` runs a pass at start, then every `PARTICIPANTS_FLAGS_REFRESH_INTERVAL_SECONDS`
(an hour by default), with today in France.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import date

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import parcours_service, profile
from .adapters import flag_tracking
from .domain.flags import today as today_in_france

log = logging.getLogger(__name__)

UNTRACKED_BATCH = 500


async def exit_durable_employments(sessionmaker: async_sessionmaker[AsyncSession], today: date) -> int:
    """Exit every parcours due on `today` (all tenants). Returns how many exited in this pass."""
    async with sessionmaker() as session:
        due = await parcours_service.due_for_exit(session, today)
    exited = 0
    for tenant, parcours_id in due:
        try:
            async with sessionmaker() as session, session.begin():
                exited += await parcours_service.exit_if_durably_employed(session, tenant, parcours_id, today)
        except parcours_service.ConcurrentChange:
            log.info("parcours changed while exiting it; skipped", extra={"fields": {"parcours_id": str(parcours_id)}})
    if exited:
        log.info("durable employment exits", extra={"fields": {"exited": exited, "today": today.isoformat()}})
    return exited


async def start_due_hires(sessionmaker: async_sessionmaker[AsyncSession], today: date) -> int:
    """Move the parcours of every hire whose contract started by `today` and awaited it (all tenants)."""
    async with sessionmaker() as session:
        due = await parcours_service.hires_starting(session, today)
    started = 0
    for tenant, application_id in due:
        try:
            async with sessionmaker() as session, session.begin():
                started += await parcours_service.start_hire_if_due(session, tenant, application_id, today)
        except parcours_service.ConcurrentChange:
            log.info("parcours changed while starting a hire; the next pass retries",
                     extra={"fields": {"application_id": str(application_id)}})  # fmt: skip
    if started:
        log.info("hires started", extra={"fields": {"started": started, "today": today.isoformat()}})
    return started


async def durable_exit_loop(app: FastAPI, clock: Callable[[], date] = today_in_france) -> None:
    """The background task the service starts (ServiceSpec.background): a pass now, then periodically."""
    interval = app.state.settings.durable_exit_interval_seconds
    while True:
        try:
            day = clock()
            await start_due_hires(app.state.sessionmaker, day)
            await exit_durable_employments(app.state.sessionmaker, day)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is logged; the next one tries again
            log.exception("durable employment pass failed")
        await asyncio.sleep(interval)


# ------------------------------------------------------------------------------------- flags refresh
async def refresh_flags_of(session: AsyncSession, tenant: str, participant_id, today: date) -> int:
    """One participant, inside the caller's transaction: the flag changes up to `today` not sent yet.
    Returns how many profile events were staged (0 for an erased one, or one handled meanwhile)."""
    found = await flag_tracking.locked(session, tenant, participant_id)
    if found is None or found[0].erased:
        return 0
    participant, tracking = found
    if tracking.sent is not None and (tracking.due_on is None or tracking.due_on > today):
        return 0  # handled meanwhile (another pass, a change)
    sent = await profile.send_flag_changes(session, participant, tracking, today, compare_and_set=True)
    if sent is None:
        log.info("participant changed while refreshing its flags; skipped",
                 extra={"fields": {"participant_id": str(participant_id)}})  # fmt: skip
        return 0
    return sent


async def refresh_flags(sessionmaker: async_sessionmaker[AsyncSession], today: date) -> int:
    """Send the flags time alone changed by `today` (all tenants). Returns the events staged."""
    async with sessionmaker() as session:
        candidates = await flag_tracking.due(session, today)
        after = None
        while batch := await flag_tracking.untracked(session, UNTRACKED_BATCH, after):
            candidates.extend(batch)
            after = batch[-1][1]
    sent = 0
    for tenant, participant_id in dict.fromkeys(candidates):
        async with sessionmaker() as session, session.begin():
            sent += await refresh_flags_of(session, tenant, participant_id, today)
    if sent:
        log.info("flags refreshed", extra={"fields": {"events": sent, "today": today.isoformat()}})
    return sent


async def flags_refresh_loop(app: FastAPI, clock: Callable[[], date] = today_in_france) -> None:
    """The background task the service starts (ServiceSpec.background): a pass now, then periodically."""
    interval = app.state.settings.flags_refresh_interval_seconds
    while True:
        try:
            await refresh_flags(app.state.sessionmaker, clock())
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is logged; the next one tries again
            log.exception("flags refresh pass failed")
        await asyncio.sleep(interval)
