"""The funding routes, all under /api/v1/funding. Thin: parse, check the role, call the service layer.

Roles (the same as the gateway's permission table): reads need fund_manager, funder, viewer, referent or
facilitator; writes need fund_manager; approve/reject need funder (and another person than the
preparer). admin passes every role check, never the four-eyes rule.
"""

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from tremplin_shared.identity import Identity
from tremplin_shared.service import CurrentIdentity, DbSession, require_roles

from .. import service_layer as svc
from ..adapters.projection import count_known
from ..domain.disbursements import DisbursementStatus
from .schemas import (
    AidBeneficiaryIn,
    AidBeneficiaryList,
    AidBeneficiaryOut,
    AidPaymentIn,
    AidPaymentList,
    AidPaymentOut,
    AidSchemeIn,
    AidSchemeList,
    AidSchemeOut,
    BatchIn,
    BatchList,
    BatchOut,
    BudgetOut,
    ConventionIn,
    ConventionKind,
    ConventionList,
    ConventionOut,
    DecisionIn,
    DisbursementList,
    DisbursementOut,
    EnvelopeAmount,
    FundIn,
    FundList,
    FundOut,
    HoursIn,
    LedgerKind,
    LedgerPage,
    OutstandingOut,
    PeriodText,
    RunIn,
    RunOut,
    SmicIn,
    SmicList,
    WorkerIn,
    WorkerList,
    WorkerOut,
    WorkerPatch,
)

router = APIRouter(prefix="/api/v1/funding", tags=["funding"])

Reader = Annotated[Identity, Depends(require_roles("fund_manager", "funder", "viewer", "referent", "facilitator"))]
Manager = Annotated[Identity, Depends(require_roles("fund_manager"))]
Funder = Annotated[Identity, Depends(require_roles("funder"))]
Year = Annotated[int, Path(ge=2000, le=2100)]


class Overview(BaseModel):
    tenant: str
    known_participants: int


@router.get("/overview", response_model=Overview)
async def overview(identity: CurrentIdentity, session: DbSession):
    """What this service holds for the caller's territory so far."""
    return Overview(tenant=identity.tenant, known_participants=await count_known(session, identity.tenant))


# ------------------------------------------------------------------------------------------------ funds
@router.post(
    "/funds",
    response_model=FundOut,
    status_code=201,
    description="A fund with its funders (shares summing to 100 %, else 422) and yearly envelopes.",
)
async def create_fund(body: FundIn, identity: Manager, session: DbSession):
    return await svc.create_fund(session, identity, body)


@router.get("/funds", response_model=FundList)
async def list_funds(identity: Reader, session: DbSession):
    return {"items": await svc.list_funds(session, identity)}


@router.get("/funds/{fund_id}", response_model=FundOut)
async def read_fund(fund_id: uuid.UUID, identity: Reader, session: DbSession):
    return await svc.get_fund(session, identity, fund_id)


@router.put("/funds/{fund_id}/envelopes/{year}", response_model=FundOut)
async def set_envelope(fund_id: uuid.UUID, year: Year, body: EnvelopeAmount, identity: Manager, session: DbSession):
    """Set (or create) the fund's budget envelope for a year."""
    return await svc.set_envelope(session, identity, fund_id, year, body.amount)


@router.get("/funds/{fund_id}/budget", response_model=BudgetOut)
async def fund_budget(
    fund_id: uuid.UUID,
    identity: Reader,
    session: DbSession,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
):
    """Envelope, committed, paid and remaining per year, and per funder (the envelope split by share)."""
    return await svc.fund_budget(session, identity, fund_id, year)


# ------------------------------------------------------------------------------------------ conventions
@router.post("/conventions", response_model=ConventionOut, status_code=201)
async def create_convention(body: ConventionIn, identity: Manager, session: DbSession):
    return await svc.create_convention(session, identity, body)


@router.get("/conventions", response_model=ConventionList)
async def list_conventions(
    identity: Reader,
    session: DbSession,
    fund_id: uuid.UUID | None = None,
    siret: Annotated[str | None, Query(pattern=r"^\d{14}$")] = None,
    kind: ConventionKind | None = None,
):
    return {"items": await svc.list_conventions(session, identity, fund_id, siret, kind)}


