"""Bulk import of monthly hours sheets (`tremplin clauses import-hours FILE.csv`), as contractors send them.

Columns: `participant_id`, `month` (YYYY-MM, or MM/YYYY as spreadsheets write it), `hours` (a decimal
comma is fine), and the lot either as `lot_id` or as `market_reference` + `lot_number`. Also
accepted: `;` or tab as the separator, a UTF-8 BOM. Line numbers are the file's (the header is line 1).

Every row is checked as POST /lots/{id}/hours checks it (schema, lot of the tenant, placement, month
of the period, the 210-hour cap across lots — the rows of the file count, as well as what the
database holds), all in ONE transaction: any error and nothing is written. Entries are `declared`;
a facilitator validates them.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tremplin_shared.csv_import import ImportFileError, RowError, check_columns, read_csv

from .adapters import repository as repo
from .adapters.orm import lots, markets
from .api.schemas import HoursIn
from .service_layer import HoursRefused, stage_hours

LOT_BY_ID = ("lot_id",)
LOT_BY_REFERENCE = ("market_reference", "lot_number")
HOURS_COLUMNS = ("participant_id", "month", "hours")
OPTIONAL_COLUMNS = ("mode", "contract_type")  # the placement's when absent or empty
COLUMNS = (*LOT_BY_ID, *LOT_BY_REFERENCE, *HOURS_COLUMNS, *OPTIONAL_COLUMNS)
REPORT_EVERY = 200

# (rows done since the last call, rows in all when known)
Progress = Callable[[int, int | None], None]


@dataclass
class ImportReport:
    rows: int = 0
    written: int = 0
    hours: str = "0.00"
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0


def check_header(header: list[str]) -> None:
    check_columns(header, COLUMNS, HOURS_COLUMNS)
    if "lot_id" not in header and not all(c in header for c in LOT_BY_REFERENCE):
        raise ImportFileError("the lot is needed: a lot_id column, or market_reference and lot_number")


class _Lots:
    """The tenant's lots, by id and by (market reference, lot number), read once each."""

    def __init__(self, session: AsyncSession, tenant: str) -> None:
        self.session, self.tenant, self.cache = session, tenant, {}

    async def find(self, cells: dict) -> tuple[dict | None, str]:
        """The lot of a row (None if there is none such) and the column that names it."""
        if cells.get("lot_id"):
            key = ("id", cells["lot_id"])
            try:
                lot_id = uuid.UUID(cells["lot_id"])
            except ValueError:
                return None, "lot_id"
            if key not in self.cache:
                self.cache[key] = await repo.get_lot(self.session, self.tenant, lot_id)
            return self.cache[key], "lot_id"
        reference, number = cells.get("market_reference", ""), cells.get("lot_number", "")
        if not reference or not number.isdigit():
            return None, "market_reference" if not reference else "lot_number"
        key = ("ref", reference, int(number))
        if key not in self.cache:
            stmt = (
                sa.select(lots.c.id)
                .join(markets, markets.c.id == lots.c.market_id)
                .where(markets.c.tenant == self.tenant, markets.c.reference == reference, lots.c.number == int(number))
            )
            lot_id = (await self.session.execute(stmt)).scalar_one_or_none()
            self.cache[key] = await repo.get_lot(self.session, self.tenant, lot_id) if lot_id else None
        return self.cache[key], "lot_number"


async def import_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: Path,
    tenant: str,
    declared_by: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    started = time.perf_counter()
    header, records = read_csv(path)
    check_header(header)
    report = ImportReport()
    written: list[Decimal] = []
    async with sessionmaker() as session:
        transaction = await session.begin()
        try:
            found = _Lots(session, tenant)
            for line, record in records:
                report.rows += 1
                if progress and report.rows % REPORT_EVERY == 0:
                    progress(REPORT_EVERY, None)
                if len(record) > len(header):
                    report.errors.append(RowError(line, "-", f"{len(record)} cells for {len(header)} columns"))
                    continue
                cells = {name: value.strip() for name, value in zip(header, record, strict=False)}
                body = {k: cells.get(k) or None for k in (*HOURS_COLUMNS, *OPTIONAL_COLUMNS)}
                if body["hours"]:
                    body["hours"] = body["hours"].replace(",", ".").replace(" ", "")
                try:
                    parsed = HoursIn.model_validate(body)
                except ValidationError as exc:
                    report.errors += [RowError(line, ".".join(str(p) for p in e["loc"]) or "-", e["msg"])
                                      for e in exc.errors()]  # fmt: skip
                    parsed = None
                lot, lot_field = await found.find(cells)
                if lot is None:
                    report.errors.append(RowError(line, lot_field, "no such lot in this territory"))
                    continue
                if parsed is None:
                    continue
                try:
                    await stage_hours(session, tenant, declared_by, lot, parsed.participant_id, parsed.month,
                                      parsed.hours, parsed.mode, parsed.contract_type)  # fmt: skip
                except HoursRefused as exc:
                    others = exc.extra.get("other_entries")
                    for name, message in exc.errors:
                        if others:
                            listed = ", ".join(f"{o['id']} ({o['hours']} h, {o['status']})" for o in others)
                            message += f"; other entries: {listed}"
                        report.errors.append(RowError(line, name, message))
                    continue
                written.append(parsed.hours)
            if progress:
                progress(report.rows % REPORT_EVERY, report.rows)
            if report.errors:
                await transaction.rollback()
            else:
                await transaction.commit()
                report.written = len(written)
                report.hours = str(sum(written, Decimal("0.00")))
        except BaseException:
            await transaction.rollback()
            raise
    report.seconds = time.perf_counter() - started
    return report
