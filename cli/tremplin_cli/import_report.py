"""What the import commands show: the expected row count for the progress bar, and the errors —
a table of the first ones, all of them in FILE.errors.csv next to the file."""

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from tremplin_shared.csv_import import RowError, error_report_path, write_error_report

SHOWN_ERRORS = 50


def count_rows(path: Path) -> int:
    """Lines after the header: the progress bar's total (quoted cells spanning lines make it an upper bound)."""
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def show_errors(console: Console, file: Path, errors: list[RowError]) -> None:
    """The errors on screen and in FILE.errors.csv; without errors, an earlier run's report is removed."""
    errors_file = error_report_path(file)
    if not errors:
        errors_file.unlink(missing_ok=True)  # the report of an earlier run of this file, now stale
        return
    table = Table(title=f"{len(errors)} error(s)", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("line", justify="right")
    table.add_column("field")
    table.add_column("message", overflow="fold")
    for error in errors[:SHOWN_ERRORS]:
        table.add_row(str(error.line), error.field, error.message)
    console.print(table)
    if len(errors) > SHOWN_ERRORS:
        console.print(f"… and {len(errors) - SHOWN_ERRORS} more.")
    write_error_report(errors, errors_file)
    console.print(f"Error report: {errors_file}", highlight=False)
