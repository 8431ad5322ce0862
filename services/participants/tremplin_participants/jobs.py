"""Scheduled work of the participants service: the 183-day rule.

A parcours `employed` for 183 days in a row exits as `durable_employment` by itself, dated day 183
(see `domain.parcours.durable_exit_date`). `exit_durable_employments(sessionmaker, today)` does one
pass with an injected date; `durable_exit_loop(app)` runs a pass at start and then every
`PARTICIPANTS_DURABLE_EXIT_INTERVAL_SECONDS` (an hour by default).

Safe to run twice, or in two processes at once: each parcours is exited in its own transaction after
re-reading it (row lock on PostgreSQL, compare-and-set on the state everywhere), so a parcours
already exited is skipped and never gets a second log row or event.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import date

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import parcours_service
from .domain.flags import today as today_in_france

log = logging.getLogger(__name__)


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


async def durable_exit_loop(app: FastAPI, clock: Callable[[], date] = today_in_france) -> None:
    """The background task the service starts (ServiceSpec.background): a pass now, then periodically."""
    interval = app.state.settings.durable_exit_interval_seconds
    while True:
        try:
            await exit_durable_employments(app.state.sessionmaker, clock())
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed pass is logged; the next one tries again
            log.exception("durable employment pass failed")
        await asyncio.sleep(interval)
