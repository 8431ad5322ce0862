"""Request and response bodies of the funding routes. Amounts are Decimal: decimal strings in JSON
(a number is accepted on input), at most two decimals."""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.fr import siret as stdnum_siret

from tremplin_shared.calendar import today_in_france

from ..domain.aids import AidPaymentStatus
from ..domain.cde import CDE_RATE_MAX, CDE_RATE_MIN, MAX_WEEKLY_HOURS
from ..domain.disbursements import DisbursementStatus
from ..domain.money import shares_sum_to_100

Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, examples=["1678.57"])]
SignedAmount = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]
PeriodText = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=140, strip_whitespace=True)]
FundKind = Literal["etcld_cde", "fse_plie", "departement", "other"]
ConventionKind = Literal["cde", "operation", "individual_aid"]
LedgerKind = Literal["committed", "released", "paid", "aid_paid", "offset"]


def check_siret(value: str) -> str:
    compact = stdnum_siret.compact(value)
    if not stdnum_siret.is_valid(compact):
        raise ValueError("not a valid SIRET (14 digits with a valid check digit)")
    return compact


def check_iban(value: str) -> str:
    try:
        return IBAN(value).compact
    except SchwiftyException as exc:
        raise ValueError(f"not a valid IBAN: {exc}") from None


def check_bic(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(BIC(value))
    except SchwiftyException as exc:
        raise ValueError(f"not a valid BIC: {exc}") from None


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------------ funds
class Payer(_In):
    """The account the fund pays from: the debtor of its SEPA transfers."""

    name: Name
    iban: str = Field(description="Checked with schwifty", examples=["FR7630004000000001234567845"])
    bic: str | None = None

    _iban = field_validator("iban")(classmethod(lambda cls, v: check_iban(v)))
    _bic = field_validator("bic")(classmethod(lambda cls, v: check_bic(v)))


class FunderIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
    share: Decimal = Field(gt=0, le=100, max_digits=5, decimal_places=2, description="Percent")


class EnvelopeIn(_In):
    year: int = Field(ge=2000, le=2100)
    amount: Amount


class FundIn(_In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
    kind: FundKind
    payer: Payer
    funders: list[FunderIn] = Field(min_length=1, max_length=50, description="Shares must sum to 100 %")
    envelopes: list[EnvelopeIn] = Field(default_factory=list, max_length=50)

    @field_validator("funders")
    @classmethod
    def _shares(cls, funders: list[FunderIn]) -> list[FunderIn]:
        if not shares_sum_to_100([f.share for f in funders]):
            raise ValueError(f"the funders' shares must sum to 100 % (they sum to {sum(f.share for f in funders)})")
        return funders

    @field_validator("envelopes")
    @classmethod
    def _one_per_year(cls, envelopes: list[EnvelopeIn]) -> list[EnvelopeIn]:
        if len({e.year for e in envelopes}) != len(envelopes):
            raise ValueError("one envelope per year")
        return envelopes


class EnvelopeAmount(_In):
    amount: Amount


class FunderOut(BaseModel):
    id: uuid.UUID
    name: str
    share: Decimal


class EnvelopeOut(BaseModel):
    year: int
    amount: Decimal


class PayerOut(BaseModel):
    name: str
    iban: str
    bic: str | None


class FundOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: FundKind
    payer: PayerOut
    funders: list[FunderOut]
    envelopes: list[EnvelopeOut]
    created_at: datetime


class FundList(BaseModel):
    items: list[FundOut]


class FunderBudget(BaseModel):
    funder_id: uuid.UUID
    name: str
    share: Decimal
    envelope: Decimal
    committed: Decimal
    paid: Decimal
    remaining: Decimal


class YearBudget(BaseModel):
    year: int
    envelope: Decimal
    committed: Decimal = Field(description="Prepared, approved or paid disbursements and aid payments")
    paid: Decimal
    remaining: Decimal = Field(description="envelope − committed")
    funders: list[FunderBudget]


class BudgetOut(BaseModel):
    fund_id: uuid.UUID
    years: list[YearBudget]


# ------------------------------------------------------------------------------------------ conventions
class Beneficiary(_In):
    name: Name
    siret: str = Field(description="14 digits, checked with python-stdnum", examples=["73282932000074"])
    iban: str = Field(description="Checked with schwifty")

    _siret = field_validator("siret")(classmethod(lambda cls, v: check_siret(v)))
    _iban = field_validator("iban")(classmethod(lambda cls, v: check_iban(v)))


class ConventionPeriod(_In):
    start: date
    end: date | None = None


class ConventionIn(_In):
    fund_id: uuid.UUID
    kind: ConventionKind
    beneficiary: Beneficiary
    period: ConventionPeriod
    cde_rate: Decimal | None = Field(
        default=None, ge=CDE_RATE_MIN, le=CDE_RATE_MAX, max_digits=4, decimal_places=2,
        description=f"Required for kind cde, in [{CDE_RATE_MIN}, {CDE_RATE_MAX}]",
    )  # fmt: skip


class ConventionOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    kind: ConventionKind
    beneficiary: Beneficiary
    period: ConventionPeriod
    cde_rate: Decimal | None
    created_at: datetime
    outstanding: Decimal = Field(
        description="What the beneficiary still owes back (<= 0): its approved negative adjustments not yet "
        "deducted from a payment of a batch"
    )


class ConventionList(BaseModel):
    items: list[ConventionOut]


class OffsetOut(BaseModel):
    """What a payment batch deducted of a negative adjustment from a payment of the same convention."""

    id: int
    batch_id: uuid.UUID
    convention_id: uuid.UUID
    disbursement_id: uuid.UUID = Field(description="The negative adjustment deducted")
    absorbed_by: uuid.UUID = Field(description="The payment (a positive disbursement of the batch) it came off")
    amount: Decimal = Field(description="How much (> 0)")
    created_at: datetime
    created_by: str


class NegativeAdjustmentOut(BaseModel):
    disbursement_id: uuid.UUID
    period: str
    total: Decimal = Field(description="The adjustment's total (< 0)")
    absorbed: Decimal = Field(description="Deducted from payments so far (>= 0)")
    outstanding: Decimal = Field(description="total + absorbed (<= 0): left for the next batch")
    offsets: list[OffsetOut]


class OutstandingOut(BaseModel):
    convention_id: uuid.UUID
    outstanding: Decimal = Field(description="Σ outstanding of the approved negative adjustments (<= 0)")
    items: list[NegativeAdjustmentOut]


WeeklyHours = Annotated[Decimal, Field(gt=0, le=MAX_WEEKLY_HOURS, max_digits=4, decimal_places=2)]


class WorkerIn(_In):
    participant_id: uuid.UUID
    weekly_hours: WeeklyHours
    start_date: date
    end_date: date | None = None


class WorkerPatch(_In):
    weekly_hours: WeeklyHours | None = None
    end_date: date | None = None


class HoursIn(_In):
    weekly_hours: WeeklyHours
    valid_from: date = Field(description="The first day the hours are in force; not before the worker's start")


class HoursOut(BaseModel):
    valid_from: date
    weekly_hours: Decimal


class WorkerOut(BaseModel):
    id: uuid.UUID
    convention_id: uuid.UUID
    participant_id: uuid.UUID
    weekly_hours: Decimal = Field(description="The hours of the latest change (each with its day in `hours`)")
    hours: list[HoursOut] = Field(description="The dated history: each value in force from valid_from")
    start_date: date
    end_date: date | None
    source: str = Field(description="api, or placement.hired when a hire added the worker")
    application_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class WorkerList(BaseModel):
    items: list[WorkerOut]


# ------------------------------------------------------------------------------------------------- SMIC
class SmicIn(_In):
    hourly: Decimal = Field(gt=0, max_digits=6, decimal_places=2, examples=["11.88"])


class SmicOut(BaseModel):
    valid_from: date
    hourly: Decimal
    source: Literal["shipped", "territory"]


class SmicList(BaseModel):
    items: list[SmicOut]


# ---------------------------------------------------------------------------------------- runs, money
class RunIn(_In):
    period: PeriodText = Field(examples=["2024-11"])


class PartOut(BaseModel):
    funder_id: uuid.UUID
    funder: str
    amount: Decimal


class LineOut(BaseModel):
    worker_id: uuid.UUID
    participant_id: uuid.UUID
    kind: Literal["cde", "adjustment"]
    amount: Decimal
    expected: Decimal = Field(description="The worker's CDE for the period as computed by this run")
    days_present: int
    weekly_hours: Decimal = Field(description="The hours in force on the last day present")
    cde_rate: Decimal
    smic: list[tuple[Decimal, int]] = Field(description="[SMIC hourly rate, days] the amount is computed from")
    hours: list[tuple[Decimal, int]] = Field(description="[weekly hours, days] the amount is computed from")


class TransitionOut(BaseModel):
    from_status: DisbursementStatus | None
    to_status: DisbursementStatus
    actor: str
    at: datetime
    reason: str | None


class DisbursementOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    convention_id: uuid.UUID
    run_id: uuid.UUID
    period: str
    kind: Literal["cde", "adjustment"]
    total: Decimal
    status: DisbursementStatus
    allowed: list[DisbursementStatus]
    prepared_by: str
    prepared_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    batch_id: uuid.UUID | None
    paid_at: datetime | None
    parts: list[PartOut]
    lines: list[LineOut]
    transitions: list[TransitionOut]


class DisbursementList(BaseModel):
    items: list[DisbursementOut]
    total: Decimal = Field(description="Sum of the listed disbursements")


class RunOut(BaseModel):
    period: str
    run_id: uuid.UUID | None = Field(description="null when the run created nothing (nothing changed)")
    created: list[DisbursementOut]


class DecisionIn(_In):
    reason: str | None = Field(default=None, max_length=2000)


MAX_EXECUTION_DAYS_AHEAD = 365  # banks take a requested execution date up to about a year ahead


class BatchIn(_In):
    disbursement_ids: list[uuid.UUID] = Field(min_length=1, max_length=5000)
    execution_date: date | None = Field(
        default=None,
        description="Requested execution date, today (in France) or up to a year later; today if absent",
    )

    @field_validator("execution_date")
    @classmethod
    def _not_past(cls, value: date | None) -> date | None:
        # a transfer file asking for a day already gone is refused or re-dated by the bank
        today = today_in_france()
        if value is not None and not today <= value <= today + timedelta(days=MAX_EXECUTION_DAYS_AHEAD):
            raise ValueError(f"must be from today ({today}) to {MAX_EXECUTION_DAYS_AHEAD} days later")
        return value


class BatchOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    status: Literal["created", "paid"]
    total: Decimal = Field(description="Σ of the transfers (the control sum): the payments less the offsets")
    transactions: int = Field(description="Credit transfers: a payment netted to zero has none")
    execution_date: date
    message_id: str
    disbursement_ids: list[uuid.UUID]
    offsets: list[OffsetOut] = Field(description="The negative adjustments deducted from the batch's payments")
    created_by: str
    created_at: datetime
    paid_by: str | None
    paid_at: datetime | None


class BatchList(BaseModel):
    items: list[BatchOut]


# -------------------------------------------------------------------------------------------------- aids
class AidSchemeIn(_In):
    fund_id: uuid.UUID
    name: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
    monthly_amount: Amount = Field(gt=0)
    max_months: int = Field(ge=1, le=120)


class AidSchemeOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    name: str
    monthly_amount: Decimal
    max_months: int
    created_at: datetime


class AidSchemeList(BaseModel):
    items: list[AidSchemeOut]


class AidBeneficiaryIn(_In):
    participant_id: uuid.UUID


class AidPaymentIn(_In):
    month: PeriodText


class AidPaymentOut(BaseModel):
    id: uuid.UUID
    beneficiary_id: uuid.UUID
    month: str
    amount: Decimal
    status: AidPaymentStatus
    allowed: list[AidPaymentStatus] = Field(description="The statuses it may go to next")
    prepared_by: str
    prepared_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    paid_at: datetime | None
    paid_by: str | None


class AidPaymentList(BaseModel):
    items: list[AidPaymentOut]
    months_left: int


class AidBeneficiaryOut(BaseModel):
    id: uuid.UUID
    scheme_id: uuid.UUID
    participant_id: uuid.UUID
    created_at: datetime
    payments: list[AidPaymentOut]
    months_left: int


class AidBeneficiaryList(BaseModel):
    items: list[AidBeneficiaryOut]


# ------------------------------------------------------------------------------------------------ ledger
class LedgerRow(BaseModel):
    id: int
    at: datetime
    kind: LedgerKind
    fund_id: uuid.UUID
    funder_id: uuid.UUID
    year: int
    period: str
    amount: SignedAmount
    convention_id: uuid.UUID | None
    disbursement_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    aid_payment_id: uuid.UUID | None
    absorbed_by: uuid.UUID | None = Field(description="offset rows: the payment the adjustment was deducted from")
    actor: str


class LedgerPage(BaseModel):
    items: list[LedgerRow]
    total: Decimal = Field(description="Sum of the amounts of this page")
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page")
