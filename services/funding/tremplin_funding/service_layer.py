"""Use cases of the funding service. Each runs in ONE transaction: the state change, its transition log
and ledger rows and its events (outbox) commit together, or nothing does.

Roles (checked by the routers): funds, conventions, workers, SMIC, runs, aids and payment batches are
the fund manager's; approving or rejecting a disbursement is a funder's, who must be another person
(identity.subject) than the one who prepared it — the four-eyes rule, refused with 403 even for admin.
"""

import csv
import io
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sepaxml import SepaTransfer
from sepaxml.validation import ValidationError as SepaValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.calendar import today_in_france
from tremplin_shared.db import upsert
from tremplin_shared.events import CloudEvent, ParcoursExitedV1, PlacementHiredV1, new_event
from tremplin_shared.events.funding import (
    BudgetBlockedV1,
    DisbursementApprovedV1,
    DisbursementPaidV1,
    DisbursementPreparedV1,
    FunderPart,
)
from tremplin_shared.identity import Identity
from tremplin_shared.messaging import outbox
from tremplin_shared.problems import Conflict, Forbidden, NotFound, Unprocessable

from .adapters import repository as repo
from .adapters.orm import (
    aid_beneficiaries,
    aid_payments,
    aid_schemes,
    conventions,
    disbursement_lines,
    disbursement_parts,
    disbursement_transitions,
    disbursements,
    envelopes,
    funders,
    funds,
    ledger,
    offsets,
    payment_batches,
    runs,
    smic_rates,
    worker_hours,
    workers,
)
from .api.schemas import (
    AidBeneficiaryIn,
    AidPaymentIn,
    AidSchemeIn,
    BatchIn,
    ConventionIn,
    FundIn,
    HoursIn,
    RunIn,
    WorkerIn,
    WorkerPatch,
)
from .domain import aids, netting
from .domain import disbursements as lifecycle
from .domain.cde import MAX_WEEKLY_HOURS, CdeLine, NoSmicRate, Period, hours_in, monthly_cde, present
from .domain.money import CENT, split, to_cent

SOURCE = "/tremplin/funding"
ZERO = Decimal("0.00")
LEDGER_CSV_MAX_ROWS = 100_000
ABSENT = CdeLine(ZERO, 0, ())  # a worker with no day present in the month


def now() -> datetime:
    return datetime.now(UTC)


def invalid(*errors: tuple[str, str], where: str = "body") -> Unprocessable:
    return Unprocessable("The request is invalid.", errors=[{"field": f, "in": where, "message": m} for f, m in errors])


