"""The clauses routes: markets and lots, the calculator, placements, hours, progress and reports."""

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from tremplin_shared.identity import Identity
from tremplin_shared.service import CurrentIdentity, DbSession, require_roles

from .. import reports, service_layer
from ..adapters.projection import count_known
from ..domain.hours import HoursStatus, allowed_from
from ..domain.progress import BEHIND_THRESHOLD
from .schemas import (
    CalculatorIn,
    CalculatorOut,
    HoursIn,
    HoursList,
    HoursOut,
    LotOut,
    LotPatch,
    MarketIn,
    MarketList,
    MarketOut,
    MarketPatch,
    MarketProgressOut,
    Month,
    OverrideIn,
    PlacementIn,
    PlacementList,
    PlacementOut,
    RejectIn,
    check_siret,
)

router = APIRouter(prefix="/api/v1/clauses", tags=["clauses"])
Facilitator = Annotated[Identity, Depends(require_roles("facilitator"))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1, max_length=200,
        description="Send the same key again (with the same body) and get what the first request created, "
        "not a second one; the key with another body is 422.",
    ),
]  # fmt: skip
CSV = "text/csv"


class Overview(BaseModel):
    tenant: str
    known_participants: int


@router.get("/overview", response_model=Overview)
async def overview(identity: CurrentIdentity, session: DbSession):
    """What this service holds for the caller's territory so far."""
    return Overview(tenant=identity.tenant, known_participants=await count_known(session, identity.tenant))


def lot_out(lot: dict) -> dict:
    return {**lot, "contractor": {"name": lot["contractor_name"], "siret": lot["contractor_siret"]}}


def market_out(market: dict) -> dict:
    return {
        **market,
        "buyer": {"name": market["buyer_name"], "siret": market["buyer_siret"], "kind": market["buyer_kind"]},
        "lots": [lot_out(lot) for lot in market["lots"]],
    }


def hours_out(entry: dict) -> dict:
    return {**entry, "allowed": allowed_from(entry["status"])}


def wants_csv(request: Request) -> bool:
    return CSV in request.headers.get("accept", "")


# --------------------------------------------------------------------------------------------- markets
@router.post("/markets", response_model=MarketOut, status_code=201, summary="Register a market with its lots")
async def create_market(
    body: MarketIn,
    identity: CurrentIdentity,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
):
    market = await service_layer.idempotent(
        session, identity, "markets", idempotency_key, body,
        lambda stage: service_layer.create_market(session, identity, body, stage),
        lambda market_id: service_layer.get_market(session, identity, market_id),
    )  # fmt: skip
    return market_out(market)


@router.get("/markets", response_model=MarketList)
async def list_markets(
    identity: CurrentIdentity,
    session: DbSession,
    buyer_siret: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
):
    if buyer_siret is not None:
        try:
            buyer_siret = check_siret(buyer_siret)
        except ValueError as exc:
            raise service_layer.invalid(("buyer_siret", str(exc)), where="query") from None
    markets = await service_layer.list_markets(session, identity, buyer_siret, limit, offset)
    return {"items": [market_out(m) for m in markets]}


