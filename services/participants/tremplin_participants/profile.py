"""participant.profile_changed.v1: what matching and clauses need to know of a participant.

Built from the participant row, the latest diagnostic and whether a parcours is open, with the
flags computed for the day. Call `stage_profile_changed` inside the transaction of any change
that may alter it (registration, PATCH, diagnostic, parcours opened or exited): the event goes to
the outbox and commits with the change. No names, no NIR, no birth date: only what matching uses,
and the sex (a statistic for the clauses reports).
"""

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import ParticipantProfileChangedV1
from tremplin_shared.messaging import outbox

from .adapters import repository
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
    person has no profile any more, and other services have purged theirs."""
    event = await build_profile(session, tenant, participant_id, at=at)
    if event is not None:
        await outbox.add_event(session, event, tenant=tenant, source=SOURCE)
