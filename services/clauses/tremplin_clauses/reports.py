"""Reports of the clause ledger, from validated hours only (declared and rejected never count).

Territory report for a period (`from`, `to`: the months they fall in, both included): validated
hours, operations (markets with validated hours), distinct buyers (SIRET), distinct participants,
participants by sex, contracts by type and fulfilment modes (placements with validated hours under
each, from the entries' own mode and contract: a placement whose contract changed counts under both;
hours per mode), hours per month, and the outcome shares 6 and 12 months after each participant's last
clause hours (domain/outcomes.py). The buyer-facing report of one market is the proof a buyer asks
for: per lot and month, the validated hours, who validated them and when, and the people counted
(numbered, not named).
"""

import csv
import io
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.identity import Identity

from .adapters import reports_repository as reads
from .adapters.repository import from_centi, lot_totals
from .domain.hours import MODES, first_of_month
from .domain.outcomes import outcome_share
from .domain.progress import lot_progress, market_progress
from .service_layer import get_market, invalid

SEXES = ("F", "M")


def _hours(centi: int) -> Decimal:
    return from_centi(centi)


async def territory_report(session: AsyncSession, identity: Identity, start: date, end: date, as_of: date) -> dict:
    if end < start:
        raise invalid(("to", "must not be before from"), where="query")
    first, last = first_of_month(start), first_of_month(end)
    rows = await reads.validated_rows(session, identity.tenant, first, last)
    total = 0
    markets, buyers, people = set(), set(), {}
    contracts_seen: set[tuple[uuid.UUID, str]] = set()  # (placement, contract type)
    modes_seen: set[tuple[uuid.UUID, str]] = set()  # (placement, mode)
    mode_hours: dict[str, int] = defaultdict(int)
    month_hours: dict[date, int] = defaultdict(int)
    for r in rows:
        total += r.hours_centi
        markets.add(r.market_id)
        buyers.add(r.buyer_siret)
        people[r.participant_id] = r.sex
        contracts_seen.add((r.placement_id, r.contract_type))
        modes_seen.add((r.placement_id, r.mode))
        mode_hours[r.mode] += r.hours_centi
        month_hours[r.month] += r.hours_centi
    by_sex = {s: 0 for s in (*SEXES, "unknown")}
    for sex in people.values():
        by_sex[sex if sex in SEXES else "unknown"] += 1
    contracts: dict[str, int] = defaultdict(int)
    mode_placements: dict[str, int] = defaultdict(int)
    for _, contract_type in contracts_seen:
        contracts[contract_type] += 1
    for _, mode in modes_seen:
        mode_placements[mode] += 1
    outcomes = await _outcomes(session, identity.tenant, list(people), last, as_of)
    return {
        "from": f"{first:%Y-%m}",  # the months the period covers, whole
        "to": f"{last:%Y-%m}",
        "as_of": as_of,
        "validated_hours": _hours(total),
        "operations": len(markets),
        "buyers": len(buyers),
        "participants": len(people),
        "participants_by_sex": by_sex,
        "contracts_by_type": dict(sorted(contracts.items())),
        "fulfilment_modes": {
            mode: {"placements": mode_placements[mode], "validated_hours": _hours(mode_hours[mode])}
            for mode in MODES
            if mode in mode_placements
        },
        "hours_by_month": [
            {"month": f"{m:%Y-%m}", "validated_hours": _hours(c)} for m, c in sorted(month_hours.items())
        ],
        "outcomes": outcomes,
    }


async def _outcomes(session: AsyncSession, tenant: str, participant_ids: list, last: date, as_of: date) -> dict:
    last_months = await reads.last_validated_months(session, tenant, participant_ids, last)
    histories = await reads.histories(session, tenant, participant_ids)
    result = {}
    for months in (6, 12):
        share = outcome_share(last_months, histories, months, as_of)
        result[f"after_{months}_months"] = {
            "measured": share.measured,
            "in_work_or_training": share.in_work_or_training,
            "share": share.share,
        }
    return result


