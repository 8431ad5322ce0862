from fastapi import APIRouter
from pydantic import BaseModel

from tremplin_shared.service import CurrentIdentity, DbSession

from ..adapters.projection import count_known

router = APIRouter(prefix="/api/v1/funding", tags=["funding"])


class Overview(BaseModel):
    tenant: str
    known_participants: int


@router.get("/overview", response_model=Overview)
async def overview(identity: CurrentIdentity, session: DbSession):
    """What this service holds for the caller's territory so far."""
    return Overview(tenant=identity.tenant, known_participants=await count_known(session, identity.tenant))
