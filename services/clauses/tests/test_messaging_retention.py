"""The outbox and inbox retention purge runs in the service by itself, with its background workers: old
published outbox rows and old inbox rows written while it runs are gone a pass later, the rest stays, and
/metrics counts what went. On SQLite and PostgreSQL; with no broker to be reached: the relay and the
consumer retry meanwhile, the purge does not depend on them."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from tremplin_clauses.config import Settings
from tremplin_shared.embedded_broker import free_port
from tremplin_shared.messaging.tables import inbox, outbox

from .conftest import start


def outbox_row(label: str, age: timedelta) -> dict:
    at = datetime.now(UTC) - age
    return {"event_id": f"{label}-{uuid.uuid4()}", "event_type": "t", "tenant": "t", "topic": "clauses.events",
            "key": label, "headers": [], "value": "{}", "created_at": at, "published_at": at}  # fmt: skip


def inbox_row(label: str, age: timedelta) -> dict:
    return {"consumer": "clauses", "event_id": str(uuid.uuid4()), "event_type": label,
            "processed_at": datetime.now(UTC) - age}  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_service_purges_old_outbox_and_inbox_rows_periodically(backend, postgres, tmp_path, wait_for):
    url = f"sqlite+aiosqlite:///{tmp_path}/clauses.db" if backend == "sqlite" else await postgres.create("clauses")
    settings = Settings(database_url=url, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
                        retention_purge_interval_seconds=0.1)  # fmt: skip
    service, ctx = await start(settings)
    try:
        retention = service.app.state.retention
        assert await wait_for(lambda: _at_least(retention, passes=1))  # the pass at start
        async with service.app.state.sessionmaker() as session, session.begin():
            await session.execute(insert(outbox), [outbox_row("old", timedelta(days=8)),
                                                   outbox_row("recent", timedelta(days=6))])  # fmt: skip
            await session.execute(insert(inbox), [inbox_row("old", timedelta(days=31)),
                                                  inbox_row("recent", timedelta(days=29))])  # fmt: skip

        async def purged() -> bool:
            async with service.app.state.sessionmaker() as session:
                keys = set((await session.execute(select(outbox.c.key))).scalars())
                types = set((await session.execute(select(inbox.c.event_type))).scalars())
            return "old" not in keys and "old" not in types

        assert await wait_for(purged, timeout=10)
        async with service.app.state.sessionmaker() as session:
            assert (await session.execute(select(func.count()).select_from(outbox))).scalar_one() == 1
            assert (await session.execute(select(inbox.c.event_type))).scalars().all() == ["recent"]
        metrics = (await service.client.get("/metrics")).text
        assert "tremplin_outbox_purged_total 1.0" in metrics and "tremplin_inbox_purged_total 1.0" in metrics
        assert retention.passes >= 2
    finally:
        await service.client.aclose()
        await ctx.__aexit__(None, None, None)


async def _at_least(retention, passes: int) -> bool:
    return retention.passes >= passes
