"""Retention of the outbox and the inbox (messaging/retention.py), on SQLite and PostgreSQL: published rows
older than the retention go, recent and pending ones (however old) stay, inbox rows older than theirs go,
the erasure tombstones stay; the purge goes in bounded batches along an index; one that fails half-way
leaves whole batches, and the next pass catches up. The settings that drive it, and the check between them."""

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import event, func, insert, select, text

from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.messaging.retention import MessagingRetention, Purged
from tremplin_shared.messaging.tables import (
    erasure_tombstones,
    inbox,
    messaging_metadata,
    outbox,
    tombstone_metadata,
)
from tremplin_shared.settings import ComponentSettings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request, tmp_path, postgres):
    url = f"sqlite+aiosqlite:///{tmp_path}/r.db" if request.param == "sqlite" else await postgres.create("retention")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(tombstone_metadata.create_all)
    yield engine
    await engine.dispose()


def retention(engine, **options) -> MessagingRetention:
    return MessagingRetention("test", make_sessionmaker(engine), **options)


class Outbox:
    """Rows written in seq order, as writers do: created_at grows with seq."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, label: str, created: float, published: float | None) -> None:
        self.rows.append({
            "event_id": f"{label}-{len(self.rows)}", "event_type": "t", "tenant": "t", "topic": "t", "key": label,
            "headers": [], "value": "{}", "created_at": days_ago(created),
            "published_at": None if published is None else days_ago(published),
        })  # fmt: skip

    async def write(self, engine) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(outbox), self.rows)


async def outbox_keys(engine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(outbox.c.key).order_by(outbox.c.seq))).scalars())


async def count_by_key(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.key, func.count()).group_by(outbox.c.key))
        return dict(rows.all())


async def add_inbox(engine, label: str, ages: list[float]) -> None:
    rows = [{"consumer": "c", "event_id": f"{label}-{i}-{uuid.uuid4()}", "event_type": label,
             "processed_at": days_ago(age)} for i, age in enumerate(ages)]  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), rows)


async def inbox_by_type(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        return dict((await conn.execute(select(inbox.c.event_type, func.count()).group_by(inbox.c.event_type))).all())


async def test_published_rows_older_than_the_retention_go_recent_and_pending_ones_stay(engine):
    rows = Outbox()
    rows.add("pending-ancient", created=400, published=None)  # never left (a key that keeps failing)
    rows.add("old", created=30, published=30)
    rows.add("republished", created=20, published=1)  # `tremplin outbox republish` sent it again yesterday
    rows.add("old", created=10, published=9)
    rows.add("pending-old", created=8, published=None)
    rows.add("edge-kept", created=7, published=6.9)
    rows.add("recent", created=2, published=2)
    rows.add("pending-new", created=0, published=None)
    await rows.write(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(erasure_tombstones), [{"tenant": "t", "participant_id": uuid.uuid4(),
                                                         "erased_at": days_ago(900)}])  # fmt: skip

    purged = await retention(engine, outbox_retention=timedelta(days=7)).purge(now=NOW)

    assert purged == Purged(outbox=2, inbox=0)
    assert await outbox_keys(engine) == ["pending-ancient", "republished", "pending-old", "edge-kept", "recent",
                                         "pending-new"]  # fmt: skip
    async with engine.connect() as conn:  # the tombstones are not the purge's: they outlive every replay
        assert (await conn.execute(select(func.count()).select_from(erasure_tombstones))).scalar_one() == 1
    assert await retention(engine).purge(now=NOW) == Purged()  # nothing more is due


async def test_inbox_rows_older_than_their_retention_go_and_recent_ones_stay(engine):
    await add_inbox(engine, "old", [400, 45, 31])
    await add_inbox(engine, "recent", [29, 8, 0])
    purger = retention(engine, inbox_retention=timedelta(days=30))

    assert await purger.purge(now=NOW) == Purged(outbox=0, inbox=3)
    assert await inbox_by_type(engine) == {"recent": 3}
    assert purger.inbox_purged_total == 3 and purger.passes == 1


async def test_default_settings_keep_a_week_of_outbox_and_a_month_of_inbox(engine):
    rows = Outbox()
    rows.add("old", created=8, published=8)
    rows.add("kept", created=6, published=6)
    await rows.write(engine)
    await add_inbox(engine, "old", [31])
    await add_inbox(engine, "kept", [8])
    purger = MessagingRetention.from_settings("test", ComponentSettings(), make_sessionmaker(engine))
    assert (purger.outbox_retention, purger.inbox_retention) == (timedelta(days=7), timedelta(days=30))
    assert (purger.interval, purger.batch_size) == (3600, 5000)

    assert await purger.purge(now=NOW) == Purged(outbox=1, inbox=1)
    assert await outbox_keys(engine) == ["kept"] and await inbox_by_type(engine) == {"kept": 1}


class Deletes:
    """The DELETE statements the engine runs, and the rows each one deleted."""

    def __init__(self, engine) -> None:
        self.rowcounts: list[tuple[str, int]] = []
        event.listen(engine.sync_engine, "after_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            self.rowcounts.append((statement.split()[2].strip('"'), cursor.rowcount))

    def of(self, table: str) -> list[int]:
        return [n for name, n in self.rowcounts if name == table]


async def test_the_purge_goes_in_batches_of_bounded_size_until_every_old_row_is_gone(engine):
    rows = Outbox()
    for i in range(60):  # old published rows among pending and republished ones, then recent ones
        rows.add("pending" if i % 10 == 3 else "republished" if i % 10 == 7 else "old", created=40 - i * 0.5,
                 published=None if i % 10 == 3 else 1 if i % 10 == 7 else 40 - i * 0.5)  # fmt: skip
    for _ in range(20):
        rows.add("recent", created=1, published=1)
    await rows.write(engine)
    await add_inbox(engine, "old", [31 + i for i in range(23)])
    await add_inbox(engine, "recent", [1] * 5)
    deletes = Deletes(engine)

    purged = await retention(engine, batch_size=7).purge(now=NOW)

    assert purged == Purged(outbox=48, inbox=23)
    assert await count_by_key(engine) == {"pending": 6, "republished": 6, "recent": 20}
    assert await inbox_by_type(engine) == {"recent": 5}
    # one statement per batch, none deleting more than the batch; the outbox walk stopped at the recent rows
    # windows of 7 rows: the ninth ends among the recent rows, where the walk stops (no window beyond)
    assert len(deletes.of("outbox")) == 9 and max(deletes.of("outbox")) <= 7
    assert deletes.of("inbox") == [7, 7, 7, 2]


async def test_a_purge_failing_half_way_keeps_whole_batches_and_the_next_pass_catches_up(engine, caplog):
    rows = Outbox()
    for _ in range(30):
        rows.add("old", created=20, published=20)
    rows.add("pending", created=20, published=None)
    rows.add("recent", created=1, published=1)
    await rows.write(engine)
    await add_inbox(engine, "old", [40] * 12)
    deletes = Deletes(engine)
    commits = 0

    def third_commit_fails(conn) -> None:  # the database goes away as the third batch commits
        nonlocal commits
        commits += 1
        if commits == 3:
            raise ConnectionError("server closed the connection unexpectedly")

    event.listen(engine.sync_engine, "commit", third_commit_fails)
    purger = retention(engine, batch_size=5)
    with caplog.at_level(logging.INFO, logger="tremplin_shared.messaging.retention"):
        with pytest.raises(ConnectionError):
            await purger.purge(now=NOW)
    event.remove(engine.sync_engine, "commit", third_commit_fails)

    assert deletes.of("outbox")[:3] == [5, 5, 5]  # the third batch was deleted, then not committed…
    assert await count_by_key(engine) == {"old": 20, "pending": 1, "recent": 1}  # …so it is all there
    assert await inbox_by_type(engine) == {"old": 12}  # the inbox's turn had not come
    assert purger.outbox_purged_total == 10 and purger.passes == 0
    failed = [r for r in caplog.records if r.getMessage() == "retention purge failed"]
    assert len(failed) == 1 and failed[0].fields["outbox_deleted"] == 10 and "closed" in failed[0].fields["error"]

    assert await purger.purge(now=NOW) == Purged(outbox=20, inbox=12)
    assert await count_by_key(engine) == {"pending": 1, "recent": 1} and await inbox_by_type(engine) == {}
    assert purger.outbox_purged_total == 30 and purger.inbox_purged_total == 12 and purger.passes == 1


async def test_the_purge_statements_read_an_index_not_the_whole_table(engine):
    """Planner-level, on the statements a purge actually runs: the inbox batches along
    ix_inbox_processed_at and deletes by address, the outbox windows by primary-key range."""
    rows = Outbox()
    for i in range(20_000):
        rows.add("k", created=20 - i / 1000, published=20 - i / 1000)
    await rows.write(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), [{"consumer": "c", "event_id": str(uuid.uuid4()), "event_type": "t",
                                            "processed_at": days_ago(i / 1000)} for i in range(20_000)])  # fmt: skip
        await conn.execute(text("ANALYZE"))
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    purged = await retention(engine, outbox_retention=timedelta(days=10), inbox_retention=timedelta(days=10),
                             batch_size=3000).purge(now=NOW)  # fmt: skip
    event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert purged == Purged(outbox=10_000, inbox=9_999)  # ages 20 to 0 days, step 0.001

    sqlite = engine.dialect.name == "sqlite"
    explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
    async with engine.connect() as conn:
        plans = {}
        for statement, parameters in statements:
            result = await conn.exec_driver_sql(explain + statement, parameters)
            plans.setdefault(statement.split()[2].strip('"'), []).append(" | ".join(str(r) for r in result.all()))
    assert len(plans["outbox"]) >= 4 and len(plans["inbox"]) == 4  # batches of 3000
    for plan in plans["inbox"]:
        assert "ix_inbox_processed_at" in plan, plan
        assert ("SCAN inbox" not in plan) if sqlite else ("Seq Scan" not in plan and "Tid Scan" in plan), plan
    for plan in plans["outbox"]:
        assert ("INTEGER PRIMARY KEY" in plan) if sqlite else ("Seq Scan" not in plan and "outbox_pkey" in plan), plan


def test_the_settings_take_the_component_prefix_and_refuse_an_inbox_shorter_than_the_outbox(monkeypatch):
    from pydantic_settings import SettingsConfigDict

    class Demo(ComponentSettings):
        model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    monkeypatch.setenv("DEMO_OUTBOX_RETENTION_DAYS", "3")
    monkeypatch.setenv("DEMO_INBOX_RETENTION_DAYS", "60")
    monkeypatch.setenv("DEMO_RETENTION_PURGE_INTERVAL_SECONDS", "120")
    monkeypatch.setenv("DEMO_RETENTION_PURGE_BATCH_SIZE", "100")
    demo = Demo()
    assert (demo.outbox_retention_days, demo.inbox_retention_days) == (3, 60)
    assert (demo.retention_purge_interval_seconds, demo.retention_purge_batch_size) == (120, 100)
    monkeypatch.setenv("DEMO_INBOX_RETENTION_DAYS", "2")
    with pytest.raises(ValidationError, match="must be at least outbox_retention_days"):
        Demo()
    with pytest.raises(ValidationError):
        ComponentSettings(retention_purge_batch_size=0)
