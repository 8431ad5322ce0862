import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from tremplin_shared.problems import NotFound
from tremplin_shared.service import CurrentIdentity, DbSession

from ..adapters.projection import get_candidate

router = APIRouter(prefix="/api/v1/matching", tags=["matching"])


class CandidateOut(BaseModel):
    participant_id: uuid.UUID
    latitude: float
    longitude: float
    skills: list[str]
    registered_at: datetime
    updated_at: datetime


@router.get("/candidates/{participant_id}", response_model=CandidateOut)
async def read_candidate(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    candidate = await get_candidate(session, identity.tenant, participant_id)
    if candidate is None:
        raise NotFound(f"candidate {participant_id} not found")
    return candidate
