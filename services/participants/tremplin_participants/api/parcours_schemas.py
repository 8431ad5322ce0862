"""Request and response bodies of the parcours routes."""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from tremplin_shared.events.contracts import ExitKind, ParcoursState, Programme, RomeCode, ScheduleExclusion

# Free text: no control characters but tab and newlines (PostgreSQL refuses NUL in text).
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=_NO_CONTROL)]
Referent = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_CONTROL)]
Objective = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=_NO_CONTROL)]
Severity = Annotated[int, Field(ge=0, le=3, description="0 none, 1 light, 2 significant, 3 blocking")]
TravelMode = Literal["walk", "bike", "public_transport", "car", "carpool", "two_wheeler"]


class ParcoursOpenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    programme: Programme
    oriented_at: date


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: ParcoursState
    at: date
    reason: Text | None = None
    exit_kind: ExitKind | None = Field(default=None, description="Required when `to` is `exited`, refused otherwise.")


class ReferentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referent: Referent = Field(description="The professional's id in the territory.")
    at: date


class CerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    objectives: list[Objective] = Field(min_length=1, max_length=30)
    signed_at: date
    review_at: date

    @field_validator("review_at")
    @classmethod
    def _review_after_signature(cls, value: date, info: ValidationInfo) -> date:
        signed_at = info.data.get("signed_at")
        if signed_at is not None and value < signed_at:
            raise ValueError("the review date must not be before the signature date")
        return value


class Barriers(BaseModel):
    """Barriers to employment (freins périphériques), each with a severity from 0 to 3."""

    model_config = ConfigDict(extra="forbid")

    mobility: Severity = 0
    health: Severity = 0
    childcare: Severity = 0
    language: Severity = 0
    housing: Severity = 0
    digital: Severity = 0
    other: Severity = 0


class DiagnosticIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    made_at: date
    barriers: Barriers = Field(default_factory=Barriers)
    skills: list[RomeCode] = Field(default_factory=list, max_length=50, description="ROME codes, e.g. K2204")
    wishes: list[RomeCode] = Field(default_factory=list, max_length=20, description="ROME codes wished for")
    max_travel_km: float | None = Field(default=None, ge=0, le=500)
    travel_modes: list[TravelMode] = Field(default_factory=list, max_length=6)
    weekly_hours_wanted: float | None = Field(default=None, ge=0, le=48)
    schedule_exclusions: list[ScheduleExclusion] = Field(default_factory=list, max_length=3)

    @field_validator("skills", "wishes", "travel_modes", "schedule_exclusions")
    @classmethod
    def _no_duplicates(cls, value: list) -> list:
        return list(dict.fromkeys(value))


class DiagnosticOut(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    made_at: date
    barriers: Barriers
    skills: list[str]
    wishes: list[str]
    max_travel_km: float | None
    travel_modes: list[str]
    weekly_hours_wanted: float | None
    schedule_exclusions: list[str]
    recorded_at: datetime


class DiagnosticList(BaseModel):
    items: list[DiagnosticOut]


class ActiveReferent(BaseModel):
    referent: str
    started_at: date


class TransitionOut(BaseModel):
    from_state: ParcoursState | None
    to_state: ParcoursState
    at: date
    reason: str | None
    exit_kind: ExitKind | None
    actor: str
    recorded_at: datetime


class CerOut(BaseModel):
    id: uuid.UUID
    parcours_id: uuid.UUID
    objectives: list[str]
    signed_at: date
    review_at: date
    recorded_at: datetime


class ParcoursSummary(BaseModel):
    id: uuid.UUID
    participant_id: uuid.UUID
    programme: Programme
    state: ParcoursState
    state_since: date
    oriented_at: date
    opened_at: datetime
    exit_kind: ExitKind | None
    exited_at: date | None
    positive_exit: bool | None = Field(description="Once exited: durable employment or qualifying training.")
    allowed_targets: list[ParcoursState]
    referent: ActiveReferent | None
    cer_review_at: date | None = Field(description="Review date of the latest CER, if any.")


class ParcoursOut(ParcoursSummary):
    transitions: list[TransitionOut]
    cers: list[CerOut]


class ParcoursList(BaseModel):
    items: list[ParcoursSummary]
    next_cursor: str | None = None


TimelineKind = Literal[
    "registered", "parcours_opened", "transition", "referent_assigned", "diagnostic", "cer_signed", "hire"
]


class TimelineItem(BaseModel):
    """One thing that happened; the other keys depend on `kind`."""

    model_config = ConfigDict(extra="allow")

    at: date
    kind: TimelineKind
    recorded_at: datetime


class Timeline(BaseModel):
    participant_id: uuid.UUID
    items: list[TimelineItem]


class Rate(BaseModel):
    numerator: int
    denominator: int
    rate: float | None = Field(description="numerator / denominator, None when the denominator is 0")


class TargetRate(Rate):
    target: float
    met: bool | None


class PlieRates(BaseModel):
    positive: TargetRate
    durable_employment: TargetRate
    qualifying_training: TargetRate


class PlieIndicatorsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    entries: int
    exits: int
    positive_exits: int
    durable_employment_exits: int
    qualifying_training_exits: int
    exits_by_kind: dict[str, int]
    rates: PlieRates


class RsaIndicatorsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    followed: int = Field(description="rsa parcours followed during the period")
    with_referent: Rate
    with_signed_cer: Rate
    welcomed: int = Field(description="parcours first welcomed during the period")
    median_days_oriented_to_welcomed: float | None
    cer_reviews_overdue: int
