"""Webhooks out: the consumer of the services' topics fans each event out to the subscriptions
of ITS tenant (the CloudEvent carries it), and the delivery worker POSTs them, signed.

Fan-out runs in the consumer's transaction, with the inbox row: a redelivered event enqueues
nothing twice (and a delivery is unique per subscription and event). The worker takes due
deliveries (a conditional UPDATE claims each one, so several gateway instances do not send the
same attempt twice), POSTs, and writes the attempt, the delivery's new state and the
subscription's failure count in one transaction.
"""

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from cryptography.fernet import Fernet
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import EVENT_TYPES, CloudEvent
from tremplin_shared.events.contracts import CLAUSES_TOPIC, FUNDING_TOPIC, MATCHING_TOPIC, PARTICIPANTS_TOPIC
from tremplin_shared.messaging.consumer import EventConsumer

from .adapters.webhooks import WebhookRepository
from .config import Settings
from .domain.webhooks import RetryPolicy, sign, structured_event, wants
from .keys import Sessionmaker

log = logging.getLogger(__name__)

OUTBOUND_TOPICS = [PARTICIPANTS_TOPIC, MATCHING_TOPIC, CLAUSES_TOPIC, FUNDING_TOPIC]
CONSUMER_NAME = "gateway-webhooks"
USER_AGENT = "Tremplin-Webhooks/1"


def outbound_event_types() -> list[str]:
    """Every event type the services publish on their topics (what a subscription may name)."""
    return sorted(t for t, contract in EVENT_TYPES.items() if contract.topic in OUTBOUND_TOPICS)


class SecretBox:
    """Subscription secrets are kept encrypted at rest (they must be read back to sign)."""

    def __init__(self, key_material: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(f"tremplin-webhooks:{key_material}".encode()).digest())
        self.fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self.fernet.decrypt(sealed.encode()).decode()


def utcnow() -> datetime:
    return datetime.now(UTC)


async def fan_out(session: AsyncSession, event: CloudEvent, _data) -> None:
    """The consumer's handler for every outbound type: one delivery per wanting subscription."""
    repo = WebhookRepository(session)
    subscriptions = [s for s in await repo.enabled_subscriptions(event.tenant) if wants(s["event_types"], event.type)]
    if not subscriptions:
        return
    now = utcnow()
    body = structured_event(
        id=event.id, type=event.type, source=event.source, subject=event.subject, tenant=event.tenant,
        time=event.time, data=event.data,
    ).decode()  # fmt: skip
    await repo.enqueue(
        [
            {
                "id": uuid.uuid4(), "subscription_id": s["id"], "event_id": event.id, "event_type": event.type,
                "body": body, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
                "delivered_at": None,
            }
            for s in subscriptions
        ]
    )  # fmt: skip


def webhook_consumer(settings: Settings, sessionmaker: Sessionmaker) -> EventConsumer:
    return EventConsumer(
        CONSUMER_NAME,
        OUTBOUND_TOPICS,
        dict.fromkeys(outbound_event_types(), fan_out),
        sessionmaker,
        settings.kafka_bootstrap_servers,
        settings.consumer_max_attempts,
        settings.consumer_retry_backoff_seconds,
        settings.kafka_partitions,
        group_options=settings.consumer_group_options(),
        # An older event about an erased participant (a DLQ replay) is not sent to subscribers again.
        erasure_tombstones=True,
    )


class DeliveryWorker:
    def __init__(
        self,
        sessionmaker: Sessionmaker,
        box: SecretBox,
        policy: RetryPolicy,
        timeout_seconds: float = 5.0,
        poll_interval: float = 0.2,
        batch: int = 50,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.policy = policy
        self.poll_interval = poll_interval
        self.batch = batch
        self.client = httpx.AsyncClient(
            timeout=timeout_seconds, follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT}
        )
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sent = await self.tick()
            except SQLAlchemyError:
                log.warning("webhook worker could not read its queue", exc_info=True)
                sent = 0
            if sent == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def tick(self) -> int:
        """Attempt every due delivery once (concurrently); how many were attempted."""
        now = utcnow()
        async with self.sessionmaker() as session:
            repo = WebhookRepository(session)
            due = await repo.due(now, self.batch)
            claimed = []
            lease = now + timedelta(seconds=60)  # a worker dying mid-attempt: tried again after that
            for row in due:
                if await repo.claim(row["id"], row["next_attempt_at"], lease):
                    claimed.append(row)
            await session.commit()
        # One subscription's deliveries go one after the other, in order; subscriptions in parallel.
        by_subscription: dict[uuid.UUID, list[dict]] = {}
        for row in claimed:
            by_subscription.setdefault(row["subscription_id"], []).append(row)
        attempted = await asyncio.gather(*(self._attempt_in_order(rows) for rows in by_subscription.values()))
        return sum(attempted)

    async def _attempt_in_order(self, rows: list[dict]) -> int:
        for i, row in enumerate(rows):
            if await self.attempt(row):  # the subscription got disabled: hand the others back
                async with self.sessionmaker() as session:
                    repo = WebhookRepository(session)
                    for rest in rows[i + 1 :]:
                        await repo.update_delivery(rest["id"], next_attempt_at=utcnow())
                    await session.commit()
                return i + 1
        return len(rows)

    async def attempt(self, row: dict) -> bool:
        """POST one delivery and record the attempt; whether the subscription got disabled."""
        body = row["body"].encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "Tremplin-Webhook-Id": str(row["subscription_id"]),
            "Tremplin-Delivery-Id": str(row["id"]),
            "Tremplin-Event-Id": row["event_id"],
            "Tremplin-Event-Type": row["event_type"],
            "Tremplin-Timestamp": str(timestamp),
            "Tremplin-Signature": sign(self.box.open(row["secret"]), timestamp, body),
        }
        started = time.perf_counter()
        status_code, error = None, None
        try:
            response = await self.client.post(row["url"], content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"answered {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration = round((time.perf_counter() - started) * 1000, 2)
        return await self._record(row, status_code, error, duration)

    async def _record(self, row: dict, status_code: int | None, error: str | None, duration_ms: float) -> bool:
        now = utcnow()
        number = row["attempts"] + 1
        disabled = False
        async with self.sessionmaker() as session:
            repo = WebhookRepository(session)
            await repo.record_attempt(
                {
                    "id": uuid.uuid4(), "delivery_id": row["id"], "number": number, "at": now,
                    "status_code": status_code, "error": error, "duration_ms": duration_ms,
                }
            )  # fmt: skip
            if error is None:
                await repo.update_delivery(row["id"], status="delivered", attempts=number, delivered_at=now,
                                           next_attempt_at=None)  # fmt: skip
                await repo.subscription_succeeded(row["subscription_id"])
            else:
                give_up = number >= self.policy.max_attempts
                await repo.update_delivery(
                    row["id"],
                    attempts=number,
                    status="failed" if give_up else "pending",
                    next_attempt_at=None if give_up else self.policy.next_attempt(number, now),
                )
                disabled = await repo.subscription_failed(row["subscription_id"], self.policy.disable_after, now)
                if disabled:
                    log.warning(
                        "webhook subscription disabled after consecutive failures",
                        extra={"fields": {"subscription": str(row["subscription_id"])}},
                    )
            await session.commit()
        return disabled

    async def close(self) -> None:
        await self.client.aclose()
