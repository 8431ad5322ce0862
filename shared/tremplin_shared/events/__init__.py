"""Event contracts (one pydantic model per type and version) and the CloudEvents envelope."""

from .contracts import EVENT_TYPES, EventData, ParticipantRegisteredV1, contract_for
from .envelope import CloudEvent, new_event

__all__ = ["EVENT_TYPES", "CloudEvent", "EventData", "ParticipantRegisteredV1", "contract_for", "new_event"]
