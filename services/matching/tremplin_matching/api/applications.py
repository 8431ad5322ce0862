"""Applications (positionnements) and their transitions; a participant's applications; the funnel."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from tremplin_shared.service import CurrentIdentity, DbSession

from .. import service_layer
from ..domain.applications import allowed_from
from .schemas import ApplicationIn, ApplicationList, ApplicationOut, FunnelOut, TransitionIn

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])
matching_router = APIRouter(prefix="/api/v1/matching", tags=["matching"])


def application_out(row: dict) -> dict:
    hire = None
    if row["state"] == "hired":
        hire = {"start_date": row["start_date"], "contract_type": row["contract_type"],
                "weekly_hours": row["weekly_hours"], "employer_siret": row["employer_siret"],
                "clause_lot_id": row["clause_lot_id"]}  # fmt: skip
    return {**row, "allowed": allowed_from(row["state"]), "hire": hire}


@router.post("", response_model=ApplicationOut, status_code=201)
async def create_application(body: ApplicationIn, identity: CurrentIdentity, session: DbSession):
    return application_out(await service_layer.create_application(session, identity, body))


@router.get("/{application_id}", response_model=ApplicationOut)
async def read_application(application_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return application_out(await service_layer.get_application(session, identity, application_id))


@router.post(
    "/{application_id}/transitions",
    response_model=ApplicationOut,
    status_code=201,
    description=(
        "proposed → sent → interview → hired | refused; proposed, sent, interview → withdrawn. An illegal "
        "move is 409 with `allowed`. `hired` needs start_date, contract_type and weekly_hours, takes one "
        "open position of the offer (filled at zero; 409 when none is left), records the offer's employer "
        "SIRET and clause lot as they are then, and emits placement.hired."
    ),
)
async def transition_application(
    application_id: uuid.UUID, body: TransitionIn, identity: CurrentIdentity, session: DbSession
):
    row = await service_layer.transition_application(session, identity, application_id, body)
    return application_out(row)


@matching_router.get("/participants/{participant_id}/applications", response_model=ApplicationList)
async def list_participant_applications(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    rows = await service_layer.list_participant_applications(session, identity, participant_id)
    return {"items": [application_out(row) for row in rows]}


@matching_router.get("/funnel", response_model=FunnelOut, response_model_by_alias=True)
async def funnel(
    identity: CurrentIdentity,
    session: DbSession,
    from_: Annotated[date, Query(alias="from", description="First day (Europe/Paris), included")],
    to: Annotated[date, Query(description="Last day (Europe/Paris), included")],
):
    return await service_layer.funnel(session, identity, from_, to)
