"""Orientation use cases: France Travail's job seeker registrations, queued for the territory's
référents. The rules are in `domain/orientation.py`.

The consumer side (`apply_registration`) runs inside the event consumer's transaction (inbox row
included). The API side runs one transaction per request: accepting creates the participant, its
events (outbox) and the orientation's move together, or nothing at all.
"""

import base64
import binascii
import json
import logging
import uuid
from datetime import UTC, date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events.contracts import FranceTravailJobSeekerRegisteredV1
from tremplin_shared.identity import Identity
from tremplin_shared.problems import Conflict, NotFound, Unprocessable

from . import service_layer
from .adapters import orientation_repository as repo
from .adapters import repository as people
from .domain.erasure import erased_registration, france_travail_pseudonym
from .domain.flags import today
from .domain.orientation import IllegalOrientationTransition, Orientation, Registration
from .domain.participant import InvalidParticipant

log = logging.getLogger(__name__)


def registration_of(data: FranceTravailJobSeekerRegisteredV1) -> Registration:
    return Registration(
        france_travail_id=data.identifiant,
        registered_on=data.dateInscription,
        category=data.categorie,
        commune_insee=data.commune,
        latitude=data.latitude,
        longitude=data.longitude,
        rome_codes=tuple(data.romeCodes),
        rsa=data.rsa,
    )


# ------------------------------------------------------------------------------------------ consumer
async def apply_registration(
    session: AsyncSession, tenant: str, data: FranceTravailJobSeekerRegisteredV1, hash_key: str
) -> str:
    """One registration, in the caller's transaction. Returns what it did (for logs and tests):

    - `participant_updated` / `participant_unchanged`: a live participant of the tenant carries this
      France Travail id — they are registered as job seeker (and unemployed since the registration
      date when that was unknown), through the ordinary change path (flags, profile_changed);
    - `created`: a new pending orientation;
    - `updated` / `unchanged` / `older_ignored`: the pending orientation of this id took the
      registration, already had it, or holds a later one;
    - `closed_ignored`: the id's last orientation was accepted or dismissed for this registration
      date or a later one (a replay): nothing. A later registration after a dismissal is a new
      pending orientation;
    - `erased_ignored`: the person of this id was erased, and the registration is one they already had
      (dated up to the erasure): nothing comes back (`hash_key` makes the id's pseudonym).
    """
    reg = registration_of(data)
    now = datetime.now(UTC)
    participant_id = await repo.participant_with_france_travail_id(session, tenant, reg.france_travail_id)
    if participant_id is not None:
        return await _update_participant(session, tenant, participant_id, reg)
    pending = await repo.pending_for(session, tenant, reg.france_travail_id)
    if pending is not None:
        if not pending.supersedes(reg):
            return "older_ignored"
        if not pending.refresh(reg, now):
            return "unchanged"
        await repo.save(session, pending)
        return "updated"
    closed_on = await repo.latest_closed_registration(session, tenant, reg.france_travail_id)
    if closed_on is not None and reg.registered_on <= closed_on:
        return "closed_ignored"
    pseudonym = france_travail_pseudonym(reg.france_travail_id, hash_key)
    if erased_registration(reg.registered_on, await repo.erased_until(session, tenant, pseudonym)):
        log.info("registration of an erased person ignored", extra={"fields": {"tenant": tenant}})
        return "erased_ignored"
    item, step = Orientation.from_registration(tenant, reg, now)
    await repo.add(session, item)
    await repo.log_transition(session, item, step)
    return "created"


async def _update_participant(session: AsyncSession, tenant: str, participant_id: uuid.UUID, reg: Registration) -> str:
    participant = await people.get(session, tenant, participant_id, for_update=True)
    changes: dict = {"job_seeker_registered": True}
    if (
        participant.unemployed_since is None
        and participant.birth_date <= reg.registered_on <= today()  # a date the domain would take
    ):
        changes["unemployed_since"] = reg.registered_on
    try:
        changed = await service_layer.change_participant(session, participant, changes)
    except InvalidParticipant:  # cannot happen with the guard above; never poison the partition for it
        log.warning(
            "registration not applied to the participant", extra={"fields": {"participant": str(participant_id)}}
        )
        return "participant_unchanged"
    return "participant_updated" if changed else "participant_unchanged"


# ----------------------------------------------------------------------------------------------- API
def _not_found(orientation_id: uuid.UUID) -> NotFound:
    return NotFound(f"orientation {orientation_id} not found")


def _illegal(exc: IllegalOrientationTransition) -> Conflict:
    return Conflict(str(exc), current_status=exc.from_status, allowed=exc.allowed)


async def _orientation(
    session: AsyncSession, tenant: str, orientation_id: uuid.UUID, *, for_update: bool = False
) -> Orientation:
    item = await repo.get(session, tenant, orientation_id, for_update=for_update)
    if item is None:
        raise _not_found(orientation_id)
    return item