@router.get("/conventions/{convention_id}", response_model=ConventionOut)
async def read_convention(convention_id: uuid.UUID, identity: Reader, session: DbSession):
    return await svc.get_convention(session, identity, convention_id)


@router.get("/conventions/{convention_id}/outstanding", response_model=OutstandingOut)
async def convention_outstanding(convention_id: uuid.UUID, identity: Reader, session: DbSession):
    """The approved negative adjustments of the convention, what batches deducted of each and what is left
    (deducted from the convention's next payments)."""
    return await svc.convention_outstanding(session, identity, convention_id)


@router.post("/conventions/{convention_id}/workers", response_model=WorkerOut, status_code=201)
async def add_worker(convention_id: uuid.UUID, body: WorkerIn, identity: Manager, session: DbSession):
    """An EBE worker on a CDE convention (weekly hours at most 35)."""
    return await svc.add_worker(session, identity, convention_id, body)


@router.get("/conventions/{convention_id}/workers", response_model=WorkerList)
async def list_workers(convention_id: uuid.UUID, identity: Reader, session: DbSession):
    return {"items": await svc.list_workers(session, identity, convention_id)}


@router.patch("/conventions/{convention_id}/workers/{worker_id}", response_model=WorkerOut)
async def patch_worker(
    convention_id: uuid.UUID, worker_id: uuid.UUID, body: WorkerPatch, identity: Manager, session: DbSession
):
    """Change the end date, or correct the weekly hours from the start (until the next dated change: POST
    …/hours); a month already run gets an adjustment at its next run."""
    return await svc.patch_worker(session, identity, convention_id, worker_id, body)


@router.post("/conventions/{convention_id}/workers/{worker_id}/hours", response_model=WorkerOut, status_code=201)
async def record_hours(
    convention_id: uuid.UUID, worker_id: uuid.UUID, body: HoursIn, identity: Manager, session: DbSession
):
    """A change of the worker's weekly hours from a day (not before the worker's start, else 422); the same
    day again corrects it. Runs use the hours in force on each day; a month already run gets an
    adjustment at its next run."""
    return await svc.record_hours(session, identity, convention_id, worker_id, body)


@router.delete("/conventions/{convention_id}/workers/{worker_id}/hours/{valid_from}", response_model=WorkerOut)
async def remove_hours(
    convention_id: uuid.UUID, worker_id: uuid.UUID, valid_from: date, identity: Manager, session: DbSession
):
    """Withdraw the change of weekly hours from `valid_from` (recorded by mistake): the hours before it go on.
    404 if there is none; 409 for the worker's start (PATCH its weekly_hours instead). A month already run
    gets an adjustment at its next run."""
    return await svc.remove_hours(session, identity, convention_id, worker_id, valid_from)


# ------------------------------------------------------------------------------------------------- SMIC
@router.get("/smic-rates", response_model=SmicList)
async def list_smic(identity: Reader, session: DbSession):
    """The SMIC hourly rates in force for the territory: the shipped values and the territory's own."""
    return {"items": await svc.list_smic(session, identity)}


@router.put("/smic-rates/{valid_from}", response_model=SmicList)
async def set_smic(valid_from: date, body: SmicIn, identity: Manager, session: DbSession):
    """Add or correct the SMIC hourly rate in force from a day (for this territory)."""
    return {"items": await svc.set_smic(session, identity, valid_from, body.hourly)}


# ------------------------------------------------------------------------------------------------- runs
@router.post(
    "/runs",
    response_model=RunOut,
    responses={200: {"model": RunOut, "description": "Nothing changed since the last run: nothing created"}},
    status_code=201,
    description=(
        "The monthly CDE run: one disbursement per CDE convention, split across its funders by largest "
        "remainder. Again on the same period: nothing is created (200) unless inputs changed, which creates "
        "adjustment lines. A disbursement exceeding the fund's envelope for the year is blocked_budget."
    ),
)
async def run(body: RunIn, identity: Manager, session: DbSession, response: Response):
    result = await svc.run_period(session, identity, body)
    if result["run_id"] is None:
        response.status_code = 200
    return result