@router.get("/markets/{market_id}", response_model=MarketOut)
async def read_market(market_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return market_out(await service_layer.get_market(session, identity, market_id))


@router.patch("/markets/{market_id}", response_model=MarketOut)
async def patch_market(market_id: uuid.UUID, body: MarketPatch, identity: CurrentIdentity, session: DbSession):
    return market_out(await service_layer.patch_market(session, identity, market_id, body))


@router.get("/lots/{lot_id}", response_model=LotOut)
async def read_lot(lot_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return lot_out(await service_layer.get_lot(session, identity, lot_id))


@router.patch("/lots/{lot_id}", response_model=LotOut)
async def patch_lot(lot_id: uuid.UUID, body: LotPatch, identity: CurrentIdentity, session: DbSession):
    lot = await service_layer.patch_lot(session, identity, lot_id, body)
    return lot_out(lot)


@router.post(
    "/calculator",
    response_model=CalculatorOut,
    summary="Required insertion hours of a lot",
    description="required hours = amount excl. tax × labour share ÷ hourly labour cost × clause rate, rounded "
    "half-up to the hour. Shares and rates are fractions (0.07 for 7 %).",
)
async def calculator(body: CalculatorIn, identity: CurrentIdentity):
    return service_layer.calculate(body)


# ------------------------------------------------------------------------------------------ placements
@router.post(
    "/lots/{lot_id}/placements",
    response_model=PlacementOut,
    status_code=201,
    description="The participant must be known here (from participants events) and clause-eligible, else 422; a "
    "facilitator may place them anyway with an `override_reason`, which is kept (an override by anyone else is 403).",
)
async def create_placement(
    lot_id: uuid.UUID,
    body: PlacementIn,
    identity: CurrentIdentity,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
):
    placement = await service_layer.idempotent(
        session, identity, f"placements:{lot_id}", idempotency_key, body,
        lambda stage: service_layer.create_placement(session, identity, lot_id, body, stage),
        lambda placement_id: service_layer.get_placement(session, identity, placement_id),
    )  # fmt: skip
    return placement


@router.get("/lots/{lot_id}/placements", response_model=PlacementList)
async def list_placements(lot_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return {"items": await service_layer.list_placements(session, identity, lot_id)}


@router.get("/placements/{placement_id}", response_model=PlacementOut)
async def read_placement(placement_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return await service_layer.get_placement(session, identity, placement_id)


@router.post(
    "/placements/{placement_id}/override",
    response_model=PlacementOut,
    description="Facilitators only. A hire places the person on the offer's lot by itself, whatever is known of "
    "their eligibility; hours on such a placement wait (409) until it is eligible or a facilitator overrides here.",
)
async def override_placement(placement_id: uuid.UUID, body: OverrideIn, identity: Facilitator, session: DbSession):
    return await service_layer.override_placement(session, identity, placement_id, body.reason)


# ----------------------------------------------------------------------------------------------- hours
@router.post(
    "/lots/{lot_id}/hours",
    response_model=HoursOut,
    status_code=201,
    description="Hours of a placed participant for a month of the lot's period, `declared`. More than 210 h for "
    "the participant in the month, all lots together (rejected entries aside), is 422 with `other_entries`.",
)
async def declare_hours(
    lot_id: uuid.UUID,
    body: HoursIn,
    identity: CurrentIdentity,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
):
    entry = await service_layer.idempotent(
        session, identity, f"hours:{lot_id}", idempotency_key, body,
        lambda stage: service_layer.declare_hours(session, identity, lot_id, body, stage),
        lambda hours_id: service_layer.get_hours(session, identity, hours_id),
    )  # fmt: skip
    return hours_out(entry)


@router.get("/lots/{lot_id}/hours", response_model=HoursList)
async def list_hours(
    lot_id: uuid.UUID,
    identity: CurrentIdentity,
    session: DbSession,
    status: Annotated[HoursStatus | None, Query()] = None,
    month: Annotated[Month | None, Query()] = None,
    participant_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
):
    """Entries by month, then declaration time."""
    filters = {"status": status, "month": month, "participant_id": participant_id}
    entries = await service_layer.list_hours(session, identity, lot_id, filters, limit, offset)
    return {"items": [hours_out(e) for e in entries]}


@router.get("/hours/{hours_id}", response_model=HoursOut)
async def read_hours(hours_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return hours_out(await service_layer.get_hours(session, identity, hours_id))


@router.post(
    "/hours/{hours_id}/validate", response_model=HoursOut, description="Facilitators only; 409 unless declared."
)
async def validate_hours(hours_id: uuid.UUID, identity: Facilitator, session: DbSession):
    entry = await service_layer.decide(session, identity, hours_id, "validated")
    return hours_out(entry)


@router.post("/hours/{hours_id}/reject", response_model=HoursOut, description="Facilitators only, with a reason.")
async def reject_hours(hours_id: uuid.UUID, body: RejectIn, identity: Facilitator, session: DbSession):
    return hours_out(await service_layer.decide(session, identity, hours_id, "rejected", body.reason))


# -------------------------------------------------------------------------------------- progress, reports
@router.get(
    "/markets/{market_id}/progress",
    response_model=MarketProgressOut,
    description=f"Per lot and in total. `behind` when validated < {BEHIND_THRESHOLD} × required × the elapsed share "
    "of the period on `on` (today by default).",
)
async def market_progress(
    market_id: uuid.UUID, identity: CurrentIdentity, session: DbSession, on: Annotated[date | None, Query()] = None
):
    return await service_layer.progress(session, identity, market_id, on or date.today())


@router.get(
    "/reports",
    summary="Territory report for a period (JSON, or CSV with Accept: text/csv)",
    responses={200: {"content": {"application/json": {}, CSV: {}}}},
)
async def territory_report(
    request: Request,
    identity: CurrentIdentity,
    session: DbSession,
    from_: Annotated[Month, Query(alias="from", description="First month (2026-01, or any day of it), included")],
    to: Annotated[Month, Query(description="Last month (2026-12, or any day of it), included")],
    as_of: Annotated[date | None, Query(description="Outcomes are measured up to this day (today by default)")] = None,
):
    report = await reports.territory_report(session, identity, from_, to, as_of or date.today())
    if wants_csv(request):
        return Response(
            reports.territory_csv(report),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="clauses-{from_}-{to}.csv"'},
        )
    return _json(report)


@router.get(
    "/markets/{market_id}/report",
    summary="The buyer's proof for one market (JSON, or CSV with Accept: text/csv)",
    responses={200: {"content": {"application/json": {}, CSV: {}}}},
)
async def buyer_report(
    market_id: uuid.UUID,
    request: Request,
    identity: CurrentIdentity,
    session: DbSession,
    on: Annotated[date | None, Query()] = None,
):
    report = await reports.market_report(session, identity, market_id, on or date.today())
    if wants_csv(request):
        return Response(
            reports.market_csv(report),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="market-{market_id}.csv"'},
        )
    return _json(report)


def _json(report: dict) -> JSONResponse:
    """Hours and shares as strings (exact decimals, as every other route gives them)."""
    return JSONResponse(jsonable_encoder(report, custom_encoder={Decimal: str}))