def parse_period(text: str, field: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise invalid((field, str(exc))) from None


# ------------------------------------------------------------------------------------------------ funds
async def create_fund(session: AsyncSession, identity: Identity, body: FundIn) -> dict:
    fund_id = uuid.uuid4()
    async with session.begin():
        await repo.insert(session, funds, {
            "id": fund_id, "tenant": identity.tenant, "name": body.name, "kind": body.kind,
            "payer_name": body.payer.name, "payer_iban": body.payer.iban, "payer_bic": body.payer.bic,
            "created_at": now(), "created_by": identity.subject,
        })  # fmt: skip
        await repo.insert(session, funders, [
            {"id": uuid.uuid4(), "tenant": identity.tenant, "fund_id": fund_id, "name": f.name, "share": f.share,
             "position": i} for i, f in enumerate(body.funders)
        ])  # fmt: skip
        await repo.insert(session, envelopes, [
            {"tenant": identity.tenant, "fund_id": fund_id, "year": e.year, "amount": e.amount} for e in body.envelopes
        ])  # fmt: skip
    return await get_fund(session, identity, fund_id)


def _fund_out(fund: dict, fund_funders: list[dict], fund_envelopes: dict) -> dict:
    return {
        **fund,
        "payer": {"name": fund["payer_name"], "iban": fund["payer_iban"], "bic": fund["payer_bic"]},
        "funders": fund_funders,
        "envelopes": [{"year": y, "amount": to_cent(a)} for y, a in sorted(fund_envelopes.items())],
    }


async def get_fund(session: AsyncSession, identity: Identity, fund_id: uuid.UUID) -> dict:
    fund = await repo.get_fund(session, identity.tenant, fund_id)
    if fund is None:
        raise NotFound(f"fund {fund_id} not found")
    fund_funders = await repo.funders_of(session, identity.tenant, [fund_id])
    fund_envelopes = await repo.envelopes_of(session, identity.tenant, [fund_id])
    return _fund_out(fund, fund_funders[fund_id], fund_envelopes[fund_id])


async def list_funds(session: AsyncSession, identity: Identity) -> list[dict]:
    rows = await repo.list_funds(session, identity.tenant)
    ids = [r["id"] for r in rows]
    fund_funders = await repo.funders_of(session, identity.tenant, ids)
    fund_envelopes = await repo.envelopes_of(session, identity.tenant, ids)
    return [_fund_out(r, fund_funders[r["id"]], fund_envelopes[r["id"]]) for r in rows]


async def set_envelope(session: AsyncSession, identity: Identity, fund_id: uuid.UUID, year: int, amount) -> dict:
    async with session.begin():
        if await repo.lock_fund(session, identity.tenant, fund_id) is None:
            raise NotFound(f"fund {fund_id} not found")
        await repo.set_envelope(session, identity.tenant, fund_id, year, amount)
    return await get_fund(session, identity, fund_id)


async def fund_budget(session: AsyncSession, identity: Identity, fund_id: uuid.UUID, year: int | None) -> dict:
    """Envelope, committed, paid and remaining per year, and the same per funder (the envelope split by
    share with the largest remainder)."""
    fund = await get_fund(session, identity, fund_id)
    sums = await repo.ledger_sums(session, identity.tenant, fund_id)
    by_year: dict[int, dict] = defaultdict(lambda: defaultdict(lambda: {"committed": ZERO, "paid": ZERO}))
    for y, funder_id, kind, total in sums:
        entry = by_year[y][funder_id]
        amount = Decimal(total or 0)
        if kind in ("committed", "released", "aid_paid"):
            entry["committed"] += amount
        if kind in ("paid", "aid_paid", "offset"):  # offsets: what was deducted from payments, not transferred
            entry["paid"] += amount
    envelope_of = {e["year"]: e["amount"] for e in fund["envelopes"]}
    years = sorted(set(envelope_of) | set(by_year))
    if year is not None:
        years = [year]
    result = []
    shares = [f["share"] for f in fund["funders"]]
    for y in years:
        envelope = to_cent(envelope_of.get(y, ZERO))
        cut = split(envelope, shares)
        rows = []
        for funder, funder_envelope in zip(fund["funders"], cut, strict=True):
            entry = by_year[y][funder["id"]]
            committed, paid = to_cent(entry["committed"]), to_cent(entry["paid"])
            rows.append({"funder_id": funder["id"], "name": funder["name"], "share": funder["share"],
                         "envelope": funder_envelope, "committed": committed, "paid": paid,
                         "remaining": funder_envelope - committed})  # fmt: skip
        committed = sum((r["committed"] for r in rows), ZERO)
        paid = sum((r["paid"] for r in rows), ZERO)
        result.append({"year": y, "envelope": envelope, "committed": committed, "paid": paid,
                       "remaining": envelope - committed, "funders": rows})  # fmt: skip
    return {"fund_id": fund_id, "years": result}


# ------------------------------------------------------------------------------------------ conventions
def _convention_out(row: dict, outstanding: Decimal) -> dict:
    return {
        **row,
        "outstanding": to_cent(outstanding),
        "beneficiary": {"name": row["beneficiary_name"], "siret": row["beneficiary_siret"],
                        "iban": row["beneficiary_iban"]},
        "period": {"start": row["start_date"], "end": row["end_date"]},
    }  # fmt: skip


async def create_convention(session: AsyncSession, identity: Identity, body: ConventionIn) -> dict:
    errors = []
    if body.kind == "cde" and body.cde_rate is None:
        errors.append(("cde_rate", "required for a cde convention"))
    if body.kind != "cde" and body.cde_rate is not None:
        errors.append(("cde_rate", "only a cde convention has a CDE rate"))
    if body.period.end is not None and body.period.end < body.period.start:
        errors.append(("period.end", "must not be before period.start"))
    if errors:
        raise invalid(*errors)
    convention_id = uuid.uuid4()
    async with session.begin():
        if await repo.get_fund(session, identity.tenant, body.fund_id) is None:
            raise invalid(("fund_id", "no such fund"))
        await repo.insert(session, conventions, {
            "id": convention_id, "tenant": identity.tenant, "fund_id": body.fund_id, "kind": body.kind,
            "beneficiary_name": body.beneficiary.name, "beneficiary_siret": body.beneficiary.siret,
            "beneficiary_iban": body.beneficiary.iban, "start_date": body.period.start, "end_date": body.period.end,
            "cde_rate": body.cde_rate, "created_at": now(),
        })  # fmt: skip
    return await get_convention(session, identity, convention_id)


async def get_convention(session: AsyncSession, identity: Identity, convention_id: uuid.UUID) -> dict:
    row = await repo.get_convention(session, identity.tenant, convention_id)
    if row is None:
        raise NotFound(f"convention {convention_id} not found")
    outstanding = await repo.outstanding_by_convention(session, identity.tenant, [convention_id])
    return _convention_out(row, outstanding[convention_id])


async def list_conventions(session: AsyncSession, identity: Identity, fund_id=None, siret=None, kind=None):
    rows = await repo.list_conventions(session, identity.tenant, fund_id=fund_id, beneficiary_siret=siret, kind=kind)
    outstanding = await repo.outstanding_by_convention(session, identity.tenant, [r["id"] for r in rows])
    return [_convention_out(r, outstanding[r["id"]]) for r in rows]


async def convention_outstanding(session: AsyncSession, identity: Identity, convention_id: uuid.UUID) -> dict:
    """The convention's approved negative adjustments (oldest first) with what batches deducted of each
    (offsets) and what is left, and the sum left: what the beneficiary still owes back (<= 0)."""
    await get_convention(session, identity, convention_id)
    rows = await repo.negative_adjustments(session, identity.tenant, [convention_id])
    by_adjustment: dict[uuid.UUID, list[dict]] = defaultdict(list)
    for row in await repo.offsets_where(session, identity.tenant, convention_id=convention_id):
        by_adjustment[row["disbursement_id"]].append(_offset_out(row))
    items = [{"disbursement_id": r["id"], "period": r["period"], "total": to_cent(r["total"]),
              "absorbed": to_cent(r["absorbed"]), "outstanding": to_cent(r["outstanding"]),
              "offsets": by_adjustment[r["id"]]} for r in rows]  # fmt: skip
    return {"convention_id": convention_id, "outstanding": sum((i["outstanding"] for i in items), ZERO), "items": items}


# ---------------------------------------------------------------------------------------------- workers
async def add_worker(session: AsyncSession, identity: Identity, convention_id: uuid.UUID, body: WorkerIn) -> dict:
    if body.end_date is not None and body.end_date < body.start_date:
        raise invalid(("end_date", "must not be before start_date"))
    worker_id = uuid.uuid4()
    async with session.begin():
        convention = await repo.lock_convention(session, identity.tenant, convention_id)
        if convention is None:
            raise NotFound(f"convention {convention_id} not found")
        if convention["kind"] != "cde":
            raise Conflict("only a cde convention has workers", kind=convention["kind"])
        twin = await repo.overlapping_worker(session, identity.tenant, convention_id, body.participant_id,
                                             body.start_date, body.end_date)  # fmt: skip
        if twin is not None:
            raise Conflict("this participant is already a worker of the convention on some of these days (the "
                           "CDE would be paid twice)", worker_id=str(twin["id"]))  # fmt: skip
        at = now()
        await repo.insert(session, workers, {
            "id": worker_id, "tenant": identity.tenant, "convention_id": convention_id,
            "participant_id": body.participant_id, "weekly_hours": body.weekly_hours, "start_date": body.start_date,
            "end_date": body.end_date, "source": "api", "application_id": None, "created_at": at, "updated_at": at,
        })  # fmt: skip
        await repo.insert(session, worker_hours, _hours_row(identity.tenant, worker_id, body.start_date,
                                                            body.weekly_hours, at, identity.subject))  # fmt: skip
    return await get_worker(session, identity, convention_id, worker_id)


def _hours_row(tenant: str, worker_id, valid_from: date, hours: Decimal, at: datetime, actor: str) -> dict:
    return {"tenant": tenant, "worker_id": worker_id, "valid_from": valid_from, "weekly_hours": hours,
            "recorded_at": at, "recorded_by": actor}  # fmt: skip


async def _workers_out(session: AsyncSession, tenant: str, rows: list[dict]) -> list[dict]:
    history = await repo.hours_of(session, tenant, worker_ids=[r["id"] for r in rows])
    return [
        {**r, "hours": [{"valid_from": h.valid_from, "weekly_hours": h.weekly_hours} for h in history[r["id"]]]
         or [{"valid_from": r["start_date"], "weekly_hours": r["weekly_hours"]}]}
        for r in rows
    ]  # fmt: skip


async def get_worker(session: AsyncSession, identity: Identity, convention_id, worker_id) -> dict:
    row = await repo.get_worker(session, identity.tenant, convention_id, worker_id)
    if row is None:
        raise NotFound(f"worker {worker_id} not found")
    return (await _workers_out(session, identity.tenant, [row]))[0]


async def list_workers(session: AsyncSession, identity: Identity, convention_id: uuid.UUID) -> list[dict]:
    await get_convention(session, identity, convention_id)
    return await _workers_out(session, identity.tenant, await repo.list_workers(session, identity.tenant,
                                                                                [convention_id]))  # fmt: skip


async def _set_hours(session, identity: Identity, worker: dict, valid_from: date, hours: Decimal, at) -> None:
    """Record (or correct) the hours in force from `valid_from`; the worker's weekly_hours is then the
    value of its latest change. Runs of the months concerned compute the difference as adjustments."""
    await upsert(session, worker_hours, _hours_row(identity.tenant, worker["id"], valid_from, hours, at,
                                                   identity.subject), key=["worker_id", "valid_from"])  # fmt: skip
    await _follow_latest_hours(session, identity.tenant, worker["id"], at)


async def _follow_latest_hours(session, tenant: str, worker_id, at) -> None:
    """The worker's weekly_hours: the value of its latest dated change, after one was set or withdrawn."""
    latest = (await repo.hours_of(session, tenant, worker_ids=[worker_id]))[worker_id][-1]
    await session.execute(
        sa.update(workers).where(workers.c.tenant == tenant, workers.c.id == worker_id)
        .values(weekly_hours=latest.weekly_hours, updated_at=at)
    )  # fmt: skip


async def record_hours(session, identity: Identity, convention_id, worker_id, body: HoursIn) -> dict:
    """A change of the worker's weekly hours from a day (not before their start: 422 on valid_from); the
    same day again corrects it. A month already run gets an adjustment at its next run, never an edit."""
    async with session.begin():
        await repo.lock_convention(session, identity.tenant, convention_id)
        worker = await repo.get_worker(session, identity.tenant, convention_id, worker_id)
        if worker is None:
            raise NotFound(f"worker {worker_id} not found")
        if body.valid_from < worker["start_date"]:
            raise invalid(("valid_from", f"must not be before the worker's start_date ({worker['start_date']})"))
        await _set_hours(session, identity, worker, body.valid_from, body.weekly_hours, now())
    return await get_worker(session, identity, convention_id, worker_id)


async def remove_hours(session, identity: Identity, convention_id, worker_id, valid_from: date) -> dict:
    """Withdraw a dated change of the worker's weekly hours (one recorded by mistake): the hours in force
    before it go on. The row at the worker's start cannot go (409: correct it with a PATCH of
    weekly_hours). A month already run gets an adjustment at its next run, never an edit; its lines keep
    the hours they were computed from."""
    async with session.begin():
        await repo.lock_convention(session, identity.tenant, convention_id)
        worker = await repo.get_worker(session, identity.tenant, convention_id, worker_id)
        if worker is None:
            raise NotFound(f"worker {worker_id} not found")
        if valid_from == worker["start_date"]:
            raise Conflict("the hours from the worker's start stay: correct them with a PATCH of weekly_hours",
                           start_date=str(worker["start_date"]))  # fmt: skip
        h = worker_hours.c
        removed = await session.execute(
            sa.delete(worker_hours).where(h.tenant == identity.tenant, h.worker_id == worker_id,
                                          h.valid_from == valid_from)
        )  # fmt: skip
        if removed.rowcount == 0:
            raise NotFound(f"no change of hours from {valid_from} for worker {worker_id}")
        await _follow_latest_hours(session, identity.tenant, worker_id, now())
    return await get_worker(session, identity, convention_id, worker_id)


async def patch_worker(session, identity: Identity, convention_id, worker_id, patch: WorkerPatch) -> dict:
    changes = {name: getattr(patch, name) for name in patch.model_fields_set}
    if "weekly_hours" in changes and changes["weekly_hours"] is None:
        raise invalid(("weekly_hours", "may not be null"))
    async with session.begin():
        worker = await repo.get_worker(session, identity.tenant, convention_id, worker_id)
        if worker is None:
            raise NotFound(f"worker {worker_id} not found")
        end = changes.get("end_date", worker["end_date"])
        if end is not None and end < worker["start_date"]:
            raise invalid(("end_date", "must not be before start_date"))
        await repo.lock_convention(session, identity.tenant, convention_id)
        twin = await repo.overlapping_worker(session, identity.tenant, convention_id, worker["participant_id"],
                                             worker["start_date"], end, exclude=worker_id)  # fmt: skip
        if twin is not None:
            raise Conflict("the participant would be a worker of the convention twice on some days",
                           worker_id=str(twin["id"]))  # fmt: skip
        at = now()
        if "weekly_hours" in changes:  # the hours from the start, until the next dated change
            await _set_hours(session, identity, worker, worker["start_date"], changes.pop("weekly_hours"), at)
        if changes:
            await session.execute(
                sa.update(workers).where(workers.c.tenant == identity.tenant, workers.c.id == worker_id)
                .values(**changes, updated_at=at)
            )  # fmt: skip
    return await get_worker(session, identity, convention_id, worker_id)


async def on_placement_hired(session: AsyncSession, event: CloudEvent, data: PlacementHiredV1) -> None:
    """A hire in ebe_cdi by an employer whose SIRET holds a CDE convention (in force at the start date)
    adds the worker to that convention, at the hire's weekly hours (at most 35) — unless the participant
    already is a worker of it on those days (a redelivered hire, or added by hand)."""
    if data.contract_type != "ebe_cdi":
        return
    found = await repo.cde_conventions_of_employer(session, event.tenant, data.employer_siret, data.start_date)
    hours = min(to_cent(Decimal(str(data.weekly_hours))), MAX_WEEKLY_HOURS)
    at = now()
    for convention in found:
        await repo.lock_convention(session, event.tenant, convention["id"])
        # Once per application; and never twice on the same days (e.g. already added by hand).
        twin = await repo.overlapping_worker(session, event.tenant, convention["id"], data.participant_id,
                                             data.start_date, None)  # fmt: skip
        if twin is None:
            worker_id = uuid.uuid4()
            await repo.insert(session, workers, {
                "id": worker_id, "tenant": event.tenant, "convention_id": convention["id"],
                "participant_id": data.participant_id, "weekly_hours": hours, "start_date": data.start_date,
                "end_date": None, "source": "placement.hired", "application_id": data.application_id,
                "created_at": at, "updated_at": at,
            })  # fmt: skip
            await repo.insert(session, worker_hours, _hours_row(event.tenant, worker_id, data.start_date, hours, at,
                                                                "placement.hired"))  # fmt: skip


async def on_parcours_exited(session: AsyncSession, event: CloudEvent, data: ParcoursExitedV1) -> None:
    """The participant's TZCLD parcours exited: their open CDE workers end on the exit date — except on
    a `durable_employment` exit. A worker hired in CDI by the EBE *is* in durable employment: that is
    the exit the 183-day rule gives them while they keep working there, and their CDE goes on. A worker
    who leaves the EBE for another employer is ended by the fund manager (PATCH of the worker).
    Only the TZCLD parcours says whether someone works in the EBE: the Département closing their RSA
    parcours, or a PLIE closing its own, leaves the CDE untouched."""
    if data.programme != "tzcld" or data.exit_kind == "durable_employment":
        return
    await session.execute(
        sa.update(workers)
        .where(
            workers.c.tenant == event.tenant,
            workers.c.participant_id == data.participant_id,
            workers.c.start_date <= data.at,
            sa.or_(workers.c.end_date.is_(None), workers.c.end_date > data.at),
        )
        .values(end_date=data.at, updated_at=now())
    )


HANDLERS = {PlacementHiredV1.ce_type: on_placement_hired, ParcoursExitedV1.ce_type: on_parcours_exited}


# ------------------------------------------------------------------------------------------------- SMIC
async def list_smic(session: AsyncSession, identity: Identity) -> list[dict]:
    return await repo.smic_rows(session, identity.tenant)


async def set_smic(session: AsyncSession, identity: Identity, valid_from: date, hourly: Decimal) -> list[dict]:
    async with session.begin():
        await upsert(session, smic_rates, {"tenant": identity.tenant, "valid_from": valid_from, "hourly": hourly,
                                           "updated_at": now(), "updated_by": identity.subject},
                     key=["tenant", "valid_from"])  # fmt: skip
    return await list_smic(session, identity)


# ------------------------------------------------------------------------------------------------- runs
async def _ledger_rows(kind: str, disbursement: dict, parts: list[dict], actor: str, at: datetime, sign=1, **ids):
    return [
        {"tenant": disbursement["tenant"], "at": at, "kind": kind, "fund_id": disbursement["fund_id"],
         "funder_id": part["funder_id"], "year": disbursement["year"], "period": disbursement["period"],
         "amount": sign * part["amount"], "convention_id": disbursement["convention_id"],
         "disbursement_id": disbursement["id"], "actor": actor, "batch_id": ids.get("batch_id"),
         "aid_payment_id": None, "absorbed_by": None}
        for part in parts
    ]  # fmt: skip


async def run_period(session: AsyncSession, identity: Identity, body: RunIn) -> dict:
    """The CDE of every worker of every CDE convention for the month; one disbursement per convention
    that has something new. A worker already computed for the month gets an adjustment line for the
    difference (if any), never an edit; running the month again with nothing changed creates nothing.
    A worker whose line a funder rejected is prepared again only once their CDE comes out different
    (corrected inputs); a budget block that was rejected is prepared again as it is."""
    period = parse_period(body.period, "period")
    tenant = identity.tenant
    at = now()
    created_ids: list[uuid.UUID] = []
    run_id = None
    rows: dict[str, list[dict]] = {}
    try:
        async with session.begin():
            await repo.lock_period(session, tenant, str(period))
            table = await repo.smic_table(session, tenant)
            convention_rows = [
                c for c in await repo.list_conventions(session, tenant, kind="cde") if c["start_date"] <= period.last
            ]
            by_convention: dict[uuid.UUID, list[dict]] = defaultdict(list)
            for worker in await repo.list_workers(session, tenant, [c["id"] for c in convention_rows]):
                by_convention[worker["convention_id"]].append(worker)
            history = await repo.hours_of(session, tenant, convention_ids=[c["id"] for c in convention_rows])
            computed = await repo.computed_by_worker(session, tenant, str(period))
            refused = await repo.refused_by_worker(session, tenant, str(period))
            already = await repo.conventions_with_disbursements(session, tenant, str(period))
            planned = []  # (convention, [line values])
            memo: dict = {}
            for convention in convention_rows:
                lines = []
                for worker in by_convention[convention["id"]]:
                    span = present(period, (worker["start_date"], worker["end_date"]),
                                   (convention["start_date"], convention["end_date"]))  # fmt: skip
                    # the hours in force on the days present (the worker's own hours if it has no history)
                    hours = hours_in(*span, worker["weekly_hours"], history[worker["id"]]) if span else ()
                    key = (hours, convention["cde_rate"], span)
                    if (cde := memo.get(key)) is None:  # most workers share hours, rate and days present
                        try:
                            cde = memo[key] = (monthly_cde(period, worker["weekly_hours"], key[1], table, span,
                                                           hours=hours) if span else ABSENT)  # fmt: skip
                        except NoSmicRate as exc:
                            raise invalid(("period", f"{exc}: add it with PUT /api/v1/funding/smic-rates/…")) from None
                    if refused.get(worker["id"]) == cde.amount:  # a funder refused this very amount
                        continue
                    before = computed.get(worker["id"])
                    delta = cde.amount - (before if before is not None else ZERO)
                    if delta == 0 and (before is not None or cde.amount == 0):
                        continue
                    lines.append({
                        "tenant": tenant, "worker_id": worker["id"], "participant_id": worker["participant_id"],
                        "period": str(period), "kind": "cde" if before is None else "adjustment", "amount": delta,
                        "expected": cde.amount, "days_present": cde.days_present,
                        "weekly_hours": cde.hours[-1][0] if cde.hours else worker["weekly_hours"],
                        "cde_rate": convention["cde_rate"], "smic": [[str(rate), days] for rate, days in cde.segments],
                        "hours": [[str(h), days] for h, days in cde.hours],
                    })  # fmt: skip
                if lines:
                    planned.append((convention, lines))
            if not planned:
                return {"period": str(period), "run_id": None, "created": []}
            run_id = uuid.uuid4()
            await repo.insert(session, runs, {"id": run_id, "tenant": tenant, "period": str(period),
                                              "sequence": await repo.next_run_sequence(session, tenant, str(period)),
                                              "created_at": at, "created_by": identity.subject})  # fmt: skip
            fund_ids = sorted({c["fund_id"] for c, _ in planned})
            for fund_id in fund_ids:
                await repo.lock_fund(session, tenant, fund_id)
            fund_funders = await repo.funders_of(session, tenant, fund_ids)
            fund_envelopes = await repo.envelopes_of(session, tenant, fund_ids)
            committed = await repo.committed_by_fund_year(session, tenant, fund_ids)
            rows.update(disbursements=[], parts=[], lines=[], transitions=[], ledger=[], outbox=[])
            for convention, lines in planned:
                disbursement_id = uuid.uuid4()
                created_ids.append(disbursement_id)
                total = sum((line["amount"] for line in lines), ZERO)
                fund_id = convention["fund_id"]
                key = (fund_id, period.year)
                envelope = to_cent(fund_envelopes[fund_id].get(period.year, ZERO))
                before = committed.get(key, ZERO)
                status = "prepared" if lifecycle.within_budget(envelope, before, total) else "blocked_budget"
                kind = "adjustment" if convention["id"] in already else "cde"
                disbursement = {
                    "id": disbursement_id, "tenant": tenant, "fund_id": fund_id, "convention_id": convention["id"],
                    "run_id": run_id, "period": str(period), "year": period.year, "kind": kind, "total": total,
                    "status": status, "prepared_by": identity.subject, "prepared_at": at, "decided_by": None,
                    "decided_at": None, "decision_reason": None, "batch_id": None, "paid_at": None,
                }  # fmt: skip
                shares = fund_funders[fund_id]
                amounts = split(total, [f["share"] for f in shares])
                parts = [{"disbursement_id": disbursement_id, "funder_id": f["id"], "tenant": tenant, "amount": a}
                         for f, a in zip(shares, amounts, strict=True)]  # fmt: skip
                rows["disbursements"].append(disbursement)
                rows["parts"] += parts
                rows["lines"] += [{**line, "disbursement_id": disbursement_id} for line in lines]
                rows["transitions"].append({"tenant": tenant, "disbursement_id": disbursement_id, "from_status": None,
                                            "to_status": status, "actor": identity.subject, "at": at,
                                            "reason": None})  # fmt: skip
                if status == "prepared":
                    committed[key] = before + total
                    rows["ledger"] += await _ledger_rows("committed", disbursement, parts, identity.subject, at)
                    event = DisbursementPreparedV1(
                        disbursement_id=disbursement_id, fund_id=fund_id, convention_id=convention["id"],
                        period=str(period), kind=kind, total=total, prepared_at=at,
                        parts=[FunderPart(funder_id=p["funder_id"], amount=p["amount"]) for p in parts],
                    )  # fmt: skip
                else:
                    event = BudgetBlockedV1(
                        fund_id=fund_id, disbursement_id=disbursement_id, convention_id=convention["id"],
                        year=period.year, period=str(period), total=total, envelope=envelope, committed=before,
                        blocked_at=at,
                    )  # fmt: skip
                rows["outbox"].append(outbox.outbox_row(new_event(event, tenant=tenant, source=SOURCE), event.topic))
            await repo.insert(session, disbursements, rows["disbursements"])
            await repo.insert(session, disbursement_parts, rows["parts"])
            await repo.insert(session, disbursement_lines, rows["lines"])
            await repo.insert(session, disbursement_transitions, rows["transitions"])
            await repo.insert(session, ledger, rows["ledger"])
            await outbox.add_rows(session, rows["outbox"])  # the events, in the same transaction
    except IntegrityError:
        raise Conflict(f"another run of {period} is being written; run it again to see what is left") from None
    # The answer is built from the rows just committed (reading them back would cost as much as the run).
    details = {i: {"parts": [], "lines": [], "transitions": []} for i in created_ids}
    funder_names = {f["id"]: f["name"] for shares in fund_funders.values() for f in shares}
    for part in rows["parts"]:
        details[part["disbursement_id"]]["parts"].append({**part, "funder": funder_names[part["funder_id"]]})
    for line in rows["lines"]:
        details[line["disbursement_id"]]["lines"].append(line)
    for transition in rows["transitions"]:
        details[transition["disbursement_id"]]["transitions"].append(transition)
    created = [_disbursement_out(d, details[d["id"]]) for d in rows["disbursements"]]
    return {"period": str(period), "run_id": run_id, "created": created}


# ---------------------------------------------------------------------------------------- disbursements
def _disbursement_out(row: dict, details: dict) -> dict:
    return {
        **row,
        "total": to_cent(row["total"]),
        "allowed": lifecycle.allowed_from(row["status"]),
        "parts": [{**p, "amount": to_cent(p["amount"])} for p in details["parts"]],
        "lines": [{**line, "amount": to_cent(line["amount"]), "expected": to_cent(line["expected"]),
                   "smic": [(Decimal(rate), days) for rate, days in line["smic"]],
                   "hours": [(Decimal(h), days) for h, days in line["hours"]] if line.get("hours") is not None
                   else [(line["weekly_hours"], line["days_present"])] if line["days_present"] else []}
                  for line in details["lines"]],
        "transitions": details["transitions"],
    }  # fmt: skip


async def list_disbursements(session, identity: Identity, ids=None, with_lines=True, **filters) -> list[dict]:
    rows = await repo.list_disbursements(session, identity.tenant, ids=ids, **filters)
    details = await repo.details_of(session, identity.tenant, [r["id"] for r in rows], with_lines)
    return [_disbursement_out(r, details[r["id"]]) for r in rows]


async def get_disbursement(session: AsyncSession, identity: Identity, disbursement_id: uuid.UUID) -> dict:
    found = await list_disbursements(session, identity, ids=[disbursement_id])
    if not found:
        raise NotFound(f"disbursement {disbursement_id} not found")
    return found[0]


async def decide(session, identity: Identity, disbursement_id: uuid.UUID, to: str, reason: str | None) -> dict:
    """approved or rejected, by another person than the preparer."""
    at = now()
    async with session.begin():
        row = await repo.get_disbursement(session, identity.tenant, disbursement_id, lock=True)
        if row is None:
            raise NotFound(f"disbursement {disbursement_id} not found")
        try:
            lifecycle.check_transition(row["status"], to)
            lifecycle.check_four_eyes(row["prepared_by"], identity.subject)
        except lifecycle.IllegalTransition as exc:
            raise Conflict(str(exc), status_now=row["status"], allowed=exc.allowed) from None
        except lifecycle.SamePerson as exc:
            raise Forbidden(str(exc), rule="four-eyes", prepared_by=row["prepared_by"]) from None
        values = {"status": to, "decided_by": identity.subject, "decided_at": at, "decision_reason": reason}
        if not await repo.move_disbursement(session, identity.tenant, disbursement_id, row["status"], values):
            raise Conflict("the disbursement changed meanwhile; read it again", status_now=row["status"])
        await repo.insert(session, disbursement_transitions, {
            "tenant": identity.tenant, "disbursement_id": disbursement_id, "from_status": row["status"],
            "to_status": to, "actor": identity.subject, "at": at, "reason": reason,
        })  # fmt: skip
        if to == "rejected" and row["status"] == "prepared":
            parts = (await repo.parts_of(session, identity.tenant, [disbursement_id]))[disbursement_id]
            await repo.insert(session, ledger, await _ledger_rows("released", row, parts, identity.subject, at, -1))
        if to == "approved":
            await outbox.add_event(session, DisbursementApprovedV1(
                disbursement_id=disbursement_id, fund_id=row["fund_id"], convention_id=row["convention_id"],
                period=row["period"], total=to_cent(row["total"]), approved_at=at,
            ), tenant=identity.tenant, source=SOURCE)  # fmt: skip
    return await get_disbursement(session, identity, disbursement_id)


# --------------------------------------------------------------------------------------------- batches
def sepa_file(fund: dict, items: list[tuple[dict, dict, Decimal]], execution_date: date) -> tuple[str, bytes]:
    """pain.001.001.03 with sepaxml: one credit transfer per paid disbursement, of its net amount (its
    total less the negative adjustments deducted from it; amounts in cents), one payment information
    block for the execution date; sepaxml validates it against the XSD."""
    config = {"name": fund["payer_name"], "IBAN": fund["payer_iban"], "batch": True, "currency": "EUR"}
    if fund["payer_bic"]:
        config["BIC"] = fund["payer_bic"]
    transfer = SepaTransfer(config, clean=True)
    for disbursement, convention, amount in items:
        transfer.add_payment({
            "name": convention["beneficiary_name"],
            "IBAN": convention["beneficiary_iban"],
            "amount": int(to_cent(amount) / CENT),
            "execution_date": execution_date,
            "description": f"CDE {disbursement['period']} convention {convention['id']}"[:140],
            "endtoend_id": disbursement["id"].hex,
        })  # fmt: skip
    return transfer.msg_id, transfer.export(validate=True)


def _offset_out(row: dict) -> dict:
    return {**row, "amount": to_cent(row["amount"])}


def _batch_out(row: dict, ids: list[uuid.UUID], batch_offsets: list[dict]) -> dict:
    return {**row, "total": to_cent(row["total"]), "disbursement_ids": ids,
            "offsets": [_offset_out(o) for o in batch_offsets]}  # fmt: skip


async def create_batch(session: AsyncSession, identity: Identity, body: BatchIn) -> dict:
    """A pain.001 file paying approved disbursements of one fund. Every approved negative adjustment of
    the conventions paid, not yet wholly deducted, is deducted from their payments (netting.py): each
    transfer is the payment's net amount (none below zero, a payment netted to zero is in the batch
    without a transfer), the batch total and the control sum are the sum of the transfers, and the
    deductions are recorded as offsets (their ledger rows when the batch is paid)."""
    ids = list(dict.fromkeys(body.disbursement_ids))
    batch_id = uuid.uuid4()
    execution_date = body.execution_date or today_in_france()
    at = now()
    async with session.begin():
        rows = await repo.lock_disbursements(session, identity.tenant, ids)
        missing = sorted(set(ids) - {r["id"] for r in rows}, key=str)
        if missing:
            raise NotFound("some disbursements were not found", missing=[str(i) for i in missing])
        not_approved = [str(r["id"]) for r in rows if r["status"] != "approved" or r["batch_id"] is not None]
        if not_approved:
            raise Conflict("only approved disbursements not yet in a batch can be paid", disbursements=not_approved)
        if len({r["fund_id"] for r in rows}) != 1:
            raise invalid(("disbursement_ids", "a batch pays from one fund: all its disbursements must be of it"))
        not_positive = [str(r["id"]) for r in rows if r["total"] <= 0]
        if not_positive:
            raise Conflict("a disbursement of zero or less is not transferred: an approved negative adjustment is "
                           "deducted by itself from the next payment of its convention",
                           disbursements=not_positive)  # fmt: skip
        fund = await repo.get_fund(session, identity.tenant, rows[0]["fund_id"])
        convention_of = {c["id"]: c for c in await repo.list_conventions(session, identity.tenant,
                                                                          fund_id=fund["id"])}  # fmt: skip
        # paid oldest first (the period, then the run), so an overpayment comes off the earliest payment
        rows.sort(key=lambda r: (r["period"], r["prepared_at"], r["id"]))
        paid_conventions = sorted({r["convention_id"] for r in rows})
        negatives = await repo.negative_adjustments(session, identity.tenant, paid_conventions, lock=True)
        nettings = netting.net_by_creditor(
            [(r["convention_id"], r["id"], r["total"]) for r in rows],
            [(n["convention_id"], n["id"], n["outstanding"]) for n in negatives if n["outstanding"] < 0],
        )
        transfers = {key: amount for result in nettings.values() for key, amount in result.transfers.items()}
        paying = [(r, convention_of[r["convention_id"]], transfers[r["id"]]) for r in rows if transfers[r["id"]] > 0]
        if not paying:
            raise Conflict("nothing to transfer: the outstanding negative adjustments of these conventions absorb "
                           "every payment; add later payments to the batch",
                           outstanding={str(c): str(sum(n.outstanding.values(), ZERO))
                                        for c, n in nettings.items()})  # fmt: skip
        try:
            message_id, xml = sepa_file(fund, paying, execution_date)
        except SepaValidationError as exc:  # the XSD refuses a value (the inputs were checked: not expected)
            raise Conflict(f"the SEPA file does not validate: {exc.__cause__ or exc}") from None
        total = sum((amount for _, _, amount in paying), ZERO)
        await repo.insert(session, payment_batches, {
            "id": batch_id, "tenant": identity.tenant, "fund_id": fund["id"], "status": "created", "total": total,
            "transactions": len(paying), "execution_date": execution_date, "message_id": message_id,
            "sepa_xml": xml.decode(), "created_by": identity.subject, "created_at": at,
        })  # fmt: skip
        await session.execute(
            sa.update(disbursements).where(disbursements.c.tenant == identity.tenant, disbursements.c.id.in_(ids))
            .values(batch_id=batch_id)
        )  # fmt: skip
        await repo.insert(session, offsets, [
            {"tenant": identity.tenant, "fund_id": fund["id"], "convention_id": convention_id, "batch_id": batch_id,
             "disbursement_id": o.negative, "absorbed_by": o.payment, "amount": o.amount, "created_at": at,
             "created_by": identity.subject}
            for convention_id, result in nettings.items() for o in result.offsets
        ])  # fmt: skip
    return await get_batch(session, identity, batch_id)


async def get_batch(session: AsyncSession, identity: Identity, batch_id: uuid.UUID) -> dict:
    row = await repo.get_batch(session, identity.tenant, batch_id)
    if row is None:
        raise NotFound(f"payment batch {batch_id} not found")
    ids = await repo.disbursement_ids_of_batches(session, identity.tenant, [batch_id])
    return _batch_out(row, ids[batch_id], await repo.offsets_where(session, identity.tenant, batch_id=batch_id))


async def list_batches(session: AsyncSession, identity: Identity) -> list[dict]:
    rows = await repo.list_batches(session, identity.tenant)
    batch_ids = [r["id"] for r in rows]
    ids = await repo.disbursement_ids_of_batches(session, identity.tenant, batch_ids)
    by_batch: dict[uuid.UUID, list[dict]] = defaultdict(list)
    for row in await repo.offsets_where(session, identity.tenant, batch_id=batch_ids):
        by_batch[row["batch_id"]].append(row)
    return [_batch_out(r, ids[r["id"]], by_batch[r["id"]]) for r in rows]


async def mark_batch_paid(session: AsyncSession, identity: Identity, batch_id: uuid.UUID) -> dict:
    at = now()
    async with session.begin():
        batch = await repo.get_batch(session, identity.tenant, batch_id, lock=True)
        if batch is None:
            raise NotFound(f"payment batch {batch_id} not found")
        if batch["status"] != "created":
            raise Conflict("the batch is already paid", status_now=batch["status"], allowed=[])
        await session.execute(
            sa.update(payment_batches).where(payment_batches.c.tenant == identity.tenant,
                                             payment_batches.c.id == batch_id)
            .values(status="paid", paid_by=identity.subject, paid_at=at)
        )  # fmt: skip
        rows = await repo.lock_disbursements(
            session, identity.tenant, (await repo.disbursement_ids_of_batches(session, identity.tenant, [batch_id]))[
                batch_id]
        )  # fmt: skip
        parts = await repo.parts_of(session, identity.tenant, [r["id"] for r in rows])
        deducted: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)  # per payment, what netting took off it
        for o in await repo.offsets_where(session, identity.tenant, batch_id=batch_id):
            deducted[o["absorbed_by"]] += o["amount"]
        ledger_rows, transitions = [], []
        for row in rows:
            lifecycle.check_transition(row["status"], "paid")  # approved, held by the batch
            ledger_rows += await _ledger_rows("paid", row, parts[row["id"]], identity.subject, at, batch_id=batch_id)
            transitions.append({"tenant": identity.tenant, "disbursement_id": row["id"], "from_status": row["status"],
                                "to_status": "paid", "actor": identity.subject, "at": at, "reason": None})  # fmt: skip
            await outbox.add_event(session, DisbursementPaidV1(
                disbursement_id=row["id"], fund_id=row["fund_id"], convention_id=row["convention_id"],
                batch_id=batch_id, period=row["period"], total=to_cent(row["total"]), paid_at=at,
                deducted=to_cent(deducted[row["id"]]), transferred=to_cent(row["total"] - deducted[row["id"]]),
            ), tenant=identity.tenant, source=SOURCE)  # fmt: skip
        await session.execute(
            sa.update(disbursements).where(disbursements.c.tenant == identity.tenant,
                                           disbursements.c.batch_id == batch_id)
            .values(status="paid", paid_at=at)
        )  # fmt: skip
        ledger_rows += await _offset_ledger_rows(session, identity, batch, at)
        await repo.insert(session, disbursement_transitions, transitions)
        await repo.insert(session, ledger, ledger_rows)
    return await get_batch(session, identity, batch_id)


