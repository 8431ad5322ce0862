"""Webhooks out: the consumer of the services' topics fans each event out to the subscriptions
of ITS tenant (the CloudEvent carries it), and the delivery worker POSTs them, signed.

Fan-out runs in the consumer's transaction, with the inbox row: a redelivered event enqueues
nothing twice (and a delivery is unique per subscription and event). The worker takes due
deliveries (a conditional UPDATE claims each one, so several gateway instances do not send the
same attempt twice), POSTs, and writes the attempt, the delivery's new state and the
subscription's failure count in one transaction.

Each subscription's claimed deliveries go out in their own task (one after the other, in order),
so a slow receiver holds only its own subscription; every attempt has an overall deadline, and
only the first KiB of an answer is read. Targets must be https and resolve to public addresses
only (unless the settings relax it for development): checked when subscribing and again at each
connection (see `PublicOnlyBackend`); the delivery log keeps a coarse reason, never an error text.

A subscription gets the personal fields of an event (`x-personal-data`: where the person lives,
their RQTH) only for the categories it was granted (`personal_data`); the others are left out of
the body before it is stored, so the delivery log never holds them either; a grant narrowed later
(PATCH) strips them from the pending deliveries, and the worker applies the grant of the moment
to each attempt.

A participant's erasure (`fan_out_erasure`) deletes, in the consumer's transaction, every delivery of
the tenant that mentions the person — pending ones are never sent, delivered ones leave the
delivery log — but the erasure's own, which still goes out. Deleted rather than redacted: a row kept
with an emptied body would still say when an event about someone was sent where, and a redacted row
could never be sent again anyway; the tombstone (erasure_tombstones) is what keeps an older event
from being queued again. The worker checks that a claimed delivery is still there before each POST.
"""

import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import logging
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpcore
import httpx
from cryptography.fernet import Fernet
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.events import EVENT_TYPES, CloudEvent, ParticipantErasedV1
from tremplin_shared.events.contracts import CLAUSES_TOPIC, FUNDING_TOPIC, MATCHING_TOPIC, PARTICIPANTS_TOPIC
from tremplin_shared.events.personal import personal_fields, withhold
from tremplin_shared.messaging.consumer import EventConsumer

from .adapters.webhooks import WebhookRepository
from .config import Settings
from .domain.webhooks import (
    AddressNotAllowed,
    InvalidSubscription,
    RetryPolicy,
    check_addresses,
    sign,
    structured_event,
    wants,
)
from .keys import Sessionmaker

log = logging.getLogger(__name__)

OUTBOUND_TOPICS = [PARTICIPANTS_TOPIC, MATCHING_TOPIC, CLAUSES_TOPIC, FUNDING_TOPIC]
CONSUMER_NAME = "gateway-webhooks"
USER_AGENT = "Tremplin-Webhooks/1"
ERASED = ParticipantErasedV1.ce_type
# How much of a receiver's answer is read (its status is what counts; the rest is dropped).
MAX_RESPONSE_BYTES = 4096
# A claimed delivery is leased for the attempts before it in its subscription's queue, each within
# the deadline, plus this margin (recording, scheduling): then another instance may try it again.
LEASE_MARGIN_SECONDS = 60.0


def outbound_event_types() -> list[str]:
    """Every event type the services publish on their topics (what a subscription may name)."""
    return sorted(t for t, contract in EVENT_TYPES.items() if contract.topic in OUTBOUND_TOPICS)


# ------------------------------------------------------------------------------------------ targets


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (the event loop's getaddrinfo; an IP literal gives itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def public_addresses(host: str, port: int) -> list[str]:
    """The host's addresses, all of them public, or AddressNotAllowed.

    A name that does not resolve is refused with the same message as a private one: the answer
    must not tell which internal names exist.
    """
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError):
        addresses = []
    check_addresses(addresses)
    return addresses