async def get_orientation(session: AsyncSession, identity: Identity, orientation_id: uuid.UUID) -> dict:
    """An accepted orientation leads to a person: its read goes to that person's access log."""
    async with session.begin():
        detail = await _detail(session, identity.tenant, orientation_id)
        if detail["participant_id"] is not None:
            await people.log_access(session, identity, [detail["participant_id"]], "orientation")
        return detail


async def _detail(session: AsyncSession, tenant: str, orientation_id: uuid.UUID) -> dict:
    item = await _orientation(session, tenant, orientation_id)
    return {**item.__dict__, "transitions": await repo.transitions(session, tenant, orientation_id)}


def encode_cursor(item: Orientation) -> str:
    raw = json.dumps([item.registered_on.isoformat(), str(item.id)]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[date, uuid.UUID]:
    try:
        on, some_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return date.fromisoformat(on), uuid.UUID(some_id)
    except (ValueError, TypeError, binascii.Error):
        raise service_layer.bad_cursor() from None


async def list_orientations(
    session: AsyncSession,
    identity: Identity,
    status: str | None,
    commune: str | None,
    rsa: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Orientation], str | None]:
    after = decode_cursor(cursor) if cursor else None
    async with session.begin():
        items, more = await repo.list_page(session, identity.tenant, status, commune, rsa, limit, after)
        led_to = [i.participant_id for i in items if i.participant_id is not None]
        await people.log_access(session, identity, led_to, "orientation_list")
    return items, encode_cursor(items[-1]) if more and items else None


async def accept_orientation(
    session: AsyncSession, identity: Identity, orientation_id: uuid.UUID, fields: dict, nir: str | None, nir_key: str
) -> tuple[dict, service_layer.Participant]:
    """Create the participant from the référent's data and the registration (location, ROME codes as
    skills, job seeker since the registration date unless given, RSA when France Travail said and
    the body did not), with its events; the orientation `accepted` with the participant id. One
    transaction: a failure anywhere leaves no participant, no event, the orientation pending."""
    tenant = identity.tenant
    participant = None
    try:
        async with session.begin():
            item = await _orientation(session, tenant, orientation_id, for_update=True)
            try:
                step = item.accept(uuid.uuid4(), identity.subject, datetime.now(UTC))  # the table first: 409
            except IllegalOrientationTransition as exc:
                raise _illegal(exc) from None
            if owner := await repo.participant_with_france_travail_id(session, tenant, item.france_travail_id):
                raise Conflict("A participant already carries this France Travail id.", existing_id=str(owner))
            fields = {**_participant_fields(item, fields), "id": item.participant_id}
            participant = service_layer.new_participant(tenant, fields, nir, nir_key)
            await service_layer.add_participant(session, participant)
            await repo.save(session, item)
            await repo.log_transition(session, item, step)
            detail = await _detail(session, tenant, orientation_id)
    except IntegrityError:  # a concurrent write won a unique constraint (NIR, France Travail id, status)
        hashed = participant.nir_hash if participant is not None else None
        if hashed and (existing := await people.find_by_nir_hash(session, tenant, hashed)):
            raise service_layer.nir_conflict(existing) from None
        raise Conflict("The orientation or the person changed meanwhile; nothing was written.") from None
    return detail, participant


def _participant_fields(item: Orientation, body: dict) -> dict:
    """The participant's fields: the body, completed from the registration."""
    fields = dict(body)
    fields["job_seeker_registered"] = True
    fields["france_travail_id"] = item.france_travail_id
    if fields.get("unemployed_since") is None:
        fields["unemployed_since"] = item.registered_on
    if fields.get("latitude") is None or fields.get("longitude") is None:
        if item.latitude is None or item.longitude is None:
            message = "required: France Travail gave no location for this registration"
            raise Unprocessable(
                "The request is invalid.",
                errors=[{"field": name, "in": "body", "message": message} for name in ("latitude", "longitude")
                        if fields.get(name) is None],
            )  # fmt: skip
        fields["latitude"], fields["longitude"] = item.latitude, item.longitude
    if fields.get("commune_insee") is None:
        fields["commune_insee"] = item.commune_insee
    if fields.get("rsa") is None:
        fields["rsa"] = bool(item.rsa)
    fields["skills"] = list(dict.fromkeys([*(fields.get("skills") or []), *item.rome_codes]))
    return fields


async def dismiss_orientation(
    session: AsyncSession, identity: Identity, orientation_id: uuid.UUID, reason: str
) -> dict:
    async with session.begin():
        item = await _orientation(session, identity.tenant, orientation_id, for_update=True)
        try:
            step = item.dismiss(reason, identity.subject, datetime.now(UTC))
        except IllegalOrientationTransition as exc:
            raise _illegal(exc) from None
        await repo.save(session, item)
        await repo.log_transition(session, item, step)
        return await _detail(session, identity.tenant, orientation_id)
