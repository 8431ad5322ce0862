"""Bulk import of participants from a CSV file (`tremplin participants import`).

Columns are the fields of POST /api/v1/participants (api/schemas.py ParticipantIn), validated by
the same pydantic schema and domain rules; `skills` holds ROME codes separated by `|` or `;`.
Empty cells mean "not given". Also accepted, as spreadsheets write them: `;` or tab as the column
separator, a UTF-8 BOM, dates as DD/MM/YYYY, decimal commas, oui/non and vrai/faux.

Every row is checked first (line numbers are the file's: the header is line 1). A NIR twice in
the file, or already registered in the tenant, is an error line. Then, in ONE transaction, the
valid rows are written in batches (executemany) with their participant.registered.v1 and
participant.profile_changed.v1 events in the outbox — the running service's relay publishes them.
All-or-nothing writes nothing when any row is invalid; valid-rows writes the others.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tremplin_shared.csv_import import RowError, check_columns, read_csv
from tremplin_shared.events import new_event
from tremplin_shared.messaging.outbox import add_rows, outbox_row

from .adapters import repository
from .api.schemas import ParticipantIn
from .domain.flags import today
from .domain.nir import nir_hash
from .domain.participant import InvalidParticipant, Participant
from .profile import SOURCE, profile_event

COLUMNS = tuple(ParticipantIn.model_fields)
REQUIRED = tuple(name for name, f in ParticipantIn.model_fields.items() if f.is_required())
DATE_FIELDS = ("birth_date", "unemployed_since")
FLOAT_FIELDS = ("latitude", "longitude")
BOOL_FIELDS = tuple(n for n, f in ParticipantIn.model_fields.items() if f.annotation is bool)
FRENCH_BOOLEANS = {"oui": "true", "o": "true", "vrai": "true", "non": "false", "faux": "false"}
BATCH = 1000

# (phase "check" | "write", rows done since the last call, rows in the phase when known)
Progress = Callable[[str, int, int | None], None]


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    written: int = 0
    errors: list[RowError] = field(default_factory=list)
    check_seconds: float = 0.0
    write_seconds: float = 0.0


# ------------------------------------------------------------------------------------------- reading
def check_header(header: list[str]) -> None:
    check_columns(header, COLUMNS, REQUIRED)


def row_to_body(header: list[str], record: list[str]) -> dict:
    """Cells → a POST body: empty cells left out, skills split, French spreadsheet habits read."""
    body = {}
    for name, raw in zip(header, record, strict=False):
        value = raw.strip()
        if not value:
            continue
        if name == "skills":
            body[name] = [code.strip() for code in re.split(r"[|;,]", value) if code.strip()]
        elif name in DATE_FIELDS and (m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)):
            body[name] = f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}"
        elif name in FLOAT_FIELDS and re.fullmatch(r"-?\d+,\d+", value):
            body[name] = value.replace(",", ".")
        elif name in BOOL_FIELDS:
            body[name] = FRENCH_BOOLEANS.get(value.lower(), value)
        else:
            body[name] = value
    return body


# ------------------------------------------------------------------------------------------ checking
def check_row(line: int, body: dict, tenant: str, nir_key: str, on: date) -> tuple[Participant | None, list[RowError]]:
    try:
        parsed = ParticipantIn.model_validate(body)
    except ValidationError as exc:
        return None, [RowError(line, ".".join(str(p) for p in e["loc"]) or "-", e["msg"]) for e in exc.errors()]
    fields = parsed.model_dump(exclude={"nir"})
    try:
        participant = Participant(tenant=tenant, **fields)
        participant.check_not_in_future(on)
    except InvalidParticipant as exc:
        return None, [RowError(line, exc.field, exc.message)]
    if parsed.nir is not None:
        participant.nir_hash = nir_hash(parsed.nir.get_secret_value(), nir_key)
    return participant, []


async def check_file(
    session: AsyncSession, path: Path, tenant: str, nir_key: str, progress: Progress | None = None
) -> tuple[list[tuple[int, Participant]], ImportReport]:
    """Every row checked; the valid ones with their line, and the report of the invalid ones."""
    started = time.perf_counter()
    header, records = read_csv(path)
    check_header(header)
    report, valid, first_line_of_nir = ImportReport(), [], {}
    on = today()
    for line, record in records:
        report.rows += 1
        if len(record) > len(header):
            report.errors.append(RowError(line, "-", f"{len(record)} cells for {len(header)} columns"))
        else:
            participant, errors = check_row(line, row_to_body(header, record), tenant, nir_key, on)
            if participant is not None and participant.nir_hash is not None:
                if (first := first_line_of_nir.get(participant.nir_hash)) is not None:
                    participant, errors = None, [RowError(line, "nir", f"the same NIR as line {first}")]
                else:
                    first_line_of_nir[participant.nir_hash] = line
            report.errors += errors
            if participant is not None:
                valid.append((line, participant))
        if progress and report.rows % 500 == 0:
            progress("check", 500, None)
    if progress:
        progress("check", report.rows % 500, report.rows)
    existing = await repository.existing_nir_hashes(session, tenant, first_line_of_nir)
    if existing:
        kept = []
        for line, participant in valid:
            if (owner := existing.get(participant.nir_hash)) is not None:
                report.errors.append(RowError(line, "nir", f"a participant with this NIR already exists ({owner})"))
            else:
                kept.append((line, participant))
        valid = kept
    report.errors.sort(key=lambda e: e.line)
    report.valid = len(valid)
    report.check_seconds = time.perf_counter() - started
    return valid, report


# ------------------------------------------------------------------------------------------- writing
def _outbox_rows(participant: Participant, on: date) -> list[dict]:
    tenant = participant.tenant
    registered = participant.registered_event()
    profile = profile_event(participant, None, False, on, changed_at=participant.registered_at)
    return [outbox_row(new_event(data, tenant=tenant, source=SOURCE), data.topic) for data in (registered, profile)]


async def write_participants(
    session: AsyncSession, participants: list[Participant], progress: Progress | None = None
) -> None:
    """In the caller's transaction: the rows and their two events each, BATCH rows per statement."""
    on = today()
    for start in range(0, len(participants), BATCH):
        batch = participants[start : start + BATCH]
        await repository.add_many(session, batch)
        await add_rows(session, [row for p in batch for row in _outbox_rows(p, on)])
        if progress:
            progress("write", len(batch), len(participants))


async def import_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: Path,
    tenant: str,
    nir_key: str,
    *,
    all_or_nothing: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    async with sessionmaker() as session:
        valid, report = await check_file(session, path, tenant, nir_key, progress)
        await session.rollback()  # end the reading transaction before the writing one
        if not valid or (all_or_nothing and report.errors):
            return report
        started = time.perf_counter()
        try:
            async with session.begin():
                await write_participants(session, [p for _, p in valid], progress)
        except IntegrityError:  # a NIR of the file registered meanwhile through the API
            report.errors.append(RowError(0, "nir", "a NIR of the file was registered meanwhile; nothing written"))
            return report
        report.written = len(valid)
        report.write_seconds = time.perf_counter() - started
    return report