async def _offset_ledger_rows(session: AsyncSession, identity: Identity, batch: dict, at: datetime) -> list[dict]:
    """The ledger rows of the batch's offsets: per offset and funder, `offset` of minus the funder's part of
    the deduction (netting.offset_parts, from what earlier offsets of the adjustment deducted), with the
    adjustment as disbursement_id and the payment it came off as absorbed_by."""
    tenant = identity.tenant
    batch_offsets = await repo.offsets_where(session, tenant, batch_id=batch["id"])
    if not batch_offsets:
        return []
    negative_ids = sorted({o["disbursement_id"] for o in batch_offsets})
    adjustment_of = {r["id"]: r for r in await repo.list_disbursements(session, tenant, ids=negative_ids)}
    shares = (await repo.funders_of(session, tenant, [batch["fund_id"]]))[batch["fund_id"]]
    before: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    rows = []
    for o in await repo.offsets_where(session, tenant, disbursement_id=negative_ids):  # every batch's, in order
        adjustment = adjustment_of[o["disbursement_id"]]
        if o["batch_id"] == batch["id"]:
            parts = netting.offset_parts(adjustment["total"], [f["share"] for f in shares], before[adjustment["id"]],
                                         o["amount"])  # fmt: skip
            rows += [
                {"tenant": tenant, "at": at, "kind": "offset", "fund_id": adjustment["fund_id"], "funder_id": f["id"],
                 "year": adjustment["year"], "period": adjustment["period"], "amount": part,
                 "convention_id": adjustment["convention_id"], "disbursement_id": adjustment["id"],
                 "batch_id": batch["id"], "aid_payment_id": None, "absorbed_by": o["absorbed_by"],
                 "actor": identity.subject}
                for f, part in zip(shares, parts, strict=True) if part != 0
            ]  # fmt: skip
        before[adjustment["id"]] += o["amount"]
    return rows


