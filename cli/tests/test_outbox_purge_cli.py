"""`tremplin outbox purge`: one retention pass on a component's database, with the component's settings
(<COMPONENT>_OUTBOX_RETENTION_DAYS…) or the options over them, through typer's CliRunner, on SQLite."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from tremplin_cli.main import app
from tremplin_shared.db import make_engine
from tremplin_shared.messaging.tables import inbox, messaging_metadata, outbox

runner = CliRunner()


def tremplin(*args: str, env: dict | None = None):
    return runner.invoke(app, ["outbox", "purge", *args], env={"COLUMNS": "200", **(env or {})})


async def prepare(url: str) -> None:
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(messaging_metadata.create_all)
            await conn.execute(insert(outbox), [
                {"event_id": str(uuid.uuid4()), "event_type": "t", "tenant": "t", "topic": "t", "key": key,
                 "headers": [], "value": "{}", "created_at": now - timedelta(days=age),
                 "published_at": None if key == "pending" else now - timedelta(days=age)}
                for key, age in [("pending", 90), ("published-10d", 10), ("published-3d", 3), ("published-0d", 0)]
            ])  # fmt: skip
            await conn.execute(insert(inbox), [
                {"consumer": "c", "event_id": str(uuid.uuid4()), "event_type": label,
                 "processed_at": now - timedelta(days=age)}
                for label, age in [("processed-40d", 40), ("processed-10d", 10)]
            ])  # fmt: skip
    finally:
        await engine.dispose()


async def left(url: str) -> tuple[list[str], list[str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            keys = (await conn.execute(select(outbox.c.key).order_by(outbox.c.seq))).scalars().all()
            types = (await conn.execute(select(inbox.c.event_type).order_by(inbox.c.event_type))).scalars().all()
    finally:
        await engine.dispose()
    return list(keys), list(types)


@pytest.fixture
def database(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/funding.db"
    asyncio.run(prepare(url))
    return url


def test_the_purge_uses_the_default_retention_and_keeps_pending_rows(database):
    result = tremplin("--service", "funding", "--database-url", database)
    assert result.exit_code == 0, result.output
    assert "deleted 1 outbox row(s) published more than 7 day(s) ago and 1 inbox row(s) older than 30" in result.output
    assert asyncio.run(left(database)) == (["pending", "published-3d", "published-0d"], ["processed-10d"])


def test_the_component_environment_sets_the_retention_and_the_options_override_it(database):
    env = {"FUNDING_DATABASE_URL": database, "FUNDING_OUTBOX_RETENTION_DAYS": "2", "MATCHING_INBOX_RETENTION_DAYS": "5"}
    result = tremplin("--service", "funding", env=env)  # another component's variables are not funding's
    assert result.exit_code == 0, result.output
    assert asyncio.run(left(database)) == (["pending", "published-0d"], ["processed-10d"])
    result = tremplin("--service", "funding", "--inbox-days", "5", env=env)
    assert result.exit_code == 0, result.output
    assert "deleted 0 outbox row(s)" in result.output and "1 inbox row(s) older than 5 day(s)" in result.output
    assert asyncio.run(left(database)) == (["pending", "published-0d"], [])


def test_an_inbox_kept_shorter_than_the_outbox_or_an_unknown_component_is_refused(database):
    result = tremplin("--service", "funding", "--database-url", database, "--inbox-days", "3")
    assert result.exit_code == 2 and "must be at least outbox_retention_days" in result.output
    assert tremplin("--service", "billing", "--database-url", database).exit_code == 2
    assert asyncio.run(left(database))[0] == ["pending", "published-10d", "published-3d", "published-0d"]
