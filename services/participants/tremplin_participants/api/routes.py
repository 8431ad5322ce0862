import uuid
from dataclasses import asdict

from fastapi import APIRouter, Request, status

from tremplin_shared.problems import Unprocessable
from tremplin_shared.service import CurrentIdentity, DbSession, wake_relay

from .. import service_layer
from ..domain.participant import InvalidParticipant
from .schemas import ParticipantIn, ParticipantOut

router = APIRouter(prefix="/api/v1/participants", tags=["participants"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ParticipantOut)
async def register_participant(body: ParticipantIn, identity: CurrentIdentity, session: DbSession, request: Request):
    try:
        participant = await service_layer.register_participant(session, identity, **body.model_dump())
    except InvalidParticipant as exc:
        raise Unprocessable(str(exc)) from exc
    wake_relay(request)
    return asdict(participant)


@router.get("/{participant_id}", response_model=ParticipantOut)
async def get_participant(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession):
    return asdict(await service_layer.get_participant(session, identity, participant_id))
