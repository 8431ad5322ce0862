"""The gateway's own administration routes. Minimal for now: key management over HTTP comes later."""

from fastapi import APIRouter, Request

from ..auth import Caller
from ..keys import list_api_keys, utcnow
from .schemas import ApiKeyOut

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/api-keys", response_model=list[ApiKeyOut], summary="List the API keys of the caller's tenant")
async def list_keys(caller: Caller, request: Request) -> list[ApiKeyOut]:
    now = utcnow()
    keys = await list_api_keys(request.app.state.sessionmaker, tenant=caller.tenant)
    return [ApiKeyOut.of(key, now) for key in keys]
