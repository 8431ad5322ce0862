"""A participant: a person followed by the territory's insertion actors. Pure rules, no I/O."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from tremplin_shared.events import ParticipantRegisteredV1


class InvalidParticipant(ValueError):
    pass


@dataclass
class Participant:
    tenant: str
    first_name: str
    last_name: str
    birth_date: date
    sex: str
    latitude: float
    longitude: float
    skills: list[str]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    registered_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.birth_date >= self.registered_at.date():
            raise InvalidParticipant("birth_date must be in the past")
        # The same skill twice means nothing more; keep the declared order.
        self.skills = list(dict.fromkeys(self.skills))

    def registered_event(self) -> ParticipantRegisteredV1:
        """What other services learn: no names, no birth date — ids, location, skills."""
        return ParticipantRegisteredV1(
            participant_id=self.id,
            registered_at=self.registered_at,
            latitude=self.latitude,
            longitude=self.longitude,
            skills=self.skills,
        )
