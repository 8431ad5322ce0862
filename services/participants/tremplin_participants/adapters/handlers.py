"""Events this service consumes. Each handler runs inside the consumer's transaction (inbox row
included), so a redelivered event has no second effect."""

from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import CloudEvent, PlacementHiredV1
from tremplin_shared.events.contracts import FranceTravailJobSeekerRegisteredV1

from .. import orientation_service, parcours_service


async def on_placement_hired(session: AsyncSession, event: CloudEvent, data: PlacementHiredV1) -> None:
    """matching reported a hire: record it and move the open parcours to `employed` where the machine
    allows it. The tenant is the event's. Never raises for a rule: an unknown participant is logged
    and ignored, a parcours that cannot move stays as it is (the timeline still shows the hire)."""
    await parcours_service.record_hire(session, event.tenant, data)


def handlers(hash_key: str) -> dict:
    """The handlers by event type; `hash_key` (the participants' hash key) makes the pseudonym of a
    France Travail id an erasure keeps."""

    async def on_job_seeker_registered(
        session: AsyncSession, event: CloudEvent, data: FranceTravailJobSeekerRegisteredV1
    ) -> None:
        """France Travail reported a job seeker registered in the territory (the event's tenant, as the
        gateway's intake stamped it): a pending orientation, or — when a participant already carries
        that France Travail id — that participant's situation updated. The offer events of the same
        topic have no handler here: the consumer skips them (no inbox row, no dead letter)."""
        await orientation_service.apply_registration(session, event.tenant, data, hash_key)

    return {
        PlacementHiredV1.ce_type: on_placement_hired,
        FranceTravailJobSeekerRegisteredV1.ce_type: on_job_seeker_registered,
    }
