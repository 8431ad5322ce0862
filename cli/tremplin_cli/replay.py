"""Replays: dead letters back onto their topic, an outbox sent again; the outbox and inbox retention purge."""

import asyncio
import os
from datetime import datetime

import typer
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import update

from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.messaging.kafka import make_producer
from tremplin_shared.messaging.retention import MessagingRetention, Purged
from tremplin_shared.messaging.tables import outbox
from tremplin_shared.settings import ComponentSettings

console = Console()
dlq_app = typer.Typer(help="Dead-letter topics.", no_args_is_help=True)
outbox_app = typer.Typer(help="A service's outbox.", no_args_is_help=True)

SERVICES = ("participants", "matching", "clauses", "funding")
COMPONENTS = (*SERVICES, "gateway")  # the gateway has an outbox (event intake) and an inbox (webhooks) too


def default_bootstrap() -> str:
    return os.environ.get("TREMPLIN_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


async def replay_dead_letters(bootstrap: str, dlq: str, group: str, idle_seconds: float = 2.0) -> int:
    """Produce every record of `dlq` back to its original topic, without the dlq_* headers.

    The replay group commits after each record, so a replay interrupted half-way resumes where it
    stopped; consumers deduplicate through their inbox if a record is replayed twice.
    """
    consumer = AIOKafkaConsumer(
        dlq, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    producer = make_producer(bootstrap)
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=int(idle_seconds * 1000))
            if not batches:
                return replayed
            for tp, records in batches.items():
                for record in records:
                    headers = dict(record.headers)
                    target = headers.get("dlq_original_topic", dlq.removesuffix(".dlq").encode()).decode()
                    kept = [(k, v) for k, v in record.headers if not k.startswith("dlq_")]
                    await producer.send_and_wait(target, value=record.value, key=record.key, headers=kept)
                    await consumer.commit({tp: record.offset + 1})
                    replayed += 1
    finally:
        await consumer.stop()
        await producer.stop()


@dlq_app.command("replay")
def dlq_replay(
    dlq: str = typer.Argument(..., help="e.g. participants.events.dlq"),
    bootstrap: str = typer.Option(None, help="Kafka bootstrap servers (default 127.0.0.1:9092)"),
    group: str = typer.Option("tremplin-dlq-replay", help="Consumer group of the replay; a new name starts over"),
) -> None:
    """Put the dead letters of a DLQ back onto their original topic."""
    count = asyncio.run(replay_dead_letters(bootstrap or default_bootstrap(), dlq, group))
    console.print(f"replayed {count} dead letter(s) from {dlq}")


async def mark_unpublished(database_url: str, since: datetime | None) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            stmt = update(outbox).where(outbox.c.published_at.is_not(None)).values(published_at=None)
            if since is not None:
                stmt = stmt.where(outbox.c.created_at >= since)
            return (await conn.execute(stmt)).rowcount
    finally:
        await engine.dispose()


@outbox_app.command("republish")
def outbox_republish(
    service: str = typer.Option(..., help=f"one of {', '.join(SERVICES)}"),
    since: datetime = typer.Option(None, help="only events created at or after this time (ISO 8601)"),
    database_url: str = typer.Option(None, help="default: <SERVICE>_DATABASE_URL or var/<service>.db"),
) -> None:
    """Send a service's events again (after a broker lost its log): its relay picks them up. Only what the
    retention purge kept can go again: the rows published less than <SERVICE>_OUTBOX_RETENTION_DAYS ago."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}", param_hint="--service")
    url = database_url or os.environ.get(f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///var/{service}.db")
    with Progress(transient=True) as progress:
        progress.add_task(f"marking {service}'s outbox for republication", total=None)
        count = asyncio.run(mark_unpublished(url, since))
    console.print(f"{count} event(s) of {service} will be published again by its relay")


def retention_settings(component: str, overrides: dict) -> ComponentSettings:
    """The component's retention settings from its environment (<COMPONENT>_OUTBOX_RETENTION_DAYS…),
    the options given on the command line over them, checked as the component checks them."""

    class Settings(ComponentSettings):
        model_config = SettingsConfigDict(env_prefix=f"{component.upper()}_", extra="ignore")
        database_url: str = f"sqlite+aiosqlite:///var/{component}.db"

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


async def purge_messaging(settings: ComponentSettings, component: str) -> Purged:
    engine = make_engine(settings.database_url)
    try:
        return await MessagingRetention.from_settings(component, settings, make_sessionmaker(engine)).purge()
    finally:
        await engine.dispose()


@outbox_app.command("purge")
def outbox_purge(
    service: str = typer.Option(..., help=f"one of {', '.join(COMPONENTS)}"),
    outbox_days: float = typer.Option(None, help="rows published longer ago go (<SERVICE>_OUTBOX_RETENTION_DAYS, 7)"),
    inbox_days: float = typer.Option(None, help="inbox rows older than this go (<SERVICE>_INBOX_RETENTION_DAYS, 30)"),
    batch_size: int = typer.Option(None, help="rows per statement (<SERVICE>_RETENTION_PURGE_BATCH_SIZE, 5000)"),
    database_url: str = typer.Option(None, help="default: <SERVICE>_DATABASE_URL or var/<service>.db"),
) -> None:
    """Delete now what the component's retention purge deletes every hour: the outbox rows published
    longer ago than the retention (pending rows always stay) and the old inbox rows (the erasure
    tombstones stay). The service may be running: the purge goes in short batches."""
    if service not in COMPONENTS:
        raise typer.BadParameter(f"unknown service {service!r}", param_hint="--service")
    overrides = {"database_url": database_url, "outbox_retention_days": outbox_days,
                 "inbox_retention_days": inbox_days, "retention_purge_batch_size": batch_size}  # fmt: skip
    try:
        settings = retention_settings(service, overrides)
    except ValidationError as exc:
        messages = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        raise typer.BadParameter(messages) from None
    with Progress(transient=True) as progress:
        progress.add_task(f"purging {service}'s outbox and inbox", total=None)
        purged = asyncio.run(purge_messaging(settings, service))
    console.print(
        f"{service}: deleted {purged.outbox} outbox row(s) published more than {settings.outbox_retention_days:g} "
        f"day(s) ago and {purged.inbox} inbox row(s) older than {settings.inbox_retention_days:g} day(s)"
    )
