"""`tremplin clauses import-hours FILE.csv --tenant T`: monthly hours sheets into the clauses database.

The database is the clauses service's (`CLAUSES_DATABASE_URL`, default `var/clauses.db` relative to
the current directory — the file `make run` uses when run from the checkout root); its migrations
are applied first. Every row is checked like POST /api/v1/clauses/lots/{id}/hours (placement, month
of the lot's period, the 210-hour cap across lots, the file's own rows included); any error and
nothing is written. Entries are `declared`: a facilitator validates them through the API.
"""

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import tremplin_clauses
from tremplin_clauses.config import Settings
from tremplin_clauses.importer import ImportReport, import_file
from tremplin_shared.csv_import import ImportFileError
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.migrations import upgrade_to_head

from .import_report import count_rows, show_errors

app = typer.Typer(help="Clauses: hours sheets.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
MIGRATIONS = Path(tremplin_clauses.__file__).parent / "migrations"


@app.command("import-hours")
def import_hours(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")],
    tenant: Annotated[str, typer.Option(help="The territory of the lots, e.g. loir-et-cher.")],
    declared_by: Annotated[str | None, typer.Option(help="Who declares (kept on each entry).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="The clauses database (default: CLAUSES_DATABASE_URL, else var/clauses.db).")
    ] = None,
) -> None:
    """Declare the hours of a CSV sheet (columns: lot_id, or market_reference and lot_number;
    participant_id; month as YYYY-MM; hours). All or nothing: errors are listed with their line in the
    file, and written to FILE.errors.csv."""
    url = database_url or Settings().database_url
    tenant = tenant.strip()
    if not tenant:
        errors.print("[red]error:[/red] --tenant must not be empty")
        raise typer.Exit(2)
    upgrade_to_head(MIGRATIONS, url)
    expected = count_rows(file)
    with Progress(
        TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task("checking", total=expected)

        def advance(rows: int, total: int | None) -> None:
            if total is not None:
                progress.update(task, total=total)
            progress.advance(task, rows)

        async def run() -> ImportReport:
            engine = make_engine(url)
            try:
                return await import_file(make_sessionmaker(engine), file, tenant, declared_by or "import",
                                         progress=advance)  # fmt: skip
            finally:
                await engine.dispose()

        try:
            report = asyncio.run(run())
        except ImportFileError as exc:
            errors.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
    _print_report(file, report)
    if report.errors:
        raise typer.Exit(1)


def _print_report(file: Path, report: ImportReport) -> None:
    show_errors(console, file, report.errors)
    if report.errors:
        console.print(f"Nothing written: {report.rows} rows, with errors.", highlight=False)
        return
    console.print(
        f"Declared {report.written} entries ({report.hours} h) of {report.rows} rows in {report.seconds:.2f} s.",
        highlight=False,
    )
