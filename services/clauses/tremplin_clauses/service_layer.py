"""Use cases of the clause ledger. Each runs in one transaction: the state change and its events
(outbox) commit together, or nothing does.

Markets come with their lots; placements tie a participant to a lot (eligibility at the placement's
start, from the dated flags of the participants projection, or a facilitator's override); hours are
declared per lot, participant and month, then validated or rejected by a facilitator; a lot whose
validated hours reach its required hours is completed (once). A hire from matching on an offer linked
to a lot creates the placement.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import CloudEvent, PlacementHiredV1
from tremplin_shared.events.clauses import (
    ClauseHoursValidatedV1,
    ClauseLotCompletedV1,
    ClauseLotSummary,
    ClauseMarketCreatedV1,
    ClausePlacementCreatedV1,
)
from tremplin_shared.identity import Identity
from tremplin_shared.messaging import outbox
from tremplin_shared.problems import Conflict, Forbidden, NotFound, Unprocessable

from .adapters import idempotency
from .adapters import repository as repo
from .adapters.projection import eligibility_on, get_known, record_hire
from .api.schemas import CalculatorIn, HoursIn, LotPatch, MarketIn, MarketPatch, PlacementIn
from .domain import calculator, eligibility
from .domain import hours as ledger
from .domain.progress import completed, lot_progress, market_progress

SOURCE = "/tremplin/clauses"
FACILITATOR = ("facilitator", "admin")
log = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


def invalid(*errors: tuple[str, str], where: str = "body", **extra: Any) -> Unprocessable:
    return Unprocessable(
        "The request is invalid.", errors=[{"field": f, "in": where, "message": m} for f, m in errors], **extra
    )


def is_facilitator(identity: Identity) -> bool:
    return identity.has_role(*FACILITATOR)


# ---------------------------------------------------------------------------------------- idempotency
# `stage(session, resource id)`: called by a creation inside its transaction (see `idempotent`).
Stage = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]


async def idempotent(
    session: AsyncSession,
    identity: Identity,
    scope: str,
    key: str | None,
    body: BaseModel,
    create: Callable[[Stage | None], Awaitable[dict]],
    read: Callable[[uuid.UUID], Awaitable[dict]],
) -> dict:
    """Run `create` once per Idempotency-Key (per tenant and scope): a repeated request with the same
    body gets what the first created (its current state); the key with another body is a 422."""
    if not key:
        return await create(None)
    digest = idempotency.request_hash(body.model_dump(mode="json"))

    async def replay() -> uuid.UUID | None:
        async with session.begin():
            found = await idempotency.find(session, identity.tenant, scope, key)
        if found is None:
            return None
        if found["request_hash"] != digest:
            raise invalid(("idempotency-key", "already used for another request"), where="header")
        return found["resource_id"]

    if (done := await replay()) is not None:
        return await read(done)

    async def stage(s: AsyncSession, resource_id: uuid.UUID) -> None:
        await idempotency.remember(s, identity.tenant, scope, key, digest, resource_id)

    try:
        return await create(stage)
    except (IntegrityError, Conflict, Unprocessable):  # a twin with the same key committed first (or its
        # entry now makes this one a duplicate, or over the cap): give back what the twin created
        if (done := await replay()) is not None:
            return await read(done)
        raise


# --------------------------------------------------------------------------------------------- markets
def _check_lots(lots: list, prefix: str = "lots") -> None:
    errors, seen = [], {}
    for i, lot in enumerate(lots):
        if lot.end_date < lot.start_date:
            errors.append((f"{prefix}.{i}.end_date", "must not be before start_date"))
        if lot.number in seen:
            errors.append(
                (f"{prefix}.{i}.number", f"lot {lot.number} is given twice (also at {prefix}.{seen[lot.number]})")
            )
        seen.setdefault(lot.number, i)
    if errors:
        raise invalid(*errors)


async def create_market(session: AsyncSession, identity: Identity, body: MarketIn, stage: Stage | None = None) -> dict:
    _check_lots(body.lots)
    at = now()
    market_id = uuid.uuid4()
    try:
        async with session.begin():
            if await repo.market_reference_taken(session, identity.tenant, body.reference):
                raise _reference_taken(body.reference)
            await repo.insert_market(
                session,
                {
                    "id": market_id,
                    "tenant": identity.tenant,
                    "reference": body.reference,
                    "title": body.title,
                    "legal_basis": body.legal_basis,
                    "buyer_name": body.buyer.name,
                    "buyer_siret": body.buyer.siret,
                    "buyer_kind": body.buyer.kind,
                    "created_at": at,
                    "updated_at": at,
                },
            )
            summaries = []
            for lot in body.lots:
                lot_id = uuid.uuid4()
                await repo.insert_lot(
                    session,
                    {
                        "id": lot_id,
                        "tenant": identity.tenant,
                        "market_id": market_id,
                        "number": lot.number,
                        "title": lot.title,
                        "contractor_name": lot.contractor.name,
                        "contractor_siret": lot.contractor.siret,
                        "required_hours": lot.required_hours,
                        "start_date": lot.start_date,
                        "end_date": lot.end_date,
                    },
                )
                summaries.append(
                    ClauseLotSummary(
                        lot_id=lot_id,
                        number=lot.number,
                        contractor_siret=lot.contractor.siret,
                        required_hours=lot.required_hours,
                        start_date=lot.start_date,
                        end_date=lot.end_date,
                    )
                )
            event = ClauseMarketCreatedV1(
                market_id=market_id,
                reference=body.reference,
                buyer_siret=body.buyer.siret,
                buyer_kind=body.buyer.kind,
                lots=summaries,
                created_at=at,
            )
            await outbox.add_event(session, event, tenant=identity.tenant, source=SOURCE)
            if stage:
                await stage(session, market_id)
    except IntegrityError:  # the same reference created concurrently
        raise _reference_taken(body.reference) from None
    return await get_market(session, identity, market_id)


def _reference_taken(reference: str) -> Conflict:
    return Conflict(f"a market with the reference {reference!r} already exists in this territory")


async def get_market(session: AsyncSession, identity: Identity, market_id: uuid.UUID) -> dict:
    market = await repo.get_market(session, identity.tenant, market_id)
    if market is None:
        raise NotFound(f"market {market_id} not found")
    market["lots"] = (await repo.lots_of(session, identity.tenant, [market_id]))[market_id]
    return market


async def list_markets(
    session: AsyncSession, identity: Identity, buyer_siret: str | None, limit: int, offset: int
) -> list[dict]:
    markets = await repo.list_markets(session, identity.tenant, buyer_siret, limit, offset)
    lots = await repo.lots_of(session, identity.tenant, [m["id"] for m in markets])
    return [{**m, "lots": lots[m["id"]]} for m in markets]


def _nulls(patch, nullable: set[str], nested: tuple[str, ...]) -> dict[str, Any]:
    """{field path: value} of what a PATCH sets, nested objects flattened; refused nulls are a 422."""
    changes: dict[str, Any] = {}
    nulls = []
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if name in nested:
            if value is None:
                nulls.append(name)
                continue
            for sub in value.model_fields_set:
                changes[f"{name}.{sub}"] = getattr(value, sub)
        else:
            changes[name] = value
    nulls += [path for path, value in changes.items() if value is None and path not in nullable]
    if nulls:
        raise invalid(*[(path, "may not be null") for path in sorted(nulls)])
    return changes


_MARKET_COLUMN = {"buyer.name": "buyer_name", "buyer.siret": "buyer_siret", "buyer.kind": "buyer_kind"}
_LOT_COLUMN = {"contractor.name": "contractor_name", "contractor.siret": "contractor_siret"}


async def patch_market(session: AsyncSession, identity: Identity, market_id: uuid.UUID, patch: MarketPatch) -> dict:
    changes = _nulls(patch, {"legal_basis"}, ("buyer",))
    try:
        async with session.begin():
            market = await repo.get_market(session, identity.tenant, market_id, for_update=True)
            if market is None:
                raise NotFound(f"market {market_id} not found")
            reference = changes.get("reference")
            if reference is not None and await repo.market_reference_taken(
                session, identity.tenant, reference, except_id=market_id
            ):
                raise _reference_taken(reference)
            values = {_MARKET_COLUMN.get(path, path): value for path, value in changes.items()}
            values["updated_at"] = now()
            await repo.update_market(session, identity.tenant, market_id, values)
    except IntegrityError:
        raise _reference_taken(changes.get("reference", "")) from None
    return await get_market(session, identity, market_id)


async def get_lot(session: AsyncSession, identity: Identity, lot_id: uuid.UUID, *, for_update=False) -> dict:
    lot = await repo.get_lot(session, identity.tenant, lot_id, for_update=for_update)
    if lot is None:
        raise NotFound(f"lot {lot_id} not found")
    return lot


async def patch_lot(session: AsyncSession, identity: Identity, lot_id: uuid.UUID, patch: LotPatch) -> dict:
    changes = _nulls(patch, set(), ("contractor",))
    async with session.begin():
        lot = await get_lot(session, identity, lot_id, for_update=True)
        values = {_LOT_COLUMN.get(path, path): value for path, value in changes.items()}
        start, end = values.get("start_date", lot["start_date"]), values.get("end_date", lot["end_date"])
        if end < start:
            raise invalid(("end_date" if "end_date" in values else "start_date", "the lot would end before it starts"))
        if values:
            await repo.update_lot(session, identity.tenant, lot_id, values)
            await repo.update_market(session, identity.tenant, lot["market_id"], {"updated_at": now()})
        if "required_hours" in values:
            await _complete_if_reached(session, identity.tenant, {**lot, **values})
    return await get_lot(session, identity, lot_id)


async def _complete_if_reached(session: AsyncSession, tenant: str, lot: dict) -> None:
    """Mark the lot completed and emit clause.lot.completed, the first time validated ≥ required."""
    if lot["completed_at"] is not None:
        return
    validated, _ = (await repo.lot_totals(session, tenant, [lot["id"]]))[lot["id"]]
    if not completed(validated, lot["required_hours"]):
        return
    at = now()
    await repo.update_lot(session, tenant, lot["id"], {"completed_at": at})
    event = ClauseLotCompletedV1(
        lot_id=lot["id"],
        market_id=lot["market_id"],
        required_hours=lot["required_hours"],
        validated_hours=validated,
        completed_at=at,
    )
    await outbox.add_event(session, event, tenant=tenant, source=SOURCE)


def calculate(body: CalculatorIn) -> dict:
    result = calculator.required_hours(
        body.amount_excl_tax, body.labour_share, body.hourly_labour_cost, body.clause_rate
    )
    return {
        "amount_excl_tax": result.amount_excl_tax,
        "labour_share": result.labour_share,
        "hourly_labour_cost": result.hourly_labour_cost,
        "clause_rate": result.clause_rate,
        "exact_hours": result.exact_hours,
        "required_hours": result.required_hours,
        "formula": result.formula,
    }


# ------------------------------------------------------------------------------------------ placements
async def _insert_placement(session: AsyncSession, tenant: str, lot: dict, values: dict) -> dict:
    """In the caller's transaction: the placement and its clause.placement.created event."""
    row = {"id": uuid.uuid4(), "tenant": tenant, "lot_id": lot["id"], "created_at": now(), **values}
    await repo.insert_placement(session, row)
    event = ClausePlacementCreatedV1(
        placement_id=row["id"],
        lot_id=lot["id"],
        market_id=lot["market_id"],
        participant_id=row["participant_id"],
        mode=row["mode"],
        contract_type=row["contract_type"],
        start_date=row["start_date"],
        eligible=row["eligible"],
        overridden=row.get("override_reason") is not None,
        application_id=row.get("application_id"),
    )
    await outbox.add_event(session, event, tenant=tenant, source=SOURCE)
    return row