async def batch_xml(session: AsyncSession, identity: Identity, batch_id: uuid.UUID) -> tuple[dict, str]:
    row = await repo.get_batch(session, identity.tenant, batch_id)
    if row is None:
        raise NotFound(f"payment batch {batch_id} not found")
    return row, row["sepa_xml"]


# ------------------------------------------------------------------------------------------------ aids
async def create_scheme(session: AsyncSession, identity: Identity, body: AidSchemeIn) -> dict:
    scheme_id = uuid.uuid4()
    async with session.begin():
        if await repo.get_fund(session, identity.tenant, body.fund_id) is None:
            raise invalid(("fund_id", "no such fund"))
        await repo.insert(session, aid_schemes, {
            "id": scheme_id, "tenant": identity.tenant, "fund_id": body.fund_id, "name": body.name,
            "monthly_amount": body.monthly_amount, "max_months": body.max_months, "created_at": now(),
        })  # fmt: skip
    return await get_scheme(session, identity, scheme_id)


async def get_scheme(session: AsyncSession, identity: Identity, scheme_id: uuid.UUID) -> dict:
    row = await repo.get_scheme(session, identity.tenant, scheme_id)
    if row is None:
        raise NotFound(f"aid scheme {scheme_id} not found")
    return {**row, "monthly_amount": to_cent(row["monthly_amount"])}


