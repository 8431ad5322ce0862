"""Use cases of offers and applications. Each runs in one transaction: the state change, its transition
log rows and its events (outbox) commit together, or nothing does.

France Travail intake: the import endpoint and the `inbound.france-travail` consumer both check a
record against its contract (`FranceTravailOffre`) and apply it with `apply_france_travail_offer`,
idempotent by (tenant, source, external id): a second delivery updates, never duplicates.
"""

import base64
import binascii
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import (
    CloudEvent,
    FranceTravailOffre,
    FranceTravailOffreClosedV1,
    FranceTravailOffrePublishedV1,
    FranceTravailOffreUpdatedV1,
    PlacementHiredV1,
)
from tremplin_shared.identity import Identity
from tremplin_shared.messaging import outbox
from tremplin_shared.problems import Conflict, NotFound, Unprocessable

from .adapters import applications_repository as applications
from .adapters import france_travail
from .adapters import offers_repository as offers
from .adapters.offers_repository import OfferFilters
from .adapters.projection import get_candidate
from .api.schemas import ApplicationIn, OfferIn, OfferPatch, TransitionIn
from .domain import applications as machine
from .domain.days import period_bounds
from .domain.offers import InvalidPositions, can_hire, hires_made, resize, status_for

SOURCE = "/tremplin/matching"
MAX_IMPORT_RECORDS = 1000
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future an `at` may be (clocks differ)


def now() -> datetime:
    return datetime.now(UTC)


def invalid(*errors: tuple[str, str], where: str = "body") -> Unprocessable:
    return Unprocessable("The request is invalid.", errors=[{"field": f, "in": where, "message": m} for f, m in errors])


# ---------------------------------------------------------------------------------------------- offers
def _offer_values(body: OfferIn) -> dict:
    return {
        "title": body.title,
        "employer_name": body.employer.name,
        "employer_siret": body.employer.siret,
        "rome_code": body.rome_code,
        "skills": list(body.skills),
        "latitude": body.location.latitude,
        "longitude": body.location.longitude,
        "commune_insee": body.location.commune_insee,
        "contract_type": body.contract_type,
        "weekly_hours": body.weekly_hours,
        "positions": body.positions,
        "start_date": body.start_date,
        "requires_driving_licence": body.requirements.driving_licence,
        "night": body.schedule.night,
        "weekend": body.schedule.weekend,
        "early": body.schedule.early,
        "clause_lot_id": body.clause_lot_id,
    }


async def create_offer(session: AsyncSession, identity: Identity, body: OfferIn) -> dict:
    at = now()
    offer_id = uuid.uuid4()
    async with session.begin():
        await offers.insert(
            session,
            {
                "id": offer_id,
                "tenant": identity.tenant,
                **_offer_values(body),
                "open_positions": body.positions,
                "status": "open",
                "created_at": at,
                "updated_at": at,
            },
        )
    return await get_offer(session, identity, offer_id)


async def get_offer(session: AsyncSession, identity: Identity, offer_id: uuid.UUID) -> dict:
    offer = await offers.get(session, identity.tenant, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} not found")
    return offer


# Columns a PATCH may set to null; the others must keep a value.
_NULLABLE = {"rome_code", "weekly_hours", "start_date", "clause_lot_id", "location.commune_insee"}
_COLUMN = {
    "employer.name": "employer_name",
    "employer.siret": "employer_siret",
    "location.latitude": "latitude",
    "location.longitude": "longitude",
    "location.commune_insee": "commune_insee",
    "requirements.driving_licence": "requires_driving_licence",
    "schedule.night": "night",
    "schedule.weekend": "weekend",
    "schedule.early": "early",
}


def _patch_changes(patch: OfferPatch) -> dict[str, Any]:
    """{field path: value} of what the PATCH sets, nested objects flattened; nulls checked."""
    changes: dict[str, Any] = {}
    nulls = []
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if name in ("employer", "location", "requirements", "schedule"):
            if value is None:
                nulls.append(name)
                continue
            for sub in value.model_fields_set:
                changes[f"{name}.{sub}"] = getattr(value, sub)
        else:
            changes[name] = value
    nulls += [path for path, value in changes.items() if value is None and path not in _NULLABLE]
    if nulls:
        raise invalid(*[(path, "may not be null") for path in sorted(nulls)])
    return changes


