"""The `tremplin` command.

Commands are grouped in sub-apps, one module each, registered below with `app.add_typer`
(or `app.command` for a single command).
"""

import json

import typer

from tremplin_shared.events.asyncapi import asyncapi_document

from .apikey import app as apikey_app
from .clauses import app as clauses_app
from .matching import app as matching_app
from .participants import app as participants_app
from .replay import dlq_app, outbox_app
from .stack import run_stack

app = typer.Typer(
    name="tremplin",
    help="Tremplin operator tools: the local stack, API keys, replays, event contracts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # plain tracebacks; rich's would show locals (keys, database URLs)
)

# ---------------------------------------------------------------------------------------- sub-apps
app.add_typer(apikey_app, name="apikey")
app.add_typer(clauses_app, name="clauses")
app.add_typer(dlq_app, name="dlq")
app.add_typer(matching_app, name="matching")
app.add_typer(outbox_app, name="outbox")
app.add_typer(participants_app, name="participants")


# ---------------------------------------------------------------------------------------- commands
@app.command()
def run(
    var_dir: str = typer.Option("var", help="where the SQLite files, logs and the demo key live"),
    ready_timeout: float = typer.Option(60, help="seconds to wait for every component to be ready"),
) -> None:
    """The whole stack on the embedded default (Tansu, SQLite), with the demo territory. Ctrl-C stops it."""
    run_stack(var_dir=var_dir, ready_timeout=ready_timeout)


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI document of the platform's events (generated from the contracts)."""
    typer.echo(json.dumps(asyncapi_document(), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    app()