async def list_schemes(session: AsyncSession, identity: Identity) -> list[dict]:
    return [
        {**r, "monthly_amount": to_cent(r["monthly_amount"])} for r in await repo.list_schemes(session, identity.tenant)
    ]


def _beneficiary_out(row: dict, payments: list[dict], max_months: int) -> dict:
    counted = sum(p["status"] in aids.COUNTED for p in payments)  # a rejected payment leaves its month free
    return {**row, "payments": [_aid_payment_out(p) for p in payments],
            "months_left": max(0, max_months - counted)}  # fmt: skip


async def add_beneficiary(session, identity: Identity, scheme_id: uuid.UUID, body: AidBeneficiaryIn) -> dict:
    beneficiary_id = uuid.uuid4()
    try:
        async with session.begin():
            scheme = await get_scheme(session, identity, scheme_id)
            await repo.insert(session, aid_beneficiaries, {
                "id": beneficiary_id, "tenant": identity.tenant, "scheme_id": scheme_id,
                "participant_id": body.participant_id, "created_at": now(),
            })  # fmt: skip
    except IntegrityError:
        raise Conflict("this participant is already a beneficiary of the scheme") from None
    row = await repo.get_beneficiary(session, identity.tenant, scheme_id, beneficiary_id)
    return _beneficiary_out(row, [], scheme["max_months"])


