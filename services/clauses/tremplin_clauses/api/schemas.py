"""Request and response bodies of the clauses routes."""

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator
from stdnum.fr import siret as stdnum_siret

from tremplin_shared.events.contracts import ContractType

from ..domain.hours import MONTHLY_CAP, FulfilmentMode, HoursStatus


def check_siret(value: str | None) -> str | None:
    """14 digits with a valid Luhn key (python-stdnum); spaces and dots are dropped."""
    if value is None:
        return None
    compact = stdnum_siret.compact(value)
    if not stdnum_siret.is_valid(compact):
        raise ValueError("not a valid SIRET (14 digits with a valid check digit)")
    return compact


def parse_month(value: object) -> object:
    """ "2026-03" (or any day of the month, "2026-03-15") → date(2026, 3, 1)."""
    if isinstance(value, date):
        return value.replace(day=1)
    if isinstance(value, str):
        text = value.strip()
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
            text = f"{m[1]}-{int(m[2]):02d}-01"
        elif m := re.fullmatch(r"(\d{1,2})/(\d{4})", text):  # 03/2026, as spreadsheets write it
            text = f"{m[2]}-{int(m[1]):02d}-01"
        try:
            return date.fromisoformat(text).replace(day=1)
        except ValueError:
            raise ValueError("a month as YYYY-MM") from None
    return value


Month = Annotated[
    date,
    BeforeValidator(parse_month),
    PlainSerializer(lambda d: f"{d:%Y-%m}", return_type=str),
    Field(description="YYYY-MM", examples=["2026-03"]),
]
Hours = Annotated[Decimal, Field(gt=0, le=MONTHLY_CAP, max_digits=5, decimal_places=2, examples=["151.67"])]
RequiredHours = Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=2, examples=["2500"])]