async def create_placement(
    session: AsyncSession, identity: Identity, lot_id: uuid.UUID, body: PlacementIn, stage: Stage | None = None
) -> dict:
    try:
        async with session.begin():
            lot = await get_lot(session, identity, lot_id)
            known = await get_known(session, identity.tenant, body.participant_id)
            if known is None:
                raise NotFound(f"participant {body.participant_id} is not known in this territory")
            if body.start_date > lot["end_date"]:
                raise invalid(("start_date", f"after the lot's end ({lot['end_date']})"))
            at_start = await eligibility_on(session, identity.tenant, body.participant_id, body.start_date)
            clause_eligible = at_start.clause_eligible if at_start else None
            try:
                decision = eligibility.decide(clause_eligible, body.override_reason, is_facilitator(identity))
            except eligibility.OverrideNeedsFacilitator:
                raise Forbidden(
                    "Only a facilitator may give an override reason.", required_roles=["facilitator"]
                ) from None
            except eligibility.NotEligible:
                raise _not_eligible(body.start_date, at_start) from None
            if existing := await repo.find_placement(session, identity.tenant, lot_id, body.participant_id):
                raise _already_placed(existing["id"])
            row = await _insert_placement(
                session,
                identity.tenant,
                lot,
                {
                    "participant_id": body.participant_id,
                    "mode": body.mode,
                    "contract_type": body.contract_type,
                    "start_date": body.start_date,
                    "eligible": decision.eligible,
                    "eligibility_computed_on": at_start.computed_on if at_start else None,
                    "override_reason": decision.override_reason,
                    "override_by": identity.subject if decision.override_reason else None,
                    "source": "api",
                    "created_by": identity.subject,
                },
            )
            if stage:
                await stage(session, row["id"])
    except IntegrityError:
        async with session.begin():
            existing = await repo.find_placement(session, identity.tenant, lot_id, body.participant_id)
        raise _already_placed(existing["id"] if existing else None) from None
    return await repo.get_placement(session, identity.tenant, row["id"])


