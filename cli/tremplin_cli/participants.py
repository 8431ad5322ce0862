"""`tremplin participants import FILE.csv --tenant T`: bulk registration into the participants database.

The database is the participants service's (`PARTICIPANTS_DATABASE_URL`, default
`var/participants.db` relative to the current directory — the file `make run` uses when run from
the checkout root); its migrations are applied first. NIRs are hashed with
`PARTICIPANTS_NIR_HASH_KEY`, which must be the running service's. Events go to the service's
outbox: its relay publishes them (the service need not run during the import).
"""

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import tremplin_participants
from tremplin_participants.config import Settings
from tremplin_participants.importer import (
    ImportReport,
    import_file,
)
from tremplin_shared.csv_import import ImportFileError
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.migrations import upgrade_to_head

from .import_report import count_rows, show_errors

app = typer.Typer(help="Participants: bulk import.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
MIGRATIONS = Path(tremplin_participants.__file__).parent / "migrations"


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")],
    tenant: Annotated[str, typer.Option(help="The territory the participants belong to, e.g. loir-et-cher.")],
    all_or_nothing: Annotated[
        bool,
        typer.Option(
            "--all-or-nothing/--valid-rows",
            help="Write nothing if any row is invalid (default), or write the valid rows and report the others.",
        ),
    ] = True,
    database_url: Annotated[
        str | None,
        typer.Option(help="The participants database (default: PARTICIPANTS_DATABASE_URL, else var/participants.db)."),
    ] = None,
) -> None:
    """Register the participants of a CSV file (columns: the fields of POST /api/v1/participants).

    Errors are listed with their line in the file, and written to FILE.errors.csv."""
    settings = Settings()
    url = database_url or settings.database_url
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
        tasks = {
            "check": progress.add_task("checking", total=expected),
            "write": progress.add_task("writing", total=None, visible=False),
        }

        def advance(phase: str, rows: int, total: int | None) -> None:
            if total is not None:
                progress.update(tasks[phase], total=total, visible=True)
            progress.advance(tasks[phase], rows)

        async def run() -> ImportReport:
            engine = make_engine(url)
            try:
                return await import_file(
                    make_sessionmaker(engine), file, tenant, settings.nir_hash_key, all_or_nothing=all_or_nothing,
                    progress=advance,
                )  # fmt: skip
            finally:
                await engine.dispose()

        try:
            report = asyncio.run(run())
        except ImportFileError as exc:
            errors.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None

    _print_report(file, report, all_or_nothing)
    if report.errors:
        raise typer.Exit(1)


def _print_report(file: Path, report: ImportReport, all_or_nothing: bool) -> None:
    show_errors(console, file, report.errors)
    seconds = report.check_seconds + report.write_seconds
    rate = f", {report.written / seconds:,.0f} rows/s" if report.written and seconds else ""
    if report.written:
        console.print(
            f"Imported {report.written} of {report.rows} rows in {seconds:.2f} s "
            f"(check {report.check_seconds:.2f} s, write {report.write_seconds:.2f} s{rate}).",
            highlight=False,
        )
    elif report.errors and all_or_nothing:
        console.print(
            f"Nothing written: {report.rows - report.valid} of {report.rows} rows are invalid "
            "(--valid-rows writes the valid ones).",
            highlight=False,
        )
    else:
        console.print(f"Nothing written ({report.rows} rows, none valid).", highlight=False)
