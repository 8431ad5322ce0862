"""Request and response bodies of the offers, applications and funnel routes."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from stdnum.fr import siret as stdnum_siret

from tremplin_shared.events.contracts import ContractType, RomeCode

from ..domain.applications import MAX_WEEKLY_HOURS, ApplicationState
from ..domain.offers import OfferStatus

CommuneInsee = Annotated[str, StringConstraints(pattern=r"^(\d{5}|2[AB]\d{3})$")]
Skill = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
WeeklyHours = Annotated[float, Field(gt=0, le=MAX_WEEKLY_HOURS)]


def check_siret(value: str | None) -> str | None:
    """14 digits with a valid Luhn key (python-stdnum); spaces and dots are dropped."""
    if value is None:
        return None
    compact = stdnum_siret.compact(value)
    if not stdnum_siret.is_valid(compact):
        raise ValueError("not a valid SIRET (14 digits with a valid check digit)")
    return compact


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Employer(_In):
    name: str = Field(min_length=1, max_length=300)
    siret: str = Field(description="14 digits, checked with python-stdnum", examples=["73282932000074"])

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        return check_siret(value)


class Location(_In):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    commune_insee: CommuneInsee | None = None


class Requirements(_In):
    driving_licence: bool = False


class Schedule(_In):
    night: bool = False
    weekend: bool = False
    early: bool = False


class OfferIn(_In):
    title: str = Field(min_length=1, max_length=300)
    employer: Employer
    rome_code: RomeCode | None = None
    skills: list[Skill] = Field(default_factory=list, max_length=50)
    location: Location
    contract_type: ContractType
    weekly_hours: WeeklyHours | None = None
    positions: int = Field(default=1, ge=1, le=1000)
    start_date: date | None = None
    requirements: Requirements = Field(default_factory=Requirements)
    schedule: Schedule = Field(default_factory=Schedule)
    clause_lot_id: uuid.UUID | None = Field(default=None, description="The clause lot this hire counts for")


class EmployerPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    siret: str | None = None

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str | None) -> str | None:
        return check_siret(value)


class LocationPatch(_In):
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    commune_insee: CommuneInsee | None = None


class RequirementsPatch(_In):
    driving_licence: bool | None = None


class SchedulePatch(_In):
    night: bool | None = None
    weekend: bool | None = None
    early: bool | None = None


class OfferPatch(_In):
    """Only the fields sent change. `status`: `closed` withdraws the offer, `open` reopens a closed one
    (it is `filled` again if no position is left); `filled` is set by hires only."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    employer: EmployerPatch | None = None
    rome_code: RomeCode | None = None
    skills: list[Skill] | None = Field(default=None, max_length=50)
    location: LocationPatch | None = None
    contract_type: ContractType | None = None
    weekly_hours: WeeklyHours | None = None
    positions: int | None = Field(default=None, ge=1, le=1000)
    start_date: date | None = None
    requirements: RequirementsPatch | None = None
    schedule: SchedulePatch | None = None
    clause_lot_id: uuid.UUID | None = None
    status: Literal["open", "closed"] | None = None


class EmployerOut(BaseModel):
    name: str | None
    siret: str | None


class ExternalRef(BaseModel):
    source: str
    id: str


class OfferOut(BaseModel):
    id: uuid.UUID
    title: str
    employer: EmployerOut
    rome_code: str | None
    skills: list[str]
    location: Location
    contract_type: str
    weekly_hours: float | None
    positions: int
    open_positions: int
    start_date: date | None
    requirements: Requirements
    schedule: Schedule
    clause_lot_id: uuid.UUID | None
    status: OfferStatus
    external: ExternalRef | None = Field(description="Where the offer came from (France Travail id), if imported")
    created_at: datetime
    updated_at: datetime


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class ImportError_(BaseModel):
    index: int = Field(description="Position of the record in the list sent (from 0)")
    external_id: str | None = Field(description="The record's `id`, when it has one")
    field: str = Field(description="Path of the faulty field in the record, e.g. lieuTravail.latitude")
    message: str


class ImportResult(BaseModel):
    created: int
    updated: int
    errors: list[ImportError_] = Field(description="One entry per faulty field of each rejected record")


class ApplicationIn(_In):
    participant_id: uuid.UUID
    offer_id: uuid.UUID
    at: AwareDatetime | None = Field(default=None, description="When positioned; now if absent")
    reason: str | None = Field(default=None, max_length=2000)


class TransitionIn(_In):
    to: ApplicationState
    at: AwareDatetime | None = Field(default=None, description="When it happened; now if absent")
    reason: str | None = Field(default=None, max_length=2000)
    start_date: date | None = Field(default=None, description="Required for hired")
    contract_type: ContractType | None = Field(default=None, description="Required for hired")
    weekly_hours: WeeklyHours | None = Field(default=None, description="Required for hired")


class TransitionOut(BaseModel):
    from_state: ApplicationState | None
    to_state: ApplicationState
    at: datetime
    actor: str | None
    reason: str | None


class HireOut(BaseModel):
    start_date: date
    contract_type: str
    weekly_hours: float
    employer_siret: str | None = Field(description="The offer's at the hire (null for hires older than this field)")
    clause_lot_id: uuid.UUID | None = Field(description="The offer's clause lot at the hire, if it had one")


class ApplicationOut(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    offer_id: uuid.UUID
    state: ApplicationState
    allowed: list[ApplicationState] = Field(description="The states it may go to next")
    hire: HireOut | None
    created_at: datetime
    updated_at: datetime
    transitions: list[TransitionOut]


class ApplicationList(BaseModel):
    items: list[ApplicationOut]


class FunnelOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", serialization_alias="from")
    to: date
    offers_created: int
    participants_positioned: int = Field(description="Distinct participants with an application made in the period")
    hires: int = Field(description="Applications that went to hired in the period")
