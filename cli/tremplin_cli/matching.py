"""`tremplin matching rebuild`: the candidate projection rebuilt from `participants.events`.

The database is the matching service's (`MATCHING_DATABASE_URL`, default `var/matching.db`, the file
`make run` uses from the checkout root); the broker `MATCHING_KAFKA_BOOTSTRAP_SERVERS`. Restart the
matching service afterwards: its ranking index is loaded from the database at start.
"""

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

import tremplin_matching
from tremplin_matching.config import Settings
from tremplin_matching.rebuild import RebuildError, RebuildReport, rebuild_candidates
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.migrations import upgrade_to_head

app = typer.Typer(help="Matching: the candidate projection.", no_args_is_help=True)
console = Console()
MIGRATIONS = Path(tremplin_matching.__file__).parent / "migrations"


@app.command("rebuild")
def rebuild(
    tenant: Annotated[str | None, typer.Option(help="Only this territory's candidates (default: all).")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers (default: the service's).")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="The matching database (default: MATCHING_DATABASE_URL, else var/matching.db).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Rebuild even from an empty topic (which erases the candidates).")
    ] = False,
) -> None:
    """Delete the candidates and apply every participants event again, from the beginning of the topic,
    in one transaction (a failure leaves the projection as it was)."""
    settings = Settings()
    url = database_url or settings.database_url
    servers = bootstrap or settings.kafka_bootstrap_servers
    scope = f"the candidates of {tenant}" if tenant else "every candidate"
    if not yes:
        typer.confirm(f"Replace {scope} in {url} with a replay of participants.events from {servers}?", abort=True)
    upgrade_to_head(MIGRATIONS, url)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("reading participants.events", total=None)

        async def run() -> RebuildReport:
            engine = make_engine(url)
            try:
                return await rebuild_candidates(
                    make_sessionmaker(engine), servers, tenant, allow_empty=allow_empty,
                    progress=lambda n: bar.update(task, description=f"reading participants.events: {n} records"),
                )  # fmt: skip
            finally:
                await engine.dispose()

        try:
            report = asyncio.run(run())
        except RebuildError as exc:
            console.print(f"[red]not rebuilt:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
    console.print(
        f"rebuilt: {report.deleted} candidate row(s) replaced by the replay of {report.applied} event(s) "
        f"({report.read} record(s) read, {report.skipped} unreadable skipped). Restart matching to reload its index."
    )