def _not_eligible(start: date, at_start: eligibility.Computation | None) -> Unprocessable:
    if at_start is None:
        why = "is not known to be clause-eligible (no flags heard of)"
    else:
        when = "the earliest known, after the start" if at_start.computed_on > start else "in force then"
        why = f"is not clause-eligible at the start, {start} (flags computed on {at_start.computed_on}, {when})"
    return invalid(
        ("participant_id", f"the participant {why}; a facilitator may place them with an override_reason"),
        flags_computed_on=str(at_start.computed_on) if at_start else None,
    )


def _already_placed(existing_id: uuid.UUID | None) -> Conflict:
    extra = {"existing_placement_id": str(existing_id)} if existing_id else {}
    return Conflict("This participant is already placed on this lot.", **extra)


async def list_placements(session: AsyncSession, identity: Identity, lot_id: uuid.UUID) -> list[dict]:
    await get_lot(session, identity, lot_id)
    return await repo.placements_of_lot(session, identity.tenant, lot_id)


async def get_placement(session: AsyncSession, identity: Identity, placement_id: uuid.UUID) -> dict:
    placement = await repo.get_placement(session, identity.tenant, placement_id)
    if placement is None:
        raise NotFound(f"placement {placement_id} not found")
    return placement


async def override_placement(session: AsyncSession, identity: Identity, placement_id: uuid.UUID, reason: str) -> dict:
    """A facilitator's override on a placement made by a hire for someone not known as eligible."""
    async with session.begin():
        placement = await repo.get_placement(session, identity.tenant, placement_id, for_update=True)
        if placement is None:
            raise NotFound(f"placement {placement_id} not found")
        if eligibility.stands(placement["eligible"], placement["override_reason"]):
            raise Conflict("this placement needs no override", eligible=placement["eligible"],
                           override_reason=placement["override_reason"])  # fmt: skip
        await repo.update_placement(session, identity.tenant, placement_id,
                                    {"override_reason": reason, "override_by": identity.subject})  # fmt: skip
    return await repo.get_placement(session, identity.tenant, placement_id)