async def patch_offer(session: AsyncSession, identity: Identity, offer_id: uuid.UUID, patch: OfferPatch) -> dict:
    changes = _patch_changes(patch)
    async with session.begin():
        offer = await offers.get(session, identity.tenant, offer_id, for_update=True)
        if offer is None:
            raise NotFound(f"offer {offer_id} not found")
        values = {_COLUMN.get(path, path): value for path, value in changes.items() if path != "status"}
        open_positions = offer["open_positions"]
        if "positions" in values:
            try:
                open_positions = resize(offer["positions"], offer["open_positions"], values["positions"])
            except InvalidPositions as exc:
                raise invalid(("positions", str(exc))) from None
            values["open_positions"] = open_positions
        closed = offer["status"] == "closed"
        if "status" in changes:
            closed = changes["status"] == "closed"
        values["status"] = status_for(open_positions, closed)
        values["updated_at"] = now()
        await offers.update(session, identity.tenant, offer_id, values)
    return await get_offer(session, identity, offer_id)


def _encode_cursor(created_at: datetime, offer_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(offer_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, offer_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), uuid.UUID(offer_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise invalid(("cursor", "not a cursor this API gave"), where="query") from None


async def list_offers(
    session: AsyncSession, identity: Identity, filters: OfferFilters, limit: int, cursor: str | None
) -> tuple[list[dict], str | None]:
    after = _decode_cursor(cursor) if cursor else None
    rows = await offers.list_page(session, identity.tenant, filters, limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, _encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more and rows else None


# ------------------------------------------------------------------------------- France Travail intake
async def apply_france_travail_offer(session: AsyncSession, tenant: str, offre: FranceTravailOffre) -> str:
    """Create or update the offer of that external id, inside the caller's transaction.
    Returns "created" or "updated". Hires made here are kept: if the source now asks for fewer positions
    than were filled here, positions stay at the hires made (nothing open). A closed offer stays closed."""
    fields = france_travail.offer_fields(offre)
    at = now()
    source, external_id = fields["external_source"], fields["external_id"]
    existing = await offers.find_external(session, tenant, source, external_id, for_update=True)
    if existing is None:
        created = await offers.insert_external_if_absent(
            session,
            {"id": uuid.uuid4(), "tenant": tenant, **fields, "open_positions": fields["positions"],
             "status": "open", "created_at": at, "updated_at": at},
        )  # fmt: skip
        if created:
            return "created"
        existing = await offers.find_external(session, tenant, source, external_id, for_update=True)
    hires = hires_made(existing["positions"], existing["open_positions"])
    positions = max(fields["positions"], hires)
    open_positions = positions - hires
    values = {**fields, "positions": positions, "open_positions": open_positions, "updated_at": at,
              "status": status_for(open_positions, existing["status"] == "closed")}  # fmt: skip
    await offers.update(session, tenant, existing["id"], values)
    return "updated"


async def close_france_travail_offer(session: AsyncSession, tenant: str, external_id: str) -> bool:
    existing = await offers.find_external(session, tenant, france_travail.SOURCE, external_id, for_update=True)
    if existing is None:
        return False  # never heard of it here: nothing to close
    if existing["status"] != "closed":
        await offers.update(session, tenant, existing["id"], {"status": "closed", "updated_at": now()})
    return True


def _records_of(payload: Any) -> list:
    if isinstance(payload, list):
        records = payload
    elif isinstance(payload, dict) and isinstance(payload.get("resultats"), list):
        records = payload["resultats"]
    else:
        raise invalid(("resultats", 'expected {"resultats": [offers]} or a list of offers'))
    if len(records) > MAX_IMPORT_RECORDS:
        raise invalid(("resultats", f"at most {MAX_IMPORT_RECORDS} offers per request"))
    return records


def _external_id_of(record: Any) -> str | None:
    if isinstance(record, dict) and isinstance(record.get("id"), str | int) and not isinstance(record["id"], bool):
        return str(record["id"])
    return None


async def import_france_travail(session: AsyncSession, identity: Identity, payload: Any) -> dict:
    """Every valid record is applied (one transaction); each invalid one gets its error entries."""
    records = _records_of(payload)
    valid: list[FranceTravailOffre] = []
    errors: list[dict] = []
    for index, record in enumerate(records):
        try:
            valid.append(FranceTravailOffre.model_validate(record))
        except ValidationError as exc:
            external_id = _external_id_of(record)
            for error in exc.errors():
                field = ".".join(str(p) for p in error.get("loc", ()))
                errors.append({"index": index, "external_id": external_id, "field": field, "message": error["msg"]})
    counts = {"created": 0, "updated": 0}
    if valid:
        async with session.begin():
            for offre in valid:
                counts[await apply_france_travail_offer(session, identity.tenant, offre)] += 1
    return {**counts, "errors": errors}


async def on_france_travail_offer(session: AsyncSession, event: CloudEvent, data: FranceTravailOffre) -> None:
    await apply_france_travail_offer(session, event.tenant, data)


async def on_france_travail_closed(session: AsyncSession, event: CloudEvent, data: FranceTravailOffreClosedV1) -> None:
    await close_france_travail_offer(session, event.tenant, data.id)


FRANCE_TRAVAIL_HANDLERS = {
    FranceTravailOffrePublishedV1.ce_type: on_france_travail_offer,
    FranceTravailOffreUpdatedV1.ce_type: on_france_travail_offer,
    FranceTravailOffreClosedV1.ce_type: on_france_travail_closed,
}


# ---------------------------------------------------------------------------------------- applications
def _check_at(at: datetime, at_now: datetime, after: datetime | None = None) -> None:
    if at > at_now + CLOCK_SKEW:
        raise invalid(("at", "is in the future"))
    if after is not None and at < after:
        raise invalid(("at", f"is before the application's last transition ({after.isoformat()})"))


async def create_application(session: AsyncSession, identity: Identity, body: ApplicationIn) -> dict:
    at_now = now()
    at = body.at.astimezone(UTC) if body.at else at_now  # stored in UTC (SQLite keeps no offset)
    _check_at(at, at_now)
    application_id = uuid.uuid4()
    try:
        async with session.begin():
            offer = await offers.get(session, identity.tenant, body.offer_id, for_update=True)
            if offer is None:
                raise NotFound(f"offer {body.offer_id} not found")
            if await get_candidate(session, identity.tenant, body.participant_id) is None:
                raise NotFound(f"participant {body.participant_id} is not a candidate in this territory")
            if offer["status"] != "open":
                raise Conflict(f"offer {body.offer_id} is {offer['status']}", offer_status=offer["status"])
            if existing := await applications.find_active(session, identity.tenant, body.participant_id, offer["id"]):
                raise _already_applied(existing["id"])
            await applications.insert(
                session,
                {"id": application_id, "tenant": identity.tenant, "participant_id": body.participant_id,
                 "offer_id": body.offer_id, "state": machine.INITIAL, "created_at": at_now, "updated_at": at_now},
            )  # fmt: skip
            await applications.log_transition(
                session,
                {"tenant": identity.tenant, "application_id": application_id, "from_state": None,
                 "to_state": machine.INITIAL, "at": at, "actor": identity.subject, "reason": body.reason,
                 "recorded_at": at_now},
            )  # fmt: skip
    except IntegrityError:  # a concurrent request created the same active application
        async with session.begin():
            existing = await applications.find_active(session, identity.tenant, body.participant_id, body.offer_id)
        raise _already_applied(existing["id"] if existing else None) from None
    return await get_application(session, identity, application_id)


def _already_applied(existing_id: uuid.UUID | None) -> Conflict:
    extra = {"existing_application_id": str(existing_id)} if existing_id else {}
    return Conflict("This participant already has an active application on this offer.", **extra)


async def transition_application(
    session: AsyncSession, identity: Identity, application_id: uuid.UUID, body: TransitionIn
) -> dict:
    at_now = now()
    at = body.at.astimezone(UTC) if body.at else at_now
    hired_event = None
    async with session.begin():
        application = await applications.get(session, identity.tenant, application_id)
        if application is None:
            raise NotFound(f"application {application_id} not found")
        try:
            machine.check_transition(application["state"], body.to)
        except machine.IllegalTransition as exc:
            raise Conflict(str(exc), state=exc.from_state, allowed=exc.allowed) from None
        _check_at(at, at_now, await applications.last_transition_at(session, identity.tenant, application_id))
        values: dict[str, Any] = {"state": body.to, "updated_at": at_now}
        if body.to == "hired":
            try:
                machine.check_hire_fields(body.start_date, body.contract_type, body.weekly_hours)
            except machine.MissingHireFields as exc:
                raise invalid(*exc.errors) from None
            offer = await offers.get(session, identity.tenant, application["offer_id"], for_update=True)
            if not can_hire(offer["status"], offer["open_positions"]):
                raise Conflict(f"offer {offer['id']} is {offer['status']}: no open position left to hire on",
                               offer_status=offer["status"])  # fmt: skip
            if offer["employer_siret"] is None:
                raise Conflict(f"offer {offer['id']} has no employer SIRET: set it (PATCH the offer) before a hire")
            offer = await offers.take_position(session, identity.tenant, offer["id"], at_now)
            if offer is None:  # taken meanwhile by a concurrent hire
                raise Conflict("the offer's last open position was just taken", offer_status="filled")
            # The offer's SIRET and lot are copied: a later PATCH of the offer must not rewrite the hire.
            values |= {"start_date": body.start_date, "contract_type": body.contract_type,
                       "weekly_hours": body.weekly_hours, "employer_siret": offer["employer_siret"],
                       "clause_lot_id": offer["clause_lot_id"]}  # fmt: skip
            hired_event = PlacementHiredV1(
                application_id=application_id,
                participant_id=application["participant_id"],
                offer_id=offer["id"],
                employer_siret=values["employer_siret"],
                contract_type=values["contract_type"],
                start_date=values["start_date"],
                weekly_hours=values["weekly_hours"],
                clause_lot_id=values["clause_lot_id"],
            )
        if not await applications.move(session, identity.tenant, application_id, application["state"], values):
            raise Conflict("the application changed meanwhile; read it again", state=application["state"])
        await applications.log_transition(
            session,
            {"tenant": identity.tenant, "application_id": application_id, "from_state": application["state"],
             "to_state": body.to, "at": at, "actor": identity.subject, "reason": body.reason, "recorded_at": at_now},
        )  # fmt: skip
        if hired_event is not None:
            await outbox.add_event(session, hired_event, tenant=identity.tenant, source=SOURCE)
    return await get_application(session, identity, application_id)


async def _with_transitions(session: AsyncSession, tenant: str, rows: list[dict]) -> list[dict]:
    logs = await applications.transitions_of(session, tenant, [r["id"] for r in rows])
    return [{**row, "transitions": logs[row["id"]]} for row in rows]


async def get_application(session: AsyncSession, identity: Identity, application_id: uuid.UUID) -> dict:
    row = await applications.get(session, identity.tenant, application_id)
    if row is None:
        raise NotFound(f"application {application_id} not found")
    return (await _with_transitions(session, identity.tenant, [row]))[0]


async def list_offer_applications(session: AsyncSession, identity: Identity, offer_id: uuid.UUID) -> list[dict]:
    await get_offer(session, identity, offer_id)
    rows = await applications.list_for(session, identity.tenant, offer_id=offer_id)
    return await _with_transitions(session, identity.tenant, rows)


async def list_participant_applications(
    session: AsyncSession, identity: Identity, participant_id: uuid.UUID
) -> list[dict]:
    rows = await applications.list_for(session, identity.tenant, participant_id=participant_id)
    if not rows and await get_candidate(session, identity.tenant, participant_id) is None:
        raise NotFound(f"participant {participant_id} not found")
    return await _with_transitions(session, identity.tenant, rows)


# ---------------------------------------------------------------------------------------------- funnel
async def funnel(session: AsyncSession, identity: Identity, start: date, end: date) -> dict:
    """Counts for the days [start, end], both included, Paris days (any date: see period_bounds)."""
    if end < start:
        raise invalid(("to", "must not be before from"), where="query")
    lower, upper = period_bounds(start, end)
    return {
        "from": start,
        "to": end,
        "offers_created": await offers.count_created(session, identity.tenant, lower, upper),
        "participants_positioned": await applications.count_participants_positioned(
            session, identity.tenant, lower, upper
        ),
        "hires": await applications.count_hires(session, identity.tenant, lower, upper),
    }
