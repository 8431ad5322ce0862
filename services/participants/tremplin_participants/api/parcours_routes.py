"""Routes of the parcours d'insertion: opening, transitions, référent, CER, diagnostics, timeline,
indicators. Thin: parse, call `parcours_service`, wake the relay after a write.

Included in the app BEFORE the people router, so `/api/v1/participants/indicators/...` is matched
here and never taken for a participant id.
"""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from tremplin_shared.events.contracts import ParcoursState, Programme
from tremplin_shared.problems import Unprocessable
from tremplin_shared.service import CurrentIdentity, DbSession

from .. import parcours_service as service
from .parcours_schemas import (
    CerIn,
    CerOut,
    DiagnosticIn,
    DiagnosticList,
    DiagnosticOut,
    ParcoursList,
    ParcoursOpenIn,
    ParcoursOut,
    PlieIndicatorsOut,
    ReferentIn,
    RsaIndicatorsOut,
    Timeline,
    TransitionIn,
)

router = APIRouter(tags=["parcours"])

From = Annotated[date, Query(alias="from", description="First day of the period (included)")]
To = Annotated[date, Query(description="Last day of the period (included)")]


# Indicators first: their paths must win over /api/v1/participants/{participant_id}.
@router.get("/api/v1/participants/indicators/plie", response_model=PlieIndicatorsOut, tags=["indicators"])
async def plie_indicators(start: From, to: To, identity: CurrentIdentity, session: DbSession):
    """PLIE entries, exits, positive exits and the three rates against their targets (50 %, 42 %, 8 %)."""
    return await service.plie_indicators(session, identity, start, to)


@router.get("/api/v1/participants/indicators/rsa", response_model=RsaIndicatorsOut, tags=["indicators"])
async def rsa_indicators(start: From, to: To, identity: CurrentIdentity, session: DbSession):
    """RSA: share with an active référent, share with a signed CER, median days oriented → welcomed."""
    return await service.rsa_indicators(session, identity, start, to)


@router.post(
    "/api/v1/participants/{participant_id}/parcours", status_code=status.HTTP_201_CREATED, response_model=ParcoursOut
)
async def open_parcours(participant_id: uuid.UUID, body: ParcoursOpenIn, identity: CurrentIdentity, session: DbSession):
    """Open a parcours in `oriented`. At most one open parcours per participant and programme (409)."""
    out = await service.open_parcours(session, identity, participant_id, body.programme, body.oriented_at)
    return out


@router.get("/api/v1/participants/{participant_id}/parcours", response_model=ParcoursList)
async def participant_parcours(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return {"items": await service.participant_parcours(session, identity, participant_id)}


@router.get("/api/v1/parcours", response_model=ParcoursList)
async def list_parcours(
    identity: CurrentIdentity,
    session: DbSession,
    programme: Programme | None = None,
    state: ParcoursState | None = None,
    cer_review_overdue: bool = Query(
        default=False, description="Only open parcours whose latest CER review date is before `at`"
    ),
    at: date | None = Query(default=None, description="The day `cer_review_overdue` is judged on (today by default)"),
    cursor: str | None = Query(default=None, description="`next_cursor` of the previous page"),
    limit: int = Query(default=50, ge=1, le=500),
):
    after = None
    if cursor is not None:
        try:
            after = uuid.UUID(cursor)
        except ValueError as exc:
            raise Unprocessable(
                "cursor: not a cursor", errors=[{"field": "cursor", "in": "query", "message": "not a cursor"}]
            ) from exc
    items, next_id = await service.list_parcours(
        session,
        identity,
        programme=programme,
        state=state,
        cer_review_overdue=cer_review_overdue,
        at=at,
        after=after,
        limit=limit,
    )
    return {"items": items, "next_cursor": None if next_id is None else str(next_id)}


@router.get("/api/v1/parcours/{parcours_id}", response_model=ParcoursOut)
async def get_parcours(parcours_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    """Current state, allowed targets, active référent, the transition log and the CERs."""
    return await service.parcours_detail(session, identity, parcours_id)


@router.post(
    "/api/v1/parcours/{parcours_id}/transitions",
    status_code=status.HTTP_201_CREATED,
    response_model=ParcoursOut,
    responses={409: {"description": "Not allowed from the current state; the body lists `allowed` targets"}},
)
async def transition(parcours_id: uuid.UUID, body: TransitionIn, identity: CurrentIdentity, session: DbSession):
    out = await service.transition(session, identity, parcours_id, body.to, body.at, body.reason, body.exit_kind)
    return out


@router.put("/api/v1/parcours/{parcours_id}/referent", response_model=ParcoursOut)
async def assign_referent(parcours_id: uuid.UUID, body: ReferentIn, identity: CurrentIdentity, session: DbSession):
    """One active référent: a new one ends the previous assignment on `at`. 409 on an exited parcours."""
    out = await service.assign_referent(session, identity, parcours_id, body.referent, body.at)
    return out


@router.post("/api/v1/parcours/{parcours_id}/cer", status_code=status.HTTP_201_CREATED, response_model=CerOut)
async def sign_cer(parcours_id: uuid.UUID, body: CerIn, identity: CurrentIdentity, session: DbSession):
    """Record a signed contrat d'engagement réciproque (rsa parcours only)."""
    return await service.sign_cer(session, identity, parcours_id, body.objectives, body.signed_at, body.review_at)


@router.post(
    "/api/v1/participants/{participant_id}/diagnostics",
    status_code=status.HTTP_201_CREATED,
    response_model=DiagnosticOut,
)
async def add_diagnostic(participant_id: uuid.UUID, body: DiagnosticIn, identity: CurrentIdentity, session: DbSession):
    """The latest diagnostic feeds matching (participant.profile_changed)."""
    out = await service.add_diagnostic(session, identity, participant_id, **body.model_dump())
    return out


@router.get("/api/v1/participants/{participant_id}/diagnostics", response_model=DiagnosticList)
async def list_diagnostics(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    """Latest first."""
    return {"items": await service.list_diagnostics(session, identity, participant_id)}


@router.get("/api/v1/participants/{participant_id}/timeline", response_model=Timeline)
async def timeline(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    """Everything that happened to this person, in order. The read is written to the access log."""
    return {"participant_id": participant_id, "items": await service.timeline(session, identity, participant_id)}