def mode_of_hire(contract_type: str) -> str:
    """A hire through matching is a direct hire by the employer, or temporary work for an interim contract."""
    return "temp_work_ett" if contract_type == "interim" else "direct_hire"


async def on_placement_hired(session: AsyncSession, event: CloudEvent, data: PlacementHiredV1) -> None:
    """Keep the hire (outcomes); on an offer linked to a lot of this territory, place the person on it.

    Idempotent by application id; nothing when the lot is unknown here or the person is already on it.
    The placement records whether the person was eligible at its start, as far as known (the flags in
    force at the hire's start date; they may come later and fill it in): a hire is a fact, not a request."""
    await record_hire(session, event, data)
    if data.clause_lot_id is None:
        return
    lot = await repo.get_lot(session, event.tenant, data.clause_lot_id)
    if lot is None:
        log.warning("hire on an unknown clause lot", extra={"fields": {"lot_id": str(data.clause_lot_id)}})
        return
    if await repo.placement_of_application(session, event.tenant, data.application_id) is not None:
        return
    if await repo.find_placement(session, event.tenant, lot["id"], data.participant_id) is not None:
        return
    at_start = await eligibility_on(session, event.tenant, data.participant_id, data.start_date)
    await _insert_placement(
        session,
        event.tenant,
        lot,
        {
            "participant_id": data.participant_id,
            "mode": mode_of_hire(data.contract_type),
            "contract_type": data.contract_type,
            "start_date": data.start_date,
            "eligible": at_start.clause_eligible if at_start else None,
            "eligibility_computed_on": at_start.computed_on if at_start else None,
            "override_reason": None,
            "override_by": None,
            "source": "hire",
            "application_id": data.application_id,
            "created_by": event.source,
        },
    )