async def check_target(url: str, allow_private: bool, timeout: float) -> None:
    """When subscribing: the url's host (as httpx will read it) must resolve to public addresses."""
    if allow_private:
        return
    try:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)
    except (httpx.InvalidURL, ValueError):
        raise InvalidSubscription("url is not a valid URL") from None
    try:
        async with asyncio.timeout(timeout):
            await public_addresses(host, port)
    except TimeoutError:
        check_addresses([])  # raises, as for a name that does not resolve


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting to public addresses only.

    It resolves the host itself, checks every address, and connects to a checked address — not to
    the name — so a second DNS answer between the check and the connection (DNS rebinding) is never
    used. TLS still verifies the certificate against the URL's host name (httpcore's start_tls is
    given the origin's host, not the address). AddressNotAllowed is not an httpcore error, so httpx
    lets it through as it is.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        failure: Exception | None = None
        for address in await public_addresses(host, port):
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError("no address")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressNotAllowed("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def delivery_transport(allow_private: bool) -> httpx.AsyncHTTPTransport:
    """httpx's transport; unless private addresses are allowed, its pool connects through
    PublicOnlyBackend (httpx takes no network backend: the pool is replaced, same limits)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    if allow_private:
        return transport
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):  # an httpx upgrade
        raise RuntimeError("httpx's transport has no connection pool to guard")
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PublicOnlyBackend(),
    )
    return transport


def failure_reason(exc: BaseException) -> str:
    """What the delivery log says of a failed attempt: a coarse class, never the exception's text
    (which would describe the network behind the gateway to whoever owns the subscription)."""
    if isinstance(exc, AddressNotAllowed):
        return "address not allowed"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):  # refused, unreachable, TLS handshake
        return "connection failed"
    if isinstance(exc, httpx.NetworkError):
        return "connection lost"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError):
        return "invalid response"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return "invalid url"
    return "failed"


# ------------------------------------------------------------------------------------------ secrets


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
    contract = EVENT_TYPES[event.type]  # the consumer hands over outbound types only
    bodies: dict[frozenset[str], str] = {}  # one body per set of granted categories

    def body_for(granted: frozenset[str]) -> str:
        if granted not in bodies:
            bodies[granted] = structured_event(
                id=event.id, type=event.type, source=event.source, subject=event.subject, tenant=event.tenant,
                time=event.time, data=withhold(contract, event.data, granted),
            ).decode()  # fmt: skip
        return bodies[granted]

    await repo.enqueue(
        [
            {
                "id": uuid.uuid4(), "subscription_id": s["id"], "event_id": event.id, "event_type": event.type,
                "body": body_for(frozenset(s["personal_data"])), "status": "pending", "attempts": 0,
                "next_attempt_at": now, "created_at": now, "delivered_at": None,
            }
            for s in subscriptions
        ]
    )  # fmt: skip


def as_granted(event_type: str, body: str, granted: frozenset[str]) -> str:
    """A queued body without the personal fields of the categories no longer `granted` (the very
    same string when there is nothing to take out)."""
    contract = EVENT_TYPES.get(event_type)
    if contract is None or set(personal_fields(contract).values()) <= granted:
        return body
    event = json.loads(body)
    data = withhold(contract, event["data"], granted)
    return body if data == event["data"] else json.dumps({**event, "data": data}, separators=(",", ":"))


async def withhold_pending(session: AsyncSession, subscription_id: uuid.UUID, granted: frozenset[str]) -> int:
    """After a subscription lost a personal data category: its pending deliveries (queued under the
    former grant) lose that category's fields too. The number of bodies rewritten. (An event fanned
    out at that very moment, under the former grant, is stripped by the worker before it is sent.)"""
    repo = WebhookRepository(session)
    rewritten = 0
    for row in await repo.pending_bodies(subscription_id):
        body = as_granted(row["event_type"], row["body"], granted)
        if body is not row["body"]:
            await repo.update_delivery(row["id"], body=body)
            rewritten += 1
    return rewritten


async def fan_out_erasure(session: AsyncSession, event: CloudEvent, data: ParticipantErasedV1) -> None:
    """The handler for participant.erased (the consumer has recorded the tombstone just before, in the
    same transaction): forget every delivery of the tenant about the person, the erasure's own
    excepted, then queue the erasure for the subscriptions that want it. The purge runs whether or
    not any subscription wants participant.erased. A redelivered erasure finds nothing to forget
    and queues nothing twice."""
    forgotten = await WebhookRepository(session).forget_participant(
        event.tenant, data.participant_id, keep_event_type=ERASED
    )
    log.info(
        "webhook deliveries about an erased participant forgotten",
        extra={"fields": {"event_id": event.id, "tenant": event.tenant, "deliveries": forgotten}},
    )
    await fan_out(session, event, data)


def webhook_handlers() -> dict:
    """Every outbound type fans out; participant.erased also forgets (it is one of them: on
    participants.events)."""
    handlers = dict.fromkeys(outbound_event_types(), fan_out)
    if ERASED not in handlers:  # a contract moved to a topic the gateway does not read
        raise RuntimeError(f"{ERASED} is not among the outbound event types")
    handlers[ERASED] = fan_out_erasure
    return handlers


def webhook_consumer(settings: Settings, sessionmaker: Sessionmaker) -> EventConsumer:
    return EventConsumer(
        CONSUMER_NAME,
        OUTBOUND_TOPICS,
        webhook_handlers(),
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
        *,
        deadline_seconds: float = 10.0,
        allow_http: bool = False,
        allow_private_addresses: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.box = box
        self.policy = policy
        self.poll_interval = poll_interval
        self.batch = batch
        self.deadline = deadline_seconds
        self.allow_http = allow_http
        # httpx's timeout bounds each step (connect, each read); the deadline the whole attempt.
        self.client = httpx.AsyncClient(
            transport=delivery_transport(allow_private_addresses),
            timeout=min(timeout_seconds, deadline_seconds),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._wake = asyncio.Event()
        self._inflight: dict[uuid.UUID, asyncio.Task[int]] = {}  # subscription -> its running task

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()  # before looking: a wake-up while dispatching is kept
                try:
                    started = await self.dispatch()
                except SQLAlchemyError:
                    log.warning("webhook worker could not read its queue", exc_info=True)
                    started = []
                if not started:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            await self._cancel_inflight()

    async def dispatch(self) -> list[asyncio.Task[int]]:
        """Claim the due deliveries of the subscriptions not already being sent to and start one task
        per subscription (its deliveries one after the other, in order); the tasks started.

        A subscription with a task running is left out, so its order holds and its slow receiver
        holds only itself; its task's end wakes the worker for what became due meanwhile.
        """
        now = utcnow()
        by_subscription: dict[uuid.UUID, list[dict]] = {}
        async with self.sessionmaker() as session:
            repo = WebhookRepository(session)
            for row in await repo.due(now, self.batch, exclude=list(self._inflight)):
                rows = by_subscription.setdefault(row["subscription_id"], [])
                # The n-th of a subscription is attempted after the n-1 before it, each within the
                # deadline: leased for that and a margin (a worker dying mid-way: tried again after).
                lease = now + timedelta(seconds=LEASE_MARGIN_SECONDS + (len(rows) + 1) * self.deadline)
                if await repo.claim(row["id"], row["next_attempt_at"], lease):
                    rows.append(row)
            await session.commit()
        started = []
        for subscription_id, rows in by_subscription.items():
            if not rows:
                continue
            task = asyncio.create_task(self._attempt_in_order(rows), name=f"webhook-delivery-{subscription_id}")
            self._inflight[subscription_id] = task
            task.add_done_callback(functools.partial(self._finished, subscription_id))
            started.append(task)
        return started

    def _finished(self, subscription_id: uuid.UUID, task: asyncio.Task[int]) -> None:
        self._inflight.pop(subscription_id, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(
                "webhook deliveries of a subscription failed (retried after their lease)",
                exc_info=exc,
                extra={"fields": {"subscription": str(subscription_id)}},
            )
        self._wake.set()

    async def tick(self) -> int:
        """One round, waited for: every due delivery attempted once (subscriptions concurrently, in
        their own tasks); how many were attempted. `run` does not wait for a round to end."""
        tasks = await self.dispatch()
        return sum(await asyncio.gather(*tasks))

    async def _attempt_in_order(self, rows: list[dict]) -> int:
        """The rows attempted (a row an erasure forgot since the claim is skipped, never sent)."""
        attempted = 0
        for i, row in enumerate(rows):
            current = await self._still_pending(row)
            if current is None:
                continue
            row = {**row, **current}  # a PATCH may have narrowed the grant since the dispatch
            attempted += 1
            if await self.attempt(row):  # the subscription got disabled: hand the others back
                async with self.sessionmaker() as session:
                    repo = WebhookRepository(session)
                    for rest in rows[i + 1 :]:
                        await repo.update_delivery(rest["id"], next_attempt_at=utcnow())
                    await session.commit()
                return attempted
        return attempted

    async def _still_pending(self, row: dict) -> dict | None:
        """Claimed rows are read at dispatch; those queued behind slow attempts are sent seconds later,
        by which time a participant's erasure may have forgotten them, or a PATCH narrowed what their
        subscription is granted: the body and the grant as they are now, None if forgotten."""
        async with self.sessionmaker() as session:
            return await WebhookRepository(session).still_pending(row["id"])

    async def attempt(self, row: dict) -> bool:
        """POST one delivery and record the attempt; whether the subscription got disabled."""
        if "personal_data" in row:  # what the subscription is granted now, not when the event was queued
            granted = as_granted(row["event_type"], row["body"], frozenset(row["personal_data"]))
            if granted is not row["body"]:
                row = {**row, "body": granted, "body_changed": True}
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
        if not self.allow_http and not row["url"].lower().startswith("https://"):
            error = "https required"  # subscribed while http was allowed
        else:
            try:
                async with asyncio.timeout(self.deadline):
                    status_code = await self._post(row["url"], body, headers)
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except Exception as exc:  # classified; its text stays in the gateway's own log
                error = failure_reason(exc)
                log.info(
                    "webhook attempt failed",
                    extra={"fields": {"subscription": str(row["subscription_id"]), "reason": error,
                                      "exception": type(exc).__name__}},
                )  # fmt: skip
        duration = round((time.perf_counter() - started) * 1000, 2)
        return await self._record(row, status_code, error, duration)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's status; of its body, at most about MAX_RESPONSE_BYTES are read (streamed,
        undecoded), the connection is dropped on the rest."""
        async with self.client.stream("POST", url, content=body, headers=headers) as response:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
            return response.status_code

    async def _record(self, row: dict, status_code: int | None, error: str | None, duration_ms: float) -> bool:
        now = utcnow()
        number = row["attempts"] + 1
        disabled = False
        async with self.sessionmaker() as session:
            repo = WebhookRepository(session)
            if error is None:
                values = {"status": "delivered", "attempts": number, "delivered_at": now, "next_attempt_at": None}
            else:
                give_up = number >= self.policy.max_attempts
                values = {"attempts": number, "status": "failed" if give_up else "pending",
                          "next_attempt_at": None if give_up else self.policy.next_attempt(number, now)}  # fmt: skip
            if row.get("body_changed"):
                values["body"] = row["body"]  # the log keeps what was sent, never what was withheld
            if not await repo.update_delivery(row["id"], **values):
                return False  # forgotten by an erasure during the attempt: nothing of it is kept
            await repo.record_attempt(
                {
                    "id": uuid.uuid4(), "delivery_id": row["id"], "number": number, "at": now,
                    "status_code": status_code, "error": error, "duration_ms": duration_ms,
                }
            )  # fmt: skip
            if error is None:
                await repo.subscription_succeeded(row["subscription_id"])
            else:
                disabled = await repo.subscription_failed(row["subscription_id"], self.policy.disable_after, now)
                if disabled:
                    log.warning(
                        "webhook subscription disabled after consecutive failures",
                        extra={"fields": {"subscription": str(row["subscription_id"])}},
                    )
            await session.commit()
        return disabled

    async def _cancel_inflight(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await self._cancel_inflight()
        await self.client.aclose()