async def list_beneficiaries(session: AsyncSession, identity: Identity, scheme_id: uuid.UUID) -> list[dict]:
    scheme = await get_scheme(session, identity, scheme_id)
    rows = await repo.list_beneficiaries(session, identity.tenant, scheme_id)
    payments = await repo.payments_of(session, identity.tenant, [r["id"] for r in rows])
    return [_beneficiary_out(r, payments[r["id"]], scheme["max_months"]) for r in rows]


async def get_beneficiary(session, identity: Identity, scheme_id: uuid.UUID, beneficiary_id: uuid.UUID) -> dict:
    scheme = await get_scheme(session, identity, scheme_id)
    row = await repo.get_beneficiary(session, identity.tenant, scheme_id, beneficiary_id)
    if row is None:
        raise NotFound(f"aid beneficiary {beneficiary_id} not found")
    payments = (await repo.payments_of(session, identity.tenant, [beneficiary_id]))[beneficiary_id]
    return _beneficiary_out(row, payments, scheme["max_months"])


async def prepare_aid_payment(session, identity: Identity, scheme_id, beneficiary_id, body: AidPaymentIn) -> dict:
    """One monthly payment of the scheme's amount, `prepared` and committed against the fund's envelope;
    refused (409) past the scheme's number of months, for a month already prepared or paid, or beyond
    the envelope for the year. A funder who did not prepare it approves (or rejects) it."""
    month = parse_period(body.month, "month")
    at = now()
    payment_id = uuid.uuid4()
    try:
        async with session.begin():
            scheme = await get_scheme(session, identity, scheme_id)
            beneficiary = await repo.get_beneficiary(session, identity.tenant, scheme_id, beneficiary_id, lock=True)
            if beneficiary is None:
                raise NotFound(f"aid beneficiary {beneficiary_id} not found")
            counted = [p["month"] for p in (await repo.payments_of(session, identity.tenant, [beneficiary_id]))[
                beneficiary_id] if p["status"] in aids.COUNTED]  # fmt: skip
            try:
                aids.check_aid_payment(counted, str(month), scheme["max_months"])
            except (aids.AidCapReached, aids.AlreadyPaidThatMonth) as exc:
                raise Conflict(str(exc), max_months=scheme["max_months"], paid_months=counted) from None
            fund_id = scheme["fund_id"]
            await repo.lock_fund(session, identity.tenant, fund_id)
            envelope = to_cent((await repo.envelopes_of(session, identity.tenant, [fund_id]))[fund_id].get(
                month.year, ZERO))  # fmt: skip
            committed = (await repo.committed_by_fund_year(session, identity.tenant, [fund_id])).get(
                (fund_id, month.year), ZERO)  # fmt: skip
            amount = scheme["monthly_amount"]
            if not lifecycle.within_budget(envelope, committed, amount):
                raise Conflict("the payment would exceed the fund's envelope for the year", envelope=str(envelope),
                               committed=str(to_cent(committed)))  # fmt: skip
            payment = {
                "id": payment_id, "tenant": identity.tenant, "beneficiary_id": beneficiary_id, "month": str(month),
                "amount": amount, "status": "prepared", "prepared_by": identity.subject, "prepared_at": at,
                "decided_by": None, "decided_at": None, "decision_reason": None, "paid_at": None, "paid_by": None,
            }  # fmt: skip
            await repo.insert(session, aid_payments, payment)
            await repo.insert(session, ledger, await _aid_ledger_rows(session, "committed", payment, fund_id,
                                                                      identity.subject, at))  # fmt: skip
    except IntegrityError:
        raise Conflict(f"the aid of {month} is already prepared or paid") from None
    payments = (await repo.payments_of(session, identity.tenant, [beneficiary_id]))[beneficiary_id]
    return _beneficiary_out(beneficiary, payments, scheme["max_months"])


