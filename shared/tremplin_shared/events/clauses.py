"""Event contracts of the clauses service (topic `clauses.events`). See contracts.py for the rules.

No names: ids, SIRETs of the organisations (buyer, contractor), hours and dates.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .contracts import CLAUSES_TOPIC, ContractType, EventData

FulfilmentMode = Literal[
    "direct_hire",
    "temp_work_etti",
    "temp_work_ett",
    "secondment_ai",
    "secondment_geiq",
    "siae_subcontracting",
    "training",
]


class ClauseLotSummary(BaseModel):
    """A lot as announced with its market (not an event type of its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lot_id: UUID
    number: int = Field(ge=1)
    contractor_siret: str = Field(pattern=r"^\d{14}$")
    required_hours: Decimal = Field(ge=0)
    start_date: date
    end_date: date


class ClauseMarketCreatedV1(EventData):
    """A market (operation) with a social clause was registered, with its lots."""

    ce_type: ClassVar[str] = "fr.tremplin.clauses.market.created.v1"
    topic: ClassVar[str] = CLAUSES_TOPIC
    aggregate: ClassVar[str] = "market_id"

    market_id: UUID
    reference: str
    buyer_siret: str = Field(pattern=r"^\d{14}$")
    buyer_kind: Literal["public", "private"]
    lots: list[ClauseLotSummary]
    created_at: datetime


class ClausePlacementCreatedV1(EventData):
    """A participant was placed on a lot (by a user, or by itself from a hire on an offer of the lot)."""

    ce_type: ClassVar[str] = "fr.tremplin.clauses.placement.created.v1"
    topic: ClassVar[str] = CLAUSES_TOPIC
    aggregate: ClassVar[str] = "placement_id"

    placement_id: UUID
    lot_id: UUID
    market_id: UUID
    participant_id: UUID
    mode: FulfilmentMode
    contract_type: ContractType
    start_date: date
    eligible: bool | None = Field(
        description="Clause-eligible at the placement's start date, from the flags in force then; null: not known"
    )
    overridden: bool = Field(description="Placed on a facilitator's override reason")
    application_id: UUID | None = Field(default=None, description="The matching application, for a hire")


class ClauseHoursValidatedV1(EventData):
    """A facilitator validated an hours entry: these hours now count for the lot."""

    ce_type: ClassVar[str] = "fr.tremplin.clauses.hours.validated.v1"
    topic: ClassVar[str] = CLAUSES_TOPIC
    aggregate: ClassVar[str] = "lot_id"

    hours_id: UUID
    lot_id: UUID
    market_id: UUID
    participant_id: UUID
    month: date = Field(description="The first day of the month the hours were worked in")
    hours: Decimal = Field(gt=0)
    validated_at: datetime


class ClauseLotCompletedV1(EventData):
    """A lot's validated hours reached its required hours (emitted once)."""

    ce_type: ClassVar[str] = "fr.tremplin.clauses.lot.completed.v1"
    topic: ClassVar[str] = CLAUSES_TOPIC
    aggregate: ClassVar[str] = "lot_id"

    lot_id: UUID
    market_id: UUID
    required_hours: Decimal
    validated_hours: Decimal
    completed_at: datetime
