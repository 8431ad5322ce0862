"""Event contracts of the funding service (topic `funding.events`). See contracts.py for the rules.

Amounts are Decimal (decimal strings in JSON), to the cent. No names, no IBAN: ids and amounts.
"""

from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .contracts import FUNDING_TOPIC, EventData

Period = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")


class FunderPart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    funder_id: UUID
    amount: Decimal = Field(decimal_places=2)


class DisbursementPreparedV1(EventData):
    """A monthly run prepared a disbursement (the CDE of one convention for a month, or an adjustment)."""

    ce_type: ClassVar[str] = "fr.tremplin.funding.disbursement.prepared.v1"
    topic: ClassVar[str] = FUNDING_TOPIC
    aggregate: ClassVar[str] = "disbursement_id"

    disbursement_id: UUID
    fund_id: UUID
    convention_id: UUID
    period: str = Period
    kind: Literal["cde", "adjustment"]
    total: Decimal = Field(decimal_places=2)
    parts: list[FunderPart]
    prepared_at: datetime


class DisbursementApprovedV1(EventData):
    ce_type: ClassVar[str] = "fr.tremplin.funding.disbursement.approved.v1"
    topic: ClassVar[str] = FUNDING_TOPIC
    aggregate: ClassVar[str] = "disbursement_id"

    disbursement_id: UUID
    fund_id: UUID
    convention_id: UUID
    period: str = Period
    total: Decimal = Field(decimal_places=2)
    approved_at: datetime


class DisbursementPaidV1(EventData):
    """The payment batch holding the disbursement was marked paid (the SEPA transfer went through)."""

    ce_type: ClassVar[str] = "fr.tremplin.funding.disbursement.paid.v1"
    topic: ClassVar[str] = FUNDING_TOPIC
    aggregate: ClassVar[str] = "disbursement_id"

    disbursement_id: UUID
    fund_id: UUID
    convention_id: UUID
    batch_id: UUID
    period: str = Period
    total: Decimal = Field(decimal_places=2)  # the disbursement's amount
    paid_at: datetime
    # Overpayments of the convention netted off it in this batch (its offsets), and what its credit
    # transfer paid: total − deducted (0.00 for a payment wholly absorbed). Optional fields, so v1
    # events written before they existed still read (deducted 0.00, transferred unknown).
    deducted: Decimal = Field(default=Decimal("0.00"), decimal_places=2, ge=0)
    transferred: Decimal | None = Field(default=None, decimal_places=2, ge=0)


class BudgetBlockedV1(EventData):
    """A disbursement would have exceeded its fund's envelope for the year: it is blocked_budget."""

    ce_type: ClassVar[str] = "fr.tremplin.funding.budget.blocked.v1"
    topic: ClassVar[str] = FUNDING_TOPIC
    aggregate: ClassVar[str] = "fund_id"

    fund_id: UUID
    disbursement_id: UUID
    convention_id: UUID
    year: int
    period: str = Period
    total: Decimal = Field(decimal_places=2)
    envelope: Decimal = Field(decimal_places=2)
    committed: Decimal = Field(decimal_places=2, description="Committed on the envelope before this one")
    blocked_at: datetime
