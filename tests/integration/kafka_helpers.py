"""Reading and writing topics directly, to observe what the services really published."""

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from tremplin_shared.events import CloudEvent, new_event
from tremplin_shared.messaging.kafka import ensure_topics, make_producer


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 10.0) -> list:
    """Every record of a topic from the beginning (stops at `expected` records or after `timeout`).

    Reads by assignment, without a consumer group, so there is no group join to wait for.
    """
    # "earliest": a reset to "latest" by the fetcher could otherwise win the race against the seek.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    records = []
    try:
        await consumer.topics()  # loads the metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def read_matching(bootstrap: str, topic: str, keep, expected: int, timeout: float = 30.0) -> list:
    """The records of a topic that `keep(record)` accepts, once there are `expected` of them (or after
    `timeout`). The suite shares one broker: other tests' records may be on the same topic."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        kept = [r for r in await read_topic(bootstrap, topic, expected=10**9, timeout=0.5) if keep(r)]
        if len(kept) >= expected or asyncio.get_running_loop().time() > deadline:
            return kept
        await asyncio.sleep(0.2)


async def publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None, list]]) -> None:
    """Produce raw (key, value, headers) records, in order."""
    await ensure_topics(bootstrap, [topic], 6)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


def as_record(event: CloudEvent) -> tuple[bytes, bytes, list]:
    return event.subject.encode(), event.value(), event.headers()


def event_of(data, tenant: str = "loir-et-cher") -> CloudEvent:
    return new_event(data, tenant=tenant, source="/tests")
