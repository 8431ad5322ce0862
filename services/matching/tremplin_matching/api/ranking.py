"""The two ranking queries: the best candidates for an offer, the best offers for a participant.

The subject of the query (the offer, the candidate) is read from the database, scoped by tenant (a
foreign id is 404); what is ranked comes from the spatial index in `app.state.ranking_index`.
"""

import uuid

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tremplin_shared.problems import NotFound
from tremplin_shared.service import CurrentIdentity, DbSession

from ..adapters.orm import candidates, offers
from ..adapters.spatial_index import SpatialIndex, candidate_from_row, offer_from_row
from ..domain.ranking import Match

router = APIRouter(tags=["ranking"])


class Component(BaseModel):
    value: float = Field(description="The component, in [0, 1]")
    weight: float
    contribution: float = Field(description="value × weight")


class Explanation(BaseModel):
    distance_km: float = Field(description="Great-circle distance (haversine, R = 6371.0088 km)")
    max_travel_km: float = Field(description="The candidate's max travel distance the pair was checked against")
    max_travel_km_is_default: bool = Field(description="The candidate gave none: the configured default was used")
    components: dict[str, Component] = Field(description="skills, proximity, hours")
    score: float = Field(description="The sum of the contributions")


class RankedCandidate(BaseModel):
    participant_id: uuid.UUID
    score: float
    distance_km: float
    explanation: Explanation


class RankedOffer(BaseModel):
    offer_id: uuid.UUID
    score: float
    distance_km: float
    explanation: Explanation


class RankedCandidates(BaseModel):
    items: list[RankedCandidate]
    weights: dict[str, float]


class RankedOffers(BaseModel):
    items: list[RankedOffer]
    weights: dict[str, float]


def _item(match: Match, index: SpatialIndex, key: str) -> dict:
    explanation = match.explanation(index.rules.weights)
    return {
        key: match.participant_id if key == "participant_id" else match.offer_id,
        "score": explanation["score"],
        "distance_km": explanation["distance_km"],
        "explanation": explanation,
    }


@router.get(
    "/api/v1/offers/{offer_id}/candidates",
    response_model=RankedCandidates,
    summary="The best candidates for an offer, explained",
)
async def candidates_for_offer(
    offer_id: uuid.UUID,
    request: Request,
    identity: CurrentIdentity,
    session: DbSession,
    limit: int = Query(20, ge=1, le=100),
):
    """Hard filters, score and order of DOMAIN.md §Matching: score desc, distance asc, participant id.
    A filled or closed offer has no candidates."""
    stmt = sa.select(offers).where(offers.c.tenant == identity.tenant, offers.c.id == offer_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"offer {offer_id} not found")
    index: SpatialIndex = request.app.state.ranking_index
    matches = index.candidates_for(identity.tenant, offer_from_row(row._asdict()), limit)
    return {"items": [_item(m, index, "participant_id") for m in matches], "weights": index.rules.weights.as_dict()}


@router.get(
    "/api/v1/matching/participants/{participant_id}/offers",
    response_model=RankedOffers,
    summary="The best open offers for a participant, explained",
)
async def offers_for_participant(
    participant_id: uuid.UUID,
    request: Request,
    identity: CurrentIdentity,
    session: DbSession,
    limit: int = Query(20, ge=1, le=100),
):
    """Hard filters, score and order of DOMAIN.md §Matching: score desc, distance asc, offer id. A
    candidate who is not active or not consenting gets no offers."""
    stmt = sa.select(candidates).where(
        candidates.c.tenant == identity.tenant, candidates.c.participant_id == participant_id
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"participant {participant_id} not found")
    index: SpatialIndex = request.app.state.ranking_index
    matches = index.offers_for(identity.tenant, candidate_from_row(row._asdict()), limit)
    return {"items": [_item(m, index, "offer_id") for m in matches], "weights": index.rules.weights.as_dict()}
