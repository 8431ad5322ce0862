"""Use cases of the people side. Each runs in one transaction: the state change, its events
(outbox) and its access-log rows commit together, or nothing does.

The NIR arrives here already checked (api/schemas.py, stdnum) and leaves as its keyed hash: it is
never stored, logged, returned or put in an event.
"""

import base64
import binascii
import json
import uuid
from datetime import UTC, date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import ParticipantErasedV1
from tremplin_shared.identity import Identity
from tremplin_shared.messaging import outbox
from tremplin_shared.messaging.erasure import forget_in_outbox
from tremplin_shared.problems import Conflict, NotFound, Problem, Unprocessable

from .adapters import flag_tracking, orientation_repository, repository
from .adapters.repository import ListFilters
from .domain.erasure import france_travail_pseudonym
from .domain.flags import today
from .domain.nir import nir_hash
from .domain.participant import InvalidParticipant, Participant, search_key
from .profile import SOURCE, build_profile, remember_flags, send_flag_changes, stage_profile_changed


class Gone(Problem):
    """An erased participant of the caller's own tenant (a foreign id stays 404)."""

    status, title = 410, "Gone"


def invalid(exc: InvalidParticipant) -> Unprocessable:
    return Unprocessable("The request is invalid.", errors=[{"field": exc.field, "in": "body", "message": exc.message}])


def bad_cursor(field: str = "cursor") -> Unprocessable:
    return Unprocessable(
        "The cursor is not one this API gave.", errors=[{"field": field, "in": "query", "message": "invalid cursor"}]
    )


def nir_conflict(existing_id: uuid.UUID) -> Conflict:
    return Conflict("A participant with this NIR already exists in this territory.", existing_id=str(existing_id))


async def _owner_of_nir(session: AsyncSession, tenant: str, hashed: str | None, other_than: uuid.UUID | None):
    if hashed is None:
        return None
    return await repository.find_by_nir_hash(session, tenant, hashed, other_than=other_than)


async def _live_participant(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, *, for_update: bool = False
) -> Participant:
    participant = await repository.get(session, tenant, participant_id, for_update=for_update)
    if participant is None:
        raise NotFound(f"participant {participant_id} not found")
    if participant.erased:
        raise Gone(f"participant {participant_id} was erased", erased_at=participant.erased_at.isoformat())
    return participant


# ------------------------------------------------------------------------------------------ register
async def register_participant(
    session: AsyncSession, identity: Identity, fields: dict, nir: str | None, nir_key: str
) -> Participant:
    """`fields`: the body without the NIR; `nir`: the compact, checked NIR or None."""
    participant = new_participant(identity.tenant, fields, nir, nir_key)
    try:
        async with session.begin():
            await add_participant(session, participant)
    except IntegrityError:  # the same NIR registered concurrently: the unique constraint decided
        if existing := await _owner_of_nir(session, identity.tenant, participant.nir_hash, None):
            raise nir_conflict(existing) from None
        raise
    return participant


def new_participant(tenant: str, fields: dict, nir: str | None, nir_key: str) -> Participant:
    """A participant built from a registration body (`fields` without the NIR), the domain's checks
    applied (422 on a refusal), the NIR replaced by its keyed hash."""
    try:
        participant = Participant(tenant=tenant, **fields)
        participant.check_not_in_future(today())
    except InvalidParticipant as exc:
        raise invalid(exc) from None
    participant.nir_hash = nir_hash(nir, nir_key) if nir else None
    return participant


async def add_participant(session: AsyncSession, participant: Participant) -> None:
    """Inside the caller's transaction: the NIR rule (409 with the existing id), the row, and its
    events (participant.registered, participant.profile_changed) in the outbox."""
    if existing := await _owner_of_nir(session, participant.tenant, participant.nir_hash, None):
        raise nir_conflict(existing)
    await repository.add(session, participant)
    await outbox.add_event(session, participant.registered_event(), tenant=participant.tenant, source=SOURCE)
    await stage_profile_changed(session, participant.tenant, participant.id)


# ------------------------------------------------------------------------------------------ read one
async def get_participant(session: AsyncSession, identity: Identity, participant_id: uuid.UUID) -> Participant:
    async with session.begin():
        participant = await _live_participant(session, identity.tenant, participant_id)
        await repository.log_access(session, identity, [participant.id], "read")
    return participant


# ---------------------------------------------------------------------------------------------- PATCH
async def update_participant(
    session: AsyncSession, identity: Identity, participant_id: uuid.UUID, changes: dict, nir_key: str
) -> Participant:
    """`changes`: the fields sent (a `nir` key, if present, is the checked compact NIR or None).

    participant.profile_changed.v1 is emitted only when the profile matching sees is different."""
    changes = dict(changes)
    if "nir" in changes:
        nir = changes.pop("nir")
        changes["nir_hash"] = nir_hash(nir, nir_key) if nir else None
    tenant = identity.tenant
    try:
        async with session.begin():
            participant = await _live_participant(session, tenant, participant_id, for_update=True)
            if existing := await _owner_of_nir(session, tenant, changes.get("nir_hash"), participant.id):
                raise nir_conflict(existing)
            try:
                await change_participant(session, participant, changes)
            except InvalidParticipant as exc:
                raise invalid(exc) from None
            await repository.log_access(session, identity, [participant.id], "update")
    except IntegrityError:
        if existing := await _owner_of_nir(session, tenant, changes.get("nir_hash"), participant_id):
            raise nir_conflict(existing) from None
        raise
    return participant


