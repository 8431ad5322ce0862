"""Request and response bodies of the orientations API."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .schemas import CommuneInsee, Latitude, Longitude, ParticipantIn, ParticipantOut

OrientationStatus = Literal["pending", "accepted", "dismissed"]


class AcceptIn(ParticipantIn):
    """The participant's personal data, as the participant creation body. What the registration
    gives completes it: latitude/longitude (required here only when France Travail gave none),
    commune, `unemployed_since` (the registration date unless given), `rsa` (France Travail's
    value unless given), the ROME codes sought added to `skills`. `job_seeker_registered` is
    always true."""

    model_config = ConfigDict(extra="forbid")

    latitude: Latitude | None = None
    longitude: Longitude | None = None
    commune_insee: CommuneInsee | None = None
    rsa: bool | None = None
    job_seeker_registered: Literal[True] = True


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class OrientationTransitionOut(BaseModel):
    from_status: OrientationStatus | None = Field(description="null for the creation from the registration")
    to_status: OrientationStatus
    reason: str | None
    actor: str
    recorded_at: datetime


class OrientationOut(BaseModel):
    id: uuid.UUID
    france_travail_id: str | None = Field(description="France Travail's job seeker id (null once erased)")
    registered_on: date = Field(description="dateInscription: the registration with France Travail")
    category: str = Field(description="Catégorie de demandeur d'emploi (A–E)")
    commune_insee: str
    latitude: float | None
    longitude: float | None
    rome_codes: list[str]
    rsa: bool | None = Field(description="RSA beneficiary as France Travail said; null when unknown")
    status: OrientationStatus
    participant_id: uuid.UUID | None = Field(description="The participant created by the acceptance")
    dismissal_reason: str | None
    received_at: datetime
    updated_at: datetime | None


class OrientationDetail(OrientationOut):
    transitions: list[OrientationTransitionOut]


class OrientationPage(BaseModel):
    items: list[OrientationOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class AcceptOut(BaseModel):
    orientation: OrientationDetail
    participant: ParticipantOut
