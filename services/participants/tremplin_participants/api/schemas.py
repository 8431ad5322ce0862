import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tremplin_shared.events.contracts import RomeCode

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: Name
    last_name: Name
    birth_date: date
    sex: Literal["F", "M"]
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    skills: list[RomeCode] = Field(default_factory=list, max_length=50, description="ROME codes, e.g. K2204")


class ParticipantOut(BaseModel):
    id: uuid.UUID
    first_name: str
    last_name: str
    birth_date: date
    sex: str
    latitude: float
    longitude: float
    skills: list[str]
    registered_at: datetime
