"""Reading the CSV files operators import (participants, clause hours): what spreadsheets export.

Comma, semicolon or tab (whichever the header line uses most), UTF-8 with or without a BOM, blank
lines skipped, and each record with the file line it starts on (quoted cells may span lines), so
errors can point at the line a person sees in their editor.
"""

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, empty, wrong columns)."""


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row: its line in the file, the column, the reason."""

    line: int
    field: str
    message: str


def error_report_path(path: Path) -> Path:
    """people.csv → people.errors.csv, next to it."""
    return path.with_name(f"{path.stem}.errors.csv")


def write_error_report(errors: list[RowError], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "field", "message"])
        writer.writerows((e.line, e.field, e.message) for e in errors)


def read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and the records with the file line each starts on."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
        first = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"cannot read {path}: {exc}") from None
    delimiter = max((",", ";", "\t"), key=first.count)
    handle.seek(0)
    if handle.read(1) != "\ufeff":  # utf-8-sig skips a BOM only when reading from the start
        handle.seek(0)
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFileError("the file is empty") from None

    def records() -> Iterator[tuple[int, list[str]]]:
        with handle:
            start = reader.line_num + 1
            for record in reader:
                if any(cell.strip() for cell in record):
                    yield start, record
                start = reader.line_num + 1

    return header, records()


_NAME_LIKE = re.compile(r"[a-z][a-z0-9_]{0,39}")  # the columns are snake_case; a name or a date is not


def check_columns(header: list[str], known: Iterable[str], required: Iterable[str]) -> None:
    """Every column known, none twice, the required ones there."""
    known = list(known)
    unknown = [h for h in header if h not in known]
    if unknown:
        # Named only when they look like column names: a file without its header row would otherwise
        # print its first person (a NIR, a birth date) on the operator's terminal.
        shown = [h if _NAME_LIKE.fullmatch(h) else f"column {header.index(h) + 1}" for h in unknown]
        raise ImportFileError(f"unknown columns: {', '.join(shown)} (expected some of: {', '.join(known)})")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ImportFileError(f"columns given twice: {', '.join(duplicated)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportFileError(f"missing required columns: {', '.join(missing)}")