async def _aid_ledger_rows(session, kind: str, payment: dict, fund_id, actor: str, at: datetime, sign: int = 1):
    """The payment's ledger rows of `kind`, one per funder part of its amount (largest remainder)."""
    tenant, month = payment["tenant"], parse_period(payment["month"], "month")
    shares = (await repo.funders_of(session, tenant, [fund_id]))[fund_id]
    return [
        {"tenant": tenant, "at": at, "kind": kind, "fund_id": fund_id, "funder_id": f["id"], "year": month.year,
         "period": payment["month"], "amount": sign * part, "convention_id": None, "disbursement_id": None,
         "batch_id": None, "aid_payment_id": payment["id"], "absorbed_by": None, "actor": actor}
        for f, part in zip(shares, split(to_cent(payment["amount"]), [f["share"] for f in shares]), strict=True)
    ]  # fmt: skip


def _aid_payment_out(row: dict) -> dict:
    return {**row, "amount": to_cent(row["amount"]), "allowed": aids.allowed_from(row["status"])}


async def get_aid_payment(session: AsyncSession, identity: Identity, payment_id: uuid.UUID) -> dict:
    row = await repo.get_aid_payment(session, identity.tenant, payment_id)
    if row is None:
        raise NotFound(f"aid payment {payment_id} not found")
    return _aid_payment_out(row)


