"""Replays: dead letters back onto their topic, an outbox sent again."""

import asyncio
import os
from datetime import datetime

import typer
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import update

from tremplin_shared.db import make_engine
from tremplin_shared.messaging.kafka import make_producer
from tremplin_shared.messaging.tables import outbox

console = Console()
dlq_app = typer.Typer(help="Dead-letter topics.", no_args_is_help=True)
outbox_app = typer.Typer(help="A service's outbox.", no_args_is_help=True)

SERVICES = ("participants", "matching", "clauses", "funding")


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
    """Send a service's events again (after a broker lost its log): its relay picks them up."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}", param_hint="--service")
    url = database_url or os.environ.get(f"{service.upper()}_DATABASE_URL", f"sqlite+aiosqlite:///var/{service}.db")
    with Progress(transient=True) as progress:
        progress.add_task(f"marking {service}'s outbox for republication", total=None)
        count = asyncio.run(mark_unpublished(url, since))
    console.print(f"{count} event(s) of {service} will be published again by its relay")