def no_nul(value: str) -> str:
    """PostgreSQL text holds no NUL character: refuse it as bad input (422), not a database error."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


Text = Annotated[str, AfterValidator(no_nul)]
Text300 = Annotated[Text, Field(min_length=1, max_length=300)]
BuyerKind = Literal["public", "private"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Organisation(_In):
    name: Text300
    siret: str = Field(description="14 digits, checked with python-stdnum", examples=["22410001600019"])

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        return check_siret(value)


class Buyer(Organisation):
    kind: BuyerKind = Field(description="A public buyer (collectivité, État, bailleur social…) or a private one")


class LotIn(_In):
    number: int = Field(ge=1, le=10_000)
    title: Text300
    contractor: Organisation = Field(description="The company that won the lot (attributaire)")
    required_hours: RequiredHours = Field(description="Insertion hours the contractor owes over the period")
    start_date: date
    end_date: date


class MarketIn(_In):
    reference: Text = Field(min_length=1, max_length=100, examples=["CD41-2026-017"])
    title: Text300
    legal_basis: Text | None = Field(
        default=None, max_length=500, examples=["article L2112-2 du code de la commande publique"]
    )
    buyer: Buyer
    lots: list[LotIn] = Field(min_length=1, max_length=200)


class BuyerPatch(_In):
    name: Text300 | None = None
    siret: str | None = None
    kind: BuyerKind | None = None

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str | None) -> str | None:
        return check_siret(value)


class MarketPatch(_In):
    """Only the fields sent change; lots change through PATCH /lots/{id}."""

    reference: Text | None = Field(default=None, min_length=1, max_length=100)
    title: Text300 | None = None
    legal_basis: Text | None = Field(default=None, max_length=500)
    buyer: BuyerPatch | None = None


class ContractorPatch(_In):
    name: Text300 | None = None
    siret: str | None = None

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str | None) -> str | None:
        return check_siret(value)


class LotPatch(_In):
    title: Text300 | None = None
    contractor: ContractorPatch | None = None
    required_hours: RequiredHours | None = None
    start_date: date | None = None
    end_date: date | None = None


class OrganisationOut(BaseModel):
    name: str
    siret: str


class BuyerOut(OrganisationOut):
    kind: BuyerKind


class LotOut(BaseModel):
    id: uuid.UUID
    number: int
    title: str
    contractor: OrganisationOut
    required_hours: Decimal
    start_date: date
    end_date: date
    completed_at: datetime | None


class MarketOut(BaseModel):
    id: uuid.UUID
    reference: str
    title: str
    legal_basis: str | None
    buyer: BuyerOut
    lots: list[LotOut]
    created_at: datetime
    updated_at: datetime


class MarketList(BaseModel):
    items: list[MarketOut]


class CalculatorIn(_In):
    amount_excl_tax: Decimal = Field(gt=0, max_digits=14, decimal_places=2, description="€ excl. tax")
    labour_share: Decimal = Field(gt=0, le=1, description="Share of labour in the amount, e.g. 0.40")
    hourly_labour_cost: Decimal = Field(gt=0, max_digits=8, decimal_places=2, description="€ per hour, e.g. 30")
    clause_rate: Decimal = Field(gt=0, le=1, description="Share of the labour hours reserved, e.g. 0.07")


class CalculatorOut(BaseModel):
    amount_excl_tax: Decimal
    labour_share: Decimal
    hourly_labour_cost: Decimal
    clause_rate: Decimal
    exact_hours: Decimal = Field(description="Before rounding, to the hundredth")
    required_hours: int = Field(description="Rounded half-up to the hour")
    formula: str


class PlacementIn(_In):
    participant_id: uuid.UUID
    mode: FulfilmentMode
    contract_type: ContractType
    start_date: date
    override_reason: Text | None = Field(
        default=None, max_length=2000, description="A facilitator's reason to place a participant not known as eligible"
    )


class PlacementOut(BaseModel):
    id: uuid.UUID
    lot_id: uuid.UUID
    participant_id: uuid.UUID
    mode: FulfilmentMode
    contract_type: str
    start_date: date
    eligible: bool | None = Field(
        description="Clause-eligible at the placement's start: the flags computed on the latest date on or before "
        "`start_date` (the earliest known computation when the start precedes them all); for a placement a hire "
        "created, kept up to date as flags arrive. null: no flags known"
    )
    eligibility_computed_on: date | None = Field(
        default=None, description="The date of the flags computation `eligible` comes from; null: none known"
    )
    override_reason: str | None
    override_by: str | None
    source: Literal["api", "hire", "import"]
    application_id: uuid.UUID | None
    created_at: datetime


class PlacementList(BaseModel):
    items: list[PlacementOut]


class OverrideIn(_In):
    reason: Text = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value.strip()


class HoursIn(_In):
    participant_id: uuid.UUID
    month: Month
    hours: Hours
    mode: FulfilmentMode | None = Field(
        default=None, description="This month's fulfilment mode; the placement's if absent"
    )
    contract_type: ContractType | None = Field(
        default=None, description="This month's contract type; the placement's if absent"
    )


class RejectIn(_In):
    reason: Text = Field(min_length=1, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value.strip()


class HoursOut(BaseModel):
    id: uuid.UUID
    lot_id: uuid.UUID
    placement_id: uuid.UUID
    participant_id: uuid.UUID
    month: Month
    hours: Decimal
    mode: FulfilmentMode
    contract_type: str
    status: HoursStatus
    allowed: list[HoursStatus] = Field(description="The statuses it may go to next")
    declared_by: str | None
    declared_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class HoursList(BaseModel):
    items: list[HoursOut]


class ProgressOut(BaseModel):
    required: Decimal
    validated: Decimal
    declared_pending: Decimal
    expected: Decimal = Field(description="required × elapsed share of the period")
    rate: Decimal = Field(description="validated ÷ required")
    behind: bool = Field(description="validated < 80 % of expected")


class LotProgressOut(ProgressOut):
    lot_id: uuid.UUID
    number: int
    title: str
    start_date: date
    end_date: date
    elapsed_share: Decimal


class MarketProgressOut(BaseModel):
    market_id: uuid.UUID
    on: date
    lots: list[LotProgressOut]
    total: ProgressOut
