"""Event contracts (one pydantic model per type and version) and the CloudEvents envelope."""

from .contracts import (
    EVENT_TYPES,
    INBOUND_FRANCE_TRAVAIL_TOPIC,
    EventData,
    FranceTravailOffre,
    FranceTravailOffreClosedV1,
    FranceTravailOffrePublishedV1,
    FranceTravailOffreUpdatedV1,
    ParcoursExitedV1,
    ParcoursOpenedV1,
    ParcoursTransitionedV1,
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    PlacementHiredV1,
    ReferentAssignedV1,
    contract_for,
)
from .envelope import CloudEvent, new_event

# Each service's contracts register themselves on import: import them so that every type is known.
from . import clauses, funding  # noqa: F401  isort: skip

__all__ = [
    "EVENT_TYPES",
    "INBOUND_FRANCE_TRAVAIL_TOPIC",
    "CloudEvent",
    "EventData",
    "FranceTravailOffre",
    "FranceTravailOffreClosedV1",
    "FranceTravailOffrePublishedV1",
    "FranceTravailOffreUpdatedV1",
    "ParcoursExitedV1",
    "ParcoursOpenedV1",
    "ParcoursTransitionedV1",
    "ParticipantErasedV1",
    "ParticipantFlags",
    "ParticipantProfileChangedV1",
    "ParticipantRegisteredV1",
    "PlacementHiredV1",
    "ReferentAssignedV1",
    "contract_for",
    "new_event",
]