MATCHING_HANDLERS = {PlacementHiredV1.ce_type: on_placement_hired}


# ----------------------------------------------------------------------------------------------- hours
class HoursRefused(Exception):
    """A declaration that may not be entered: (field, message) errors, and for the cap the other entries."""

    def __init__(self, errors: list[tuple[str, str]], status: int = 422, **extra: Any) -> None:
        super().__init__(errors)
        self.errors, self.status, self.extra = errors, status, extra


async def stage_hours(
    session: AsyncSession,
    tenant: str,
    actor: str | None,
    lot: dict,
    participant_id: uuid.UUID,
    month: date,
    hours: Decimal,
    mode: str | None = None,
    contract_type: str | None = None,
) -> dict:
    """In the caller's transaction: check and insert one declared entry (HoursRefused if it may not be).
    Entries staged earlier in the same transaction count against the cap (the CSV import relies on it).
    The month's mode and contract type are the placement's unless given (the person's contract changed)."""
    placement = await repo.find_placement(session, tenant, lot["id"], participant_id)
    if placement is None:
        raise HoursRefused([("participant_id", "this participant has no placement on this lot")])
    if not eligibility.stands(placement["eligible"], placement["override_reason"]):
        raise HoursRefused(
            [("participant_id", "the placement awaits a facilitator's override: the participant is not known as "
                                f"clause-eligible (POST /api/v1/clauses/placements/{placement['id']}/override)")],
            status=409, placement_id=str(placement["id"]),
        )  # fmt: skip
    if why := ledger.check_month_in_period(month, lot["start_date"], lot["end_date"], placement["start_date"]):
        raise HoursRefused([("month", why)])
    await repo.lock_participant(session, tenant, participant_id)
    others = await repo.entries_of_month(session, tenant, participant_id, month)
    try:
        ledger.check_monthly_cap(month, hours, others)
    except ledger.CapExceeded as exc:
        raise HoursRefused(
            [("hours", exc.message)],
            other_entries=[
                {"id": str(e.id), "lot_id": str(e.lot_id), "hours": str(e.hours), "status": e.status}
                for e in exc.others
            ],
        ) from None
    row = {
        "id": uuid.uuid4(),
        "tenant": tenant,
        "lot_id": lot["id"],
        "placement_id": placement["id"],
        "participant_id": participant_id,
        "month": month,
        "hours": hours,
        "mode": mode or placement["mode"],
        "contract_type": contract_type or placement["contract_type"],
        "status": ledger.INITIAL,
        "declared_by": actor,
        "declared_at": now(),
        "decided_by": None,
        "decided_at": None,
        "reason": None,
    }
    await repo.insert_hours(session, row)
    return row


