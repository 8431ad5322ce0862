"""The Prometheus gauges of a component's event path, for its /metrics: the outbox's backlog and lag,
what the relay published, what the consumer applied or dead-lettered, what the retention purged."""

from prometheus_client import CollectorRegistry, Gauge

from .messaging.consumer import EventConsumer
from .messaging.outbox import outbox_stats
from .messaging.relay import OutboxRelay
from .messaging.retention import MessagingRetention


async def add_messaging_gauges(
    registry: CollectorRegistry,
    sessionmaker,
    relay: OutboxRelay,
    consumer: EventConsumer | None,
    retention: MessagingRetention,
) -> None:
    def gauge(name: str, documentation: str, value: float) -> None:
        Gauge(name, documentation, registry=registry).set(value)

    async with sessionmaker() as session:
        pending, lag = await outbox_stats(session)
    gauge("tremplin_outbox_pending", "Outbox rows not yet published", pending)
    gauge("tremplin_outbox_lag_seconds", "Age of the oldest unpublished outbox row", lag)
    gauge("tremplin_outbox_published_total", "Rows published by this process", relay.published_total)
    applied, dead = (consumer.applied_total, consumer.dead_lettered_total) if consumer else (0, 0)
    gauge("tremplin_consumer_applied_total", "Events applied by this process", applied)
    gauge("tremplin_consumer_dead_lettered_total", "Events sent to a DLQ by this process", dead)
    gauge("tremplin_outbox_purged_total", "Published outbox rows deleted by this process's retention purge",
          retention.outbox_purged_total)  # fmt: skip
    gauge("tremplin_inbox_purged_total", "Inbox rows deleted by this process's retention purge",
          retention.inbox_purged_total)  # fmt: skip
