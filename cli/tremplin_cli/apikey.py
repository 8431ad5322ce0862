"""`tremplin apikey create | list | revoke`: API keys in the gateway's database.

The database is the gateway's (`GATEWAY_DATABASE_URL`, default `var/gateway.db` relative to the
current directory — the file `make run` uses when run from the checkout root). Its migrations are
applied first, so the commands work on a fresh checkout before the gateway ever started.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from tremplin_gateway.config import Settings
from tremplin_gateway.domain.api_keys import ROLES, InvalidApiKeyRequest
from tremplin_gateway.keys import Sessionmaker, create_api_key, list_api_keys, migrate, revoke_api_key
from tremplin_shared.db import make_engine, make_sessionmaker

T = TypeVar("T")

app = typer.Typer(help="Manage the gateway's API keys.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@app.callback()
def _options(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(help="The gateway's database (default: GATEWAY_DATABASE_URL, else var/gateway.db)."),
    ] = None,
) -> None:
    ctx.obj = database_url or Settings().database_url


def _run(ctx: typer.Context, work: Callable[[Sessionmaker], Awaitable[T]]) -> T:
    database_url: str = ctx.obj
    migrate(database_url)

    async def _main() -> T:
        engine = make_engine(database_url)
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(_main())


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(UTC).strftime(fmt) if value else "—"


@app.command()
def create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="The territory, a slug like loir-et-cher (created if missing).")],
    role: Annotated[list[str], typer.Option(help=f"A role (repeat for several): {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'SI insertion du département'.")],
    tenant_name: Annotated[str | None, typer.Option(help="Display name of a new tenant.")] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expire the key after this many days.")] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            help="The key's own rate limit, e.g. 600/minute (default: the gateway's; at most"
            " GATEWAY_API_KEY_MAX_RATE_LIMIT)."
        ),
    ] = None,
    plain: Annotated[bool, typer.Option("--plain", help="Print only the key (for scripts).")] = False,
) -> None:
    """Create an API key and print it — once: it is stored only as a hash."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        key, plaintext = _run(
            ctx,
            lambda sm: create_api_key(
                sm,
                tenant,
                role,
                name,
                tenant_name=tenant_name,
                expires_at=expires_at,
                rate_limit=rate_limit,
                max_rate_limit=Settings().api_key_max_rate_limit,
            ),
        )
    except InvalidApiKeyRequest as exc:
        errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if plain:
        typer.echo(plaintext)
        return
    console.print(
        Panel.fit(
            f"id       {key.id}\n"
            f"tenant   {key.tenant}\n"
            f"roles    {', '.join(key.roles)}\n"
            f"name     {key.name}\n"
            f"expires  {_when(key.expires_at)}\n"
            f"limit    {key.rate_limit or 'gateway default'}",
            title="API key created",
        ),
        highlight=False,
    )
    console.print("The key (shown only now, keep it in a secret store):", style="bold")
    console.print(plaintext, style="bold green", soft_wrap=True, highlight=False, markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
) -> None:
    """List API keys (never the keys themselves)."""
    keys = _run(ctx, lambda sm: list_api_keys(sm, tenant))
    now = datetime.now(UTC)
    table = Table(title=f"API keys{f' of {tenant}' if tenant else ''}", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in (
        "id",
        "tenant",
        "name",
        "roles",
        "prefix",
        "status",
        "created",
        "last used (UTC)",
        "expires",
        "limit",
    ):
        # The id is what `revoke` takes: never cut. The rest folds on narrow terminals.
        table.add_column(column, overflow="fold", no_wrap=column == "id")
    colours = {"active": "green", "revoked": "red", "expired": "yellow"}
    for key in keys:
        status = key.status(now)
        table.add_row(
            str(key.id),
            key.tenant,
            key.name,
            ", ".join(key.roles),
            key.prefix,
            f"[{colours[status]}]{status}[/]",
            _when(key.created_at, "%Y-%m-%d"),
            _when(key.last_used_at),
            _when(key.expires_at, "%Y-%m-%d"),
            key.rate_limit or "default",
        )
    if keys:
        console.print(table)
    else:
        console.print("No API keys.")


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id, as shown by `tremplin apikey list`.")],
) -> None:
    """Revoke an API key: it stops authenticating at once."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        errors.print(f"[red]error:[/red] not a key id: {key_id!r}")
        raise typer.Exit(2) from None
    key = _run(ctx, lambda sm: revoke_api_key(sm, parsed))
    if key is None:
        errors.print(f"[red]error:[/red] no API key with id {parsed}")
        raise typer.Exit(1)
    console.print(f"revoked {key.id} ({key.tenant}, {key.name}) at {_when(key.revoked_at)}", highlight=False)