async def declare_hours(
    session: AsyncSession, identity: Identity, lot_id: uuid.UUID, body: HoursIn, stage: Stage | None = None
) -> dict:
    async with session.begin():
        lot = await get_lot(session, identity, lot_id)
        try:
            row = await stage_hours(session, identity.tenant, identity.subject, lot, body.participant_id, body.month,
                                    body.hours, body.mode, body.contract_type)  # fmt: skip
        except HoursRefused as exc:
            if exc.status == 409:
                raise Conflict(exc.errors[0][1], **exc.extra) from None
            raise invalid(*exc.errors, **exc.extra) from None
        if stage:
            await stage(session, row["id"])
    return await get_hours(session, identity, row["id"])


async def get_hours(session: AsyncSession, identity: Identity, hours_id: uuid.UUID) -> dict:
    entry = await repo.get_hours(session, identity.tenant, hours_id)
    if entry is None:
        raise NotFound(f"hours entry {hours_id} not found")
    return entry


async def decide(
    session: AsyncSession, identity: Identity, hours_id: uuid.UUID, to: str, reason: str | None = None
) -> dict:
    """validated or rejected, by a facilitator (the router checks the role); 409 from a final status."""
    async with session.begin():
        entry = await repo.get_hours(session, identity.tenant, hours_id, for_update=True)
        if entry is None:
            raise NotFound(f"hours entry {hours_id} not found")
        try:
            ledger.check_transition(entry["status"], to)
        except ledger.IllegalTransition as exc:
            raise Conflict(str(exc), current_status=exc.from_status, allowed=exc.allowed) from None
        at = now()
        values = {"status": to, "decided_by": identity.subject, "decided_at": at, "reason": reason}
        if not await repo.decide_hours(session, identity.tenant, hours_id, entry["status"], values):
            raise Conflict("the entry was decided meanwhile; read it again")
        if to == "validated":
            lot = await repo.get_lot(session, identity.tenant, entry["lot_id"], for_update=True)
            event = ClauseHoursValidatedV1(
                hours_id=hours_id,
                lot_id=lot["id"],
                market_id=lot["market_id"],
                participant_id=entry["participant_id"],
                month=entry["month"],
                hours=entry["hours"],
                validated_at=at,
            )
            await outbox.add_event(session, event, tenant=identity.tenant, source=SOURCE)
            await _complete_if_reached(session, identity.tenant, lot)
    return await get_hours(session, identity, hours_id)


async def list_hours(
    session: AsyncSession, identity: Identity, lot_id: uuid.UUID, filters: dict, limit: int, offset: int
) -> list[dict]:
    """filters: status, month, participant_id (each optional)."""
    await get_lot(session, identity, lot_id)
    return await repo.hours_of_lot(session, identity.tenant, lot_id, **filters, limit=limit, offset=offset)


# -------------------------------------------------------------------------------------------- progress
async def progress(session: AsyncSession, identity: Identity, market_id: uuid.UUID, on: date) -> dict:
    market = await get_market(session, identity, market_id)
    totals = await repo.lot_totals(session, identity.tenant, [lot["id"] for lot in market["lots"]])
    lots, inputs = [], []
    for lot in market["lots"]:
        validated, pending = totals[lot["id"]]
        p = lot_progress(lot["required_hours"], validated, pending, lot["start_date"], lot["end_date"], on)
        inputs.append((lot["required_hours"], validated, pending, lot["start_date"], lot["end_date"]))
        lots.append(
            {
                "lot_id": lot["id"],
                "number": lot["number"],
                "title": lot["title"],
                "start_date": lot["start_date"],
                "end_date": lot["end_date"],
                **_progress_fields(p),
                "elapsed_share": p.elapsed_share,
            }
        )
    return {"market_id": market_id, "on": on, "lots": lots, "total": _progress_fields(market_progress(inputs, on))}


def _progress_fields(p) -> dict:
    return {
        "required": p.required,
        "validated": p.validated,
        "declared_pending": p.declared_pending,
        "expected": p.expected,
        "rate": p.rate,
        "behind": p.behind,
    }
