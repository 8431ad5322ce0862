"""/api/v1/participants/orientations: France Travail's job seeker registrations waiting for a référent."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from tremplin_shared.service import CurrentIdentity, DbSession

from .. import orientation_service
from .orientation_schemas import AcceptIn, AcceptOut, DismissIn, OrientationDetail, OrientationPage, OrientationStatus
from .routes import participant_out
from .schemas import CommuneInsee

router = APIRouter(prefix="/api/v1/participants/orientations", tags=["orientations"])


@router.get("", response_model=OrientationPage)
async def list_orientations(
    identity: CurrentIdentity,
    session: DbSession,
    status_: Annotated[OrientationStatus | None, Query(alias="status", description="Default: pending")] = None,
    commune: Annotated[CommuneInsee | None, Query(description="INSEE code of the place of residence")] = None,
    rsa: Annotated[bool | None, Query(description="RSA beneficiary as France Travail said")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
):
    """The territory's orientations, oldest registration first (a queue); pending ones by default."""
    items, next_cursor = await orientation_service.list_orientations(
        session, identity, status_ or "pending", commune, rsa, limit, cursor
    )
    return {"items": [i.__dict__ for i in items], "next_cursor": next_cursor}


@router.get("/{orientation_id}", response_model=OrientationDetail)
async def get_orientation(orientation_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    """One orientation with its transition log. Another territory's: 404."""
    return await orientation_service.get_orientation(session, identity, orientation_id)


@router.post("/{orientation_id}/accept", status_code=status.HTTP_201_CREATED, response_model=AcceptOut)
async def accept_orientation(
    orientation_id: uuid.UUID, body: AcceptIn, identity: CurrentIdentity, session: DbSession, request: Request
):
    """Take the person on: the participant is created (participant.registered.v1 and
    participant.profile_changed.v1, the NIR rules of a registration) and the orientation becomes
    `accepted` with its id, in one transaction. Not pending: 409 with the allowed transitions."""
    fields = body.model_dump(exclude={"nir"})
    nir = body.nir.get_secret_value() if body.nir else None
    detail, participant = await orientation_service.accept_orientation(
        session, identity, orientation_id, fields, nir, request.app.state.settings.nir_hash_key
    )
    return {"orientation": detail, "participant": participant_out(participant, None)}


@router.post("/{orientation_id}/dismiss", response_model=OrientationDetail)
async def dismiss_orientation(
    orientation_id: uuid.UUID, body: DismissIn, identity: CurrentIdentity, session: DbSession
):
    """Set the registration aside, with a reason. Not pending: 409 with the allowed transitions."""
    return await orientation_service.dismiss_orientation(session, identity, orientation_id, body.reason)
