"""The gateway's own administration routes: a tenant admin manages the keys of its own tenant.

Who may call them is in the permission table (`/api/v1/admin/**`: admin). A key of another
tenant is 404, as any foreign id on the platform.
"""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from tremplin_shared.problems import NotFound, Unprocessable

from ..adapters.audit import AuditRepository
from ..auth import Caller
from ..domain.api_keys import InvalidApiKeyRequest
from ..keys import create_api_key, get_api_key, list_api_keys, revoke_api_key, utcnow
from .schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, AuditEntryOut

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/api-keys", response_model=list[ApiKeyOut], summary="List the API keys of the caller's tenant")
async def list_keys(caller: Caller, request: Request) -> list[ApiKeyOut]:
    now = utcnow()
    keys = await list_api_keys(request.app.state.sessionmaker, tenant=caller.tenant)
    return [ApiKeyOut.of(key, now) for key in keys]


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key of the caller's tenant (the key is in this answer only)",
)
async def create_key(body: ApiKeyIn, caller: Caller, request: Request, response: Response) -> ApiKeyCreated:
    try:
        key, plaintext = await create_api_key(
            request.app.state.sessionmaker,
            caller.tenant,
            body.roles,
            body.name,
            expires_at=body.expires_at,
            rate_limit=body.rate_limit,
            max_rate_limit=request.app.state.settings.api_key_max_rate_limit,
        )
    except InvalidApiKeyRequest as exc:
        raise Unprocessable(str(exc), errors=[{"field": exc.field, "in": "body", "message": str(exc)}]) from None
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(**ApiKeyOut.of(key, utcnow()).model_dump(), api_key=plaintext)


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut, summary="One API key of the caller's tenant")
async def get_key(key_id: uuid.UUID, caller: Caller, request: Request) -> ApiKeyOut:
    key = await get_api_key(request.app.state.sessionmaker, key_id, tenant=caller.tenant)
    if key is None:
        raise NotFound("No such API key.")
    return ApiKeyOut.of(key, utcnow())


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyOut, summary="Revoke an API key: it stops at once")
async def revoke_key(key_id: uuid.UUID, caller: Caller, request: Request) -> ApiKeyOut:
    key = await revoke_api_key(request.app.state.sessionmaker, key_id, tenant=caller.tenant)
    if key is None:
        raise NotFound("No such API key.")
    request.app.state.authenticator.forget(key.id)
    return ApiKeyOut.of(key, utcnow())


@router.get("/audit", response_model=list[AuditEntryOut], summary="The requests of the caller's tenant, newest first")
async def audit(
    caller: Caller,
    request: Request,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    subject: str | None = None,
    status_code: Annotated[int | None, Query(alias="status", ge=100, le=599)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    await request.app.state.audit.flush()  # what is still queued, this request aside
    async with request.app.state.sessionmaker() as session:
        entries = await AuditRepository(session).list(
            caller.tenant, since=since, until=until, subject=subject, status=status_code, limit=limit
        )
    return [AuditEntryOut(**{k: getattr(e, k) for k in AuditEntryOut.model_fields}) for e in entries]
