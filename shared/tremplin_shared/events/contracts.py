"""Event contracts. A breaking change is a new class with a new version, never an edit.

To add an event type: subclass EventData with `ce_type`, `topic`, `aggregate` (the field that
identifies the aggregate and becomes the Kafka key); it is registered by that alone and appears
in the AsyncAPI document.
"""

from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

RomeCode = Annotated[str, StringConstraints(pattern=r"^[A-N]\d{4}$")]

EVENT_TYPES: dict[str, type["EventData"]] = {}


class EventData(BaseModel):
    """Base of every event payload. No names, no NIR: only what consumers need."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ce_type: ClassVar[str]
    topic: ClassVar[str]
    aggregate: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "ce_type" in cls.__dict__:
            if cls.ce_type in EVENT_TYPES:
                raise TypeError(f"event type {cls.ce_type} is declared twice")
            EVENT_TYPES[cls.ce_type] = cls

    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate))


def contract_for(ce_type: str) -> type[EventData] | None:
    return EVENT_TYPES.get(ce_type)


PARTICIPANTS_TOPIC = "participants.events"
MATCHING_TOPIC = "matching.events"
CLAUSES_TOPIC = "clauses.events"
FUNDING_TOPIC = "funding.events"


class ParticipantRegisteredV1(EventData):
    """A participant entered the platform in a territory. Location and skills feed matching."""

    ce_type: ClassVar[str] = "fr.tremplin.participants.participant.registered.v1"
    topic: ClassVar[str] = PARTICIPANTS_TOPIC
    aggregate: ClassVar[str] = "participant_id"

    participant_id: UUID
    registered_at: datetime
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    skills: list[RomeCode] = Field(default_factory=list)