async def change_participant(session: AsyncSession, participant: Participant, changes: dict) -> set[str]:
    """Inside the caller's transaction, on a participant read for update: apply `changes` (domain
    checks: InvalidParticipant), save, and stage participant.profile_changed.v1 when what matching
    sees (flags included) is different. Returns the names of the fields that changed.

    First, the flag changes time alone brought about and not sent yet (the flags-refresh job did not
    run since) go out, computed from the situation before this change and dated their days; then
    what other services hold after it is recorded (jobs.py)."""
    tenant, day = participant.tenant, today()
    tracking = await flag_tracking.tracking_of(session, participant)
    await send_flag_changes(session, participant, tracking, day, compare_and_set=False)
    before = await build_profile(session, tenant, participant.id)
    changed = participant.change(changes, datetime.now(UTC), day)
    if changed:
        await repository.save(session, participant)
        after = await build_profile(session, tenant, participant.id)
        if _matching_view(before) != _matching_view(after):
            await outbox.add_event(session, after, tenant=tenant, source=SOURCE)
        await remember_flags(session, participant, day)
    return changed


def _matching_view(event) -> dict | None:
    return None if event is None else event.model_dump(exclude={"changed_at"})


# ----------------------------------------------------------------------------------------------- list
def encode_participant_cursor(participant_id: uuid.UUID) -> str:
    # Only the id of the last participant of the page: a cursor never carries a name in a URL.
    return base64.urlsafe_b64encode(participant_id.bytes).rstrip(b"=").decode()


def decode_participant_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise bad_cursor() from None


async def list_participants(
    session: AsyncSession,
    identity: Identity,
    filters: ListFilters,
    at: date,
    limit: int,
    cursor: str | None,
) -> tuple[list[Participant], str | None]:
    """A page in (last_name, first_name, id) order. Keyset pagination: the cursor is the last id of
    the previous page; the page continues after that participant's (names, id) position."""
    if filters.q:
        filters = ListFilters(**{**filters.__dict__, "q": search_key(filters.q)})
    async with session.begin():
        after = None
        if cursor is not None:
            last_id = decode_participant_cursor(cursor)
            names = await repository.sort_key(session, identity.tenant, last_id)
            if names is None:
                raise bad_cursor()
            after = (*names, last_id)
        items, more = await repository.list_page(session, identity.tenant, filters, at, limit, after)
        await repository.log_access(session, identity, [p.id for p in items], "list")
    return items, encode_participant_cursor(items[-1].id) if more and items else None


# -------------------------------------------------------------------------------------------- erasure
async def erase_participant(
    session: AsyncSession, identity: Identity, participant_id: uuid.UUID, hash_key: str
) -> None:
    """The right to erasure (RGPD art. 17): anonymise, keep the statistics, tell the other services —
    and forget the person's events in the outbox (all but the participant.erased staged here).
    A France Travail id is kept only as a pseudonym (`hash_key`) with the day up to which its
    registrations stay forgotten: today, or a later registration date known (domain/erasure.py)."""
    async with session.begin():
        participant = await _live_participant(session, identity.tenant, participant_id, for_update=True)
        now = datetime.now(UTC)
        if (ft_id := participant.france_travail_id) is not None:
            known = await orientation_repository.latest_registration_of_person(
                session, identity.tenant, participant.id, ft_id
            )
            until = max(known or today(), today())  # every registration France Travail could have had then
            await orientation_repository.record_erasure(
                session, identity.tenant, france_travail_pseudonym(ft_id, hash_key), until, now
            )
        participant.erase(now)
        await repository.save(session, participant)
        await repository.forget_personal_traces(session, identity.tenant, participant.id)
        await orientation_repository.forget_person(session, identity.tenant, participant.id, now, ft_id)
        erased = await outbox.add_event(
            session, ParticipantErasedV1(participant_id=participant.id, erased_at=now), tenant=identity.tenant,
            source=SOURCE,
        )  # fmt: skip
        # The person's published events (coordinates, sex, flags…) go too: no republish sends them again.
        await forget_in_outbox(session, identity.tenant, participant.id, keep_event_id=erased.id)
        await repository.log_access(session, identity, [participant.id], "erase")


# ----------------------------------------------------------------------------------------- access log
def encode_access_cursor(at: datetime, entry_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), str(entry_id)]).encode()).rstrip(b"=").decode()


def decode_access_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, entry_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), uuid.UUID(entry_id)
    except (ValueError, TypeError, binascii.Error):
        raise bad_cursor() from None


async def read_access_log(
    session: AsyncSession, identity: Identity, participant_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    """Newest first. Readable for an erased participant too: the trail outlives the person's data."""
    before = decode_access_cursor(cursor) if cursor else None
    async with session.begin():
        if await repository.get(session, identity.tenant, participant_id) is None:
            raise NotFound(f"participant {participant_id} not found")
        rows, more = await repository.access_log_page(session, identity.tenant, participant_id, limit, before)
    last = rows[-1] if rows else None
    return rows, encode_access_cursor(last["at"], last["id"]) if more and last else None