@router.get("/disbursements", response_model=DisbursementList)
async def list_disbursements(
    identity: Reader,
    session: DbSession,
    period: PeriodText | None = None,
    status: DisbursementStatus | None = None,
    fund_id: uuid.UUID | None = None,
    convention_id: uuid.UUID | None = None,
    lines: Annotated[bool, Query(description="false: without the per-worker lines (read them one by one)")] = True,
):
    items = await svc.list_disbursements(
        session, identity, with_lines=lines, period=period, status=status, fund_id=fund_id,
        convention_id=convention_id,
    )  # fmt: skip
    return {"items": items, "total": sum((d["total"] for d in items), svc.ZERO)}


@router.get("/disbursements/{disbursement_id}", response_model=DisbursementOut)
async def read_disbursement(disbursement_id: uuid.UUID, identity: Reader, session: DbSession):
    return await svc.get_disbursement(session, identity, disbursement_id)


@router.post(
    "/disbursements/{disbursement_id}/approve",
    response_model=DisbursementOut,
    description="prepared → approved, by a funder who did not prepare it (403 otherwise).",
)
async def approve(disbursement_id: uuid.UUID, identity: Funder, session: DbSession, body: DecisionIn | None = None):
    result = await svc.decide(session, identity, disbursement_id, "approved", body.reason if body else None)
    return result


@router.post(
    "/disbursements/{disbursement_id}/reject",
    response_model=DisbursementOut,
    description="prepared or blocked_budget → rejected, by a funder who did not prepare it.",
)
async def reject(disbursement_id: uuid.UUID, identity: Funder, session: DbSession, body: DecisionIn | None = None):
    return await svc.decide(session, identity, disbursement_id, "rejected", body.reason if body else None)


# --------------------------------------------------------------------------------------------- batches
@router.post(
    "/payment-batches",
    response_model=BatchOut,
    status_code=201,
    description="Gathers approved disbursements of one fund into a SEPA credit-transfer file (pain.001).",
)
async def create_batch(body: BatchIn, identity: Manager, session: DbSession):
    return await svc.create_batch(session, identity, body)


@router.get("/payment-batches", response_model=BatchList)
async def list_batches(identity: Reader, session: DbSession):
    return {"items": await svc.list_batches(session, identity)}


@router.get("/payment-batches/{batch_id}", response_model=BatchOut)
async def read_batch(batch_id: uuid.UUID, identity: Reader, session: DbSession):
    return await svc.get_batch(session, identity, batch_id)


@router.get(
    "/payment-batches/{batch_id}/sepa.xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "pain.001.001.03"}},
)
async def sepa_xml(batch_id: uuid.UUID, identity: Reader, session: DbSession):
    batch, xml = await svc.batch_xml(session, identity, batch_id)
    return Response(
        xml,
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch["id"]}.xml"'},
    )


@router.post(
    "/payment-batches/{batch_id}/paid",
    response_model=BatchOut,
    description="The bank executed the transfer: the batch and its disbursements are paid.",
)
async def mark_paid(batch_id: uuid.UUID, identity: Manager, session: DbSession):
    result = await svc.mark_batch_paid(session, identity, batch_id)
    return result


# ------------------------------------------------------------------------------------------------ aids
@router.post("/aid-schemes", response_model=AidSchemeOut, status_code=201)
async def create_scheme(body: AidSchemeIn, identity: Manager, session: DbSession):
    return await svc.create_scheme(session, identity, body)


@router.get("/aid-schemes", response_model=AidSchemeList)
async def list_schemes(identity: Reader, session: DbSession):
    return {"items": await svc.list_schemes(session, identity)}


@router.get("/aid-schemes/{scheme_id}", response_model=AidSchemeOut)
async def read_scheme(scheme_id: uuid.UUID, identity: Reader, session: DbSession):
    return await svc.get_scheme(session, identity, scheme_id)


@router.post("/aid-schemes/{scheme_id}/beneficiaries", response_model=AidBeneficiaryOut, status_code=201)
async def add_beneficiary(scheme_id: uuid.UUID, body: AidBeneficiaryIn, identity: Manager, session: DbSession):
    return await svc.add_beneficiary(session, identity, scheme_id, body)


@router.get("/aid-schemes/{scheme_id}/beneficiaries", response_model=AidBeneficiaryList)
async def list_beneficiaries(scheme_id: uuid.UUID, identity: Reader, session: DbSession):
    return {"items": await svc.list_beneficiaries(session, identity, scheme_id)}


