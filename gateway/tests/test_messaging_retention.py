"""The gateway purges its outbox (event intake) and its inbox (webhook consumer) as every service does:
the retention task runs with its background workers (shared/tremplin_shared/messaging/retention.py)."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from tremplin_shared.messaging.tables import inbox, outbox


async def test_the_gateway_purges_old_outbox_and_inbox_rows_with_its_workers(settings_for, start_gateway, wait_for):
    settings = settings_for(run_background_workers=True, retention_purge_interval_seconds=0.1,
                            outbox_retention_days=2, inbox_retention_days=3)  # fmt: skip
    now = datetime.now(UTC)
    async with start_gateway(settings) as gw:
        retention = gw.app.state.retention
        assert (retention.outbox_retention, retention.inbox_retention) == (timedelta(days=2), timedelta(days=3))
        async with gw.app.state.sessionmaker() as session, session.begin():
            await session.execute(insert(outbox), [
                {"event_id": str(uuid.uuid4()), "event_type": "t", "tenant": "t", "topic": "t", "key": key,
                 "headers": [], "value": "{}", "created_at": now - timedelta(days=age),
                 "published_at": now - timedelta(days=age)} for key, age in [("old", 2.5), ("recent", 1.5)]
            ])  # fmt: skip
            await session.execute(insert(inbox), [
                {"consumer": "gateway-webhooks", "event_id": str(uuid.uuid4()), "event_type": label,
                 "processed_at": now - timedelta(days=age)} for label, age in [("old", 3.5), ("recent", 2.5)]
            ])  # fmt: skip

        async def left() -> tuple[list[str], list[str]]:
            async with gw.app.state.sessionmaker() as session:
                keys = (await session.execute(select(outbox.c.key))).scalars().all()
                types = (await session.execute(select(inbox.c.event_type))).scalars().all()
            return list(keys), list(types)

        assert await wait_for(lambda: _only_recent(left))
        assert retention.outbox_purged_total == 1 and retention.inbox_purged_total == 1


async def _only_recent(left) -> bool:
    return await left() == (["recent"], ["recent"])