async def move_aid_payment(session, identity: Identity, payment_id: uuid.UUID, to: str, reason: str | None = None):
    """approved or rejected by a funder who did not prepare it (four-eyes); paid once the payer's
    treasury made the transfer. A rejection releases the commitment; payment writes the `paid` rows."""
    at = now()
    async with session.begin():
        row = await repo.get_aid_payment(session, identity.tenant, payment_id, lock=True)
        if row is None:
            raise NotFound(f"aid payment {payment_id} not found")
        try:
            aids.check_transition(row["status"], to)
            if to in ("approved", "rejected"):
                lifecycle.check_four_eyes(row["prepared_by"], identity.subject)
        except aids.IllegalAidTransition as exc:
            raise Conflict(str(exc), status_now=row["status"], allowed=exc.allowed) from None
        except lifecycle.SamePerson as exc:
            raise Forbidden(str(exc), rule="four-eyes", prepared_by=row["prepared_by"]) from None
        if to == "paid":
            values = {"status": to, "paid_by": identity.subject, "paid_at": at}
        else:
            values = {"status": to, "decided_by": identity.subject, "decided_at": at, "decision_reason": reason}
        if not await repo.move_aid_payment(session, identity.tenant, payment_id, row["status"], values):
            raise Conflict("the aid payment changed meanwhile; read it again", status_now=row["status"])
        scheme = await repo.scheme_of_beneficiary(session, identity.tenant, row["beneficiary_id"])
        if to in ("rejected", "paid"):
            kind, sign = ("released", -1) if to == "rejected" else ("paid", 1)
            await repo.insert(session, ledger, await _aid_ledger_rows(session, kind, row, scheme["fund_id"],
                                                                      identity.subject, at, sign))  # fmt: skip
    return await get_aid_payment(session, identity, payment_id)


# ---------------------------------------------------------------------------------------------- ledger
async def ledger_page(session, identity: Identity, filters: dict, limit: int, after: int | None) -> dict:
    stmt = repo.ledger_query(identity.tenant, filters)
    if after is not None:
        stmt = stmt.where(ledger.c.id > after)
    rows = await repo.many(session, stmt.limit(limit + 1))
    more = len(rows) > limit
    rows = [{**r, "amount": to_cent(r["amount"])} for r in rows[:limit]]
    return {"items": rows, "total": sum((r["amount"] for r in rows), ZERO),
            "next_after": rows[-1]["id"] if more and rows else None}  # fmt: skip


LEDGER_COLUMNS = ["id", "at", "kind", "fund_id", "funder_id", "year", "period", "amount", "convention_id",
                  "disbursement_id", "batch_id", "aid_payment_id", "actor", "absorbed_by"]  # fmt: skip


async def ledger_csv(session: AsyncSession, identity: Identity, filters: dict) -> str:
    rows = await repo.many(session, repo.ledger_query(identity.tenant, filters).limit(LEDGER_CSV_MAX_ROWS))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LEDGER_COLUMNS)
    for row in rows:
        row["amount"] = to_cent(row["amount"])
        row["at"] = row["at"].isoformat()
        writer.writerow(["" if row[c] is None else row[c] for c in LEDGER_COLUMNS])
    return out.getvalue()
