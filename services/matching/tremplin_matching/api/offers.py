"""Offers: CRUD, list with filters, France Travail import; the applications of an offer."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from tremplin_shared.events.contracts import ContractType, RomeCode
from tremplin_shared.service import CurrentIdentity, DbSession

from .. import service_layer
from ..adapters.offers_repository import OfferFilters
from ..domain.offers import OfferStatus
from .applications import application_out
from .schemas import (
    ApplicationList,
    CommuneInsee,
    ImportResult,
    OfferIn,
    OfferOut,
    OfferPage,
    OfferPatch,
    check_siret,
)

router = APIRouter(prefix="/api/v1/offers", tags=["offers"])


def offer_out(row: dict) -> dict:
    external = {"source": row["external_source"], "id": row["external_id"]} if row["external_id"] else None
    return {
        **row,
        "employer": {"name": row["employer_name"], "siret": row["employer_siret"]},
        "location": {"latitude": row["latitude"], "longitude": row["longitude"], "commune_insee": row["commune_insee"]},
        "requirements": {"driving_licence": row["requires_driving_licence"]},
        "schedule": {"night": row["night"], "weekend": row["weekend"], "early": row["early"]},
        "external": external,
    }


@router.post("", response_model=OfferOut, status_code=201)
async def create_offer(body: OfferIn, identity: CurrentIdentity, session: DbSession):
    return offer_out(await service_layer.create_offer(session, identity, body))


@router.get("", response_model=OfferPage)
async def list_offers(
    identity: CurrentIdentity,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=200, description="Words in the title (case-insensitive)")] = None,
    employer_siret: Annotated[str | None, Query(max_length=20)] = None,
    rome_code: Annotated[RomeCode | None, Query()] = None,
    contract_type: Annotated[ContractType | None, Query()] = None,
    status: Annotated[OfferStatus | None, Query()] = None,
    commune_insee: Annotated[CommuneInsee | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=300, description="`next_cursor` of the previous page")] = None,
):
    if employer_siret is not None:
        try:
            employer_siret = check_siret(employer_siret)
        except ValueError as exc:
            raise service_layer.invalid(("employer_siret", str(exc)), where="query") from None
    filters = OfferFilters(q, employer_siret, rome_code, contract_type, status, commune_insee)
    items, next_cursor = await service_layer.list_offers(session, identity, filters, limit, cursor)
    return {"items": [offer_out(row) for row in items], "next_cursor": next_cursor}


@router.post(
    "/import/france-travail",
    response_model=ImportResult,
    summary="Import offers in the France Travail Offres d'emploi v2 shape",
    description=(
        'Body: `{"resultats": [offer, …]}` (the shape of `GET /offres/search`) or a bare list of offers. '
        "Idempotent by the offer's `id` (external id): a known offer is updated, never duplicated. Every "
        "valid record is imported even if others are not; each faulty field of a rejected record is an "
        "entry of `errors` (index, external id, field path, message). Always 200 when the body is a list: "
        "look at `errors`. Only a body that is not a list of offers (or more than 1000) is a 422."
    ),
)
async def import_france_travail(
    identity: CurrentIdentity, session: DbSession, payload: Annotated[dict[str, Any] | list[Any], Body()]
):
    return await service_layer.import_france_travail(session, identity, payload)


@router.get("/{offer_id}", response_model=OfferOut)
async def read_offer(offer_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return offer_out(await service_layer.get_offer(session, identity, offer_id))


@router.patch("/{offer_id}", response_model=OfferOut)
async def patch_offer(offer_id: uuid.UUID, body: OfferPatch, identity: CurrentIdentity, session: DbSession):
    return offer_out(await service_layer.patch_offer(session, identity, offer_id, body))


@router.get("/{offer_id}/applications", response_model=ApplicationList)
async def list_offer_applications(offer_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    rows = await service_layer.list_offer_applications(session, identity, offer_id)
    return {"items": [application_out(row) for row in rows]}
