import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tremplin_shared.events import ParticipantFlags
from tremplin_shared.problems import NotFound
from tremplin_shared.service import CurrentIdentity, DbSession

from ..adapters.projection import get_candidate

router = APIRouter(prefix="/api/v1/matching", tags=["matching"])


class CandidateOut(BaseModel):
    """What matching knows of a participant (from participants events): no names, no NIR."""

    participant_id: uuid.UUID
    latitude: float
    longitude: float
    commune_insee: str | None = None
    skills: list[str]
    wishes: list[str] = Field(default_factory=list)
    max_travel_km: float | None = None
    travel_modes: list[str] = Field(default_factory=list)
    weekly_hours_wanted: float | None = None
    schedule_exclusions: list[str] = Field(default_factory=list)
    driving_licence: bool = False
    vehicle: bool = False
    flags: ParticipantFlags | None = Field(default=None, description="As computed by participants on computed_on")
    consent_matching: bool = False
    active: bool = Field(default=False, description="Has an open parcours")
    registered_at: datetime
    updated_at: datetime


@router.get("/candidates/{participant_id}", response_model=CandidateOut)
async def read_candidate(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    candidate = await get_candidate(session, identity.tenant, participant_id)
    if candidate is None:
        raise NotFound(f"candidate {participant_id} not found")
    return candidate
