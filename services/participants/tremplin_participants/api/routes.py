import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from tremplin_shared.events.contracts import ParcoursState, Programme
from tremplin_shared.service import CurrentIdentity, DbSession

from .. import service_layer
from ..adapters.repository import ListFilters
from ..domain.flags import FLAG_NAMES, today
from ..domain.participant import Participant
from .schemas import AccessLogPage, ParticipantIn, ParticipantOut, ParticipantPage, ParticipantPatch

router = APIRouter(prefix="/api/v1/participants", tags=["participants"])

FlagName = Literal[FLAG_NAMES]  # type: ignore[valid-type]
At = Annotated[date | None, Query(description="Compute the flags for this date (YYYY-MM-DD) instead of today (France)")]
# The list's `flag` filter turns age rules into dates up to 50 years before `at` (adapters.repository
# flag_condition), which year 1 cannot hold: `at` before this is a 422, not an overflow.
LIST_AT_FROM = date(1900, 1, 1)
ListAt = Annotated[
    date | None,
    Query(ge=LIST_AT_FROM, description="Compute the flags (and the `flag` filter) for this date instead of today"),
]


def participant_out(participant: Participant, at: date | None) -> dict:
    """The response body: every field but the NIR hash (only `has_nir`), with the flags at `at`."""
    at = at or today()
    return ParticipantOut(
        **{
            name: getattr(participant, name) for name in ParticipantOut.model_fields if name not in ("has_nir", "flags")
        },
        has_nir=participant.has_nir,
        flags=participant.flags(at),
    ).model_dump()


def _nir_key(request: Request) -> str:
    return request.app.state.settings.nir_hash_key


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ParticipantOut)
async def register_participant(
    body: ParticipantIn, identity: CurrentIdentity, session: DbSession, request: Request, at: At = None
):
    """Register a participant (participant.registered.v1 and participant.profile_changed.v1 are emitted).
    A NIR already registered in this territory is 409 with `existing_id`."""
    fields = body.model_dump(exclude={"nir"})
    nir = body.nir.get_secret_value() if body.nir else None
    participant = await service_layer.register_participant(session, identity, fields, nir, _nir_key(request))
    return participant_out(participant, at)


@router.get("", response_model=ParticipantPage)
async def list_participants(
    identity: CurrentIdentity,
    session: DbSession,
    programme: Annotated[Programme | None, Query(description="Has an open parcours in this programme")] = None,
    state: Annotated[
        ParcoursState | None,
        Query(description="Has a parcours in this state (open, or closed for `exited`); with `programme`, that one"),
    ] = None,
    referent: Annotated[
        str | None, Query(max_length=200, description="Is the active référent of one of the participant's parcours")
    ] = None,
    flag: Annotated[FlagName | None, Query(description="Has this computed flag at `at`")] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Words found in the names (case and accents ignored)")
    ] = None,
    at: ListAt = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
):
    """Participants of the caller's territory, by last name, first name, id; erased ones excluded.
    Every participant returned is written to the access log."""
    at = at or today()
    filters = ListFilters(programme=programme, state=state, referent=referent, flag=flag, q=q)
    items, next_cursor = await service_layer.list_participants(session, identity, filters, at, limit, cursor)
    return {"items": [participant_out(p, at) for p in items], "next_cursor": next_cursor}


@router.get("/{participant_id}", response_model=ParticipantOut)
async def get_participant(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession, at: At = None):
    """One participant, with the flags at `at` (today by default). Erased: 410. Another territory's: 404."""
    return participant_out(await service_layer.get_participant(session, identity, participant_id), at)


@router.patch("/{participant_id}", response_model=ParticipantOut)
async def update_participant(
    participant_id: uuid.UUID,
    body: ParticipantPatch,
    identity: CurrentIdentity,
    session: DbSession,
    request: Request,
    at: At = None,
):
    """Change some fields. participant.profile_changed.v1 follows when what matching sees changed."""
    changes = body.model_dump(include=body.model_fields_set)
    if "nir" in changes:
        changes["nir"] = body.nir.get_secret_value() if body.nir else None
    participant = await service_layer.update_participant(session, identity, participant_id, changes, _nir_key(request))
    return participant_out(participant, at)


@router.delete("/{participant_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def erase_participant(participant_id: uuid.UUID, identity: CurrentIdentity, session: DbSession, request: Request):
    """Erasure: personal fields anonymised, statistics kept, participant.erased.v1 emitted (the other
    services purge what they hold). Afterwards the participant answers 410 Gone."""
    await service_layer.erase_participant(session, identity, participant_id, _nir_key(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{participant_id}/access-log", response_model=AccessLogPage)
async def read_access_log(
    participant_id: uuid.UUID,
    identity: CurrentIdentity,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
):
    """Who read or changed this participant's personal data, newest first."""
    items, next_cursor = await service_layer.read_access_log(session, identity, participant_id, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}