def territory_csv(report: dict) -> str:
    """indicator, breakdown, value — one line per figure of the JSON report."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["indicator", "breakdown", "value"])
    w.writerow(["period", "from", report["from"]])
    w.writerow(["period", "to", report["to"]])
    w.writerow(["period", "as_of", report["as_of"]])
    for name in ("validated_hours", "operations", "buyers", "participants"):
        w.writerow([name, "", report[name]])
    for sex, n in report["participants_by_sex"].items():
        w.writerow(["participants_by_sex", sex, n])
    for kind, n in report["contracts_by_type"].items():
        w.writerow(["contracts_by_type", kind, n])
    for mode, figures in report["fulfilment_modes"].items():
        w.writerow(["fulfilment_mode_placements", mode, figures["placements"]])
        w.writerow(["fulfilment_mode_validated_hours", mode, figures["validated_hours"]])
    for item in report["hours_by_month"]:
        w.writerow(["validated_hours_by_month", item["month"], item["validated_hours"]])
    for key, figures in report["outcomes"].items():
        for name in ("measured", "in_work_or_training", "share"):
            value = figures[name]
            w.writerow([f"outcome_{key}", name, "" if value is None else value])
    return out.getvalue()


async def market_report(session: AsyncSession, identity: Identity, market_id: uuid.UUID, on: date) -> dict:
    market = await get_market(session, identity, market_id)
    rows = await reads.validated_rows(session, identity.tenant, date.min, date.max, market_id=market_id)
    totals = await lot_totals(session, identity.tenant, [lot["id"] for lot in market["lots"]])
    numbers: dict[uuid.UUID, int] = {}
    for r in rows:
        numbers.setdefault(r.participant_id, len(numbers) + 1)
    by_lot: dict[uuid.UUID, list] = defaultdict(list)
    for r in rows:
        by_lot[r.lot_id].append(r)
    lots, inputs = [], []
    for lot in market["lots"]:
        validated, pending = totals[lot["id"]]
        p = lot_progress(lot["required_hours"], validated, pending, lot["start_date"], lot["end_date"], on)
        inputs.append((lot["required_hours"], validated, pending, lot["start_date"], lot["end_date"]))
        entries = by_lot[lot["id"]]
        months: dict[date, int] = defaultdict(int)
        for r in entries:
            months[r.month] += r.hours_centi
        lots.append(
            {
                "number": lot["number"],
                "title": lot["title"],
                "contractor": {"name": lot["contractor_name"], "siret": lot["contractor_siret"]},
                "start_date": lot["start_date"],
                "end_date": lot["end_date"],
                "required_hours": lot["required_hours"],
                "validated_hours": validated,
                "rate": p.rate,
                "behind": p.behind,
                "completed_at": lot["completed_at"],
                "participants": len({r.participant_id for r in entries}),
                "hours_by_month": [
                    {"month": f"{m:%Y-%m}", "validated_hours": _hours(c)} for m, c in sorted(months.items())
                ],
                "entries": [
                    {
                        "month": f"{r.month:%Y-%m}",
                        "participant": f"P{numbers[r.participant_id]}",
                        "hours": _hours(r.hours_centi),
                        "mode": r.mode,
                        "contract_type": r.contract_type,
                        "validated_at": r.decided_at,
                        "validated_by": r.decided_by,
                    }
                    for r in entries
                ],
            }
        )
    total = market_progress(inputs, on)
    return {
        "market": {
            "reference": market["reference"],
            "title": market["title"],
            "legal_basis": market["legal_basis"],
            "buyer": {"name": market["buyer_name"], "siret": market["buyer_siret"], "kind": market["buyer_kind"]},
        },
        "on": on,
        "generated_at": datetime.now(UTC),
        "required_hours": total.required,
        "validated_hours": total.validated,
        "rate": total.rate,
        "behind": total.behind,
        "participants": len(numbers),
        "lots": lots,
    }


def market_csv(report: dict) -> str:
    """One line per validated entry: the proof, with the lot and the market on every line."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "market_reference",
            "buyer_siret",
            "lot_number",
            "contractor_siret",
            "month",
            "participant",
            "hours",
            "mode",
            "contract_type",
            "validated_at",
            "validated_by",
        ]
    )
    market = report["market"]
    for lot in report["lots"]:
        for e in lot["entries"]:
            w.writerow(
                [
                    market["reference"],
                    market["buyer"]["siret"],
                    lot["number"],
                    lot["contractor"]["siret"],
                    e["month"],
                    e["participant"],
                    e["hours"],
                    e["mode"],
                    e["contract_type"],
                    e["validated_at"].isoformat() if e["validated_at"] else "",
                    e["validated_by"] or "",
                ]
            )
    return out.getvalue()
