"""aiokafka plumbing: producers, topic creation, reachability."""

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def make_producer(bootstrap: str, **overrides: object) -> AIOKafkaProducer:
    # No idempotent producer: Tansu refuses InitProducerId. Ordering per key comes from one
    # in-flight request per partition (aiokafka's behaviour), duplicates from the inbox.
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 200,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    """Create the topics that are missing. Safe to call at every start and after a broker restart."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in missing]
            )
            log.info("created topics", extra={"fields": {"topics": missing}})
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()


async def topic_layout_intact(admin: AIOKafkaAdminClient, topics: list[str], partitions: int) -> bool:
    """True when every topic exists with the partition count we create it with.

    A memory broker that restarts loses its topics, and a send retried by the producer after the
    restart makes it auto-create the topic with its own default layout, acking records that are
    then not readable where the key says. Checking after the acks catches that case.
    """
    described = await admin.describe_topics(list(topics))
    return all(t.get("error_code") == 0 and len(t.get("partitions", ())) == partitions for t in described)


async def recreate_topics(admin: AIOKafkaAdminClient, topics: list[str], partitions: int) -> None:
    existing = set(await admin.list_topics())
    doomed = [t for t in topics if t in existing]
    if doomed:
        await admin.delete_topics(doomed)
    await admin.create_topics([NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in topics])
    log.warning("recreated topics with a wrong layout", extra={"fields": {"topics": topics}})


async def broker_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), timeout)
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        return True
    return False