@router.get("/aid-schemes/{scheme_id}/beneficiaries/{beneficiary_id}", response_model=AidBeneficiaryOut)
async def read_beneficiary(scheme_id: uuid.UUID, beneficiary_id: uuid.UUID, identity: Reader, session: DbSession):
    return await svc.get_beneficiary(session, identity, scheme_id, beneficiary_id)


@router.get("/aid-schemes/{scheme_id}/beneficiaries/{beneficiary_id}/payments", response_model=AidPaymentList)
async def list_aid_payments(scheme_id: uuid.UUID, beneficiary_id: uuid.UUID, identity: Reader, session: DbSession):
    beneficiary = await svc.get_beneficiary(session, identity, scheme_id, beneficiary_id)
    return {"items": beneficiary["payments"], "months_left": beneficiary["months_left"]}


@router.post(
    "/aid-schemes/{scheme_id}/beneficiaries/{beneficiary_id}/payments",
    response_model=AidBeneficiaryOut,
    status_code=201,
    description="One monthly payment, `prepared` (committed against the envelope); past the scheme's max months, "
    "a month already prepared or paid, or beyond the envelope it is 409.",
)
async def prepare_aid_payment(
    scheme_id: uuid.UUID, beneficiary_id: uuid.UUID, body: AidPaymentIn, identity: Manager, session: DbSession
):
    return await svc.prepare_aid_payment(session, identity, scheme_id, beneficiary_id, body)


@router.get("/aid-payments/{payment_id}", response_model=AidPaymentOut)
async def read_aid_payment(payment_id: uuid.UUID, identity: Reader, session: DbSession):
    return await svc.get_aid_payment(session, identity, payment_id)


@router.post(
    "/aid-payments/{payment_id}/approve",
    response_model=AidPaymentOut,
    description="prepared → approved, by a funder who did not prepare it (403 otherwise).",
)
async def approve_aid_payment(
    payment_id: uuid.UUID, identity: Funder, session: DbSession, body: DecisionIn | None = None
):
    return await svc.move_aid_payment(session, identity, payment_id, "approved", body.reason if body else None)


@router.post(
    "/aid-payments/{payment_id}/reject",
    response_model=AidPaymentOut,
    description="prepared → rejected, by a funder who did not prepare it; the commitment is released and the "
    "month may be prepared again.",
)
async def reject_aid_payment(
    payment_id: uuid.UUID, identity: Funder, session: DbSession, body: DecisionIn | None = None
):
    return await svc.move_aid_payment(session, identity, payment_id, "rejected", body.reason if body else None)


@router.post(
    "/aid-payments/{payment_id}/paid",
    response_model=AidPaymentOut,
    description="approved → paid: the payer's treasury made the transfer (the person's bank account is not kept "
    "here, so there is no SEPA file for aids).",
)
async def mark_aid_payment_paid(payment_id: uuid.UUID, identity: Manager, session: DbSession):
    return await svc.move_aid_payment(session, identity, payment_id, "paid")


# ---------------------------------------------------------------------------------------------- ledger
@router.get(
    "/ledger",
    response_model=LedgerPage,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
async def read_ledger(
    identity: Reader,
    session: DbSession,
    fund_id: uuid.UUID | None = None,
    funder_id: uuid.UUID | None = None,
    convention_id: uuid.UUID | None = None,
    disbursement_id: uuid.UUID | None = None,
    absorbed_by: uuid.UUID | None = None,
    kind: LedgerKind | None = None,
    period: PeriodText | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="next_after of the previous page")] = None,
    format: Literal["json", "csv"] = "json",
):
    """Every money movement, oldest first; never edited. format=csv exports every matching row."""
    filters = {"fund_id": fund_id, "funder_id": funder_id, "convention_id": convention_id,
               "disbursement_id": disbursement_id, "absorbed_by": absorbed_by, "kind": kind, "period": period,
               "year": year}  # fmt: skip
    if format == "csv":
        return Response(await svc.ledger_csv(session, identity, filters), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="ledger.csv"'})  # fmt: skip
    return await svc.ledger_page(session, identity, filters, limit, after)
