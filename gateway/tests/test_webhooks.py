"""Webhooks out: subscriptions (own tenant only), signed deliveries to a receiver on 127.0.0.1,
retries with backoff, the delivery log, disable after consecutive failures, tenant filtering,
and the whole path from a service topic through the real broker."""

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from tremplin_gateway.adapters.orm import webhook_deliveries, webhook_subscriptions
from tremplin_gateway.domain.webhooks import RetryPolicy, verify
from tremplin_gateway.webhooks import fan_out, webhook_consumer
from tremplin_shared.events import CloudEvent, ParticipantErasedV1, ParticipantRegisteredV1, new_event
from tremplin_shared.events.contracts import contract_for
from tremplin_shared.messaging.consumer import apply_in_order
from tremplin_shared.messaging.kafka import make_producer

from .conftest import closed_url

pytestmark = pytest.mark.asyncio

SECRET = "s3cr3t-shared-with-the-receiver"
REGISTERED = ParticipantRegisteredV1.ce_type


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Receiver:
    """A départemental system receiving webhooks: records each request, answers `plan` in order."""

    def __init__(self, plan: list[int] | None = None, default: int = 200) -> None:
        self.plan = list(plan or [])
        self.default = default
        self.received: list[dict] = []
        self.app = FastAPI()

        @self.app.post("/hooks")
        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            self.received.append({"headers": dict(request.headers), "body": body})
            status = self.plan.pop(0) if self.plan else self.default
            return JSONResponse({}, status_code=status)


def registered(tenant: str) -> CloudEvent:
    data = ParticipantRegisteredV1(
        participant_id=uuid.uuid4(), registered_at=datetime.now(UTC), latitude=47.59, longitude=1.33, skills=["K2204"]
    )
    return new_event(data, tenant=tenant, source="/tremplin/participants")


async def subscribe(gw, admin: str, url: str, event_types=(REGISTERED,)) -> dict:
    response = await gw.client.post(
        "/api/v1/webhooks", json={"url": url, "event_types": list(event_types), "secret": SECRET}, headers=bearer(admin)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def publish(gw, event: CloudEvent) -> None:
    """What the consumer does with an event of a topic: fan it out, in a transaction."""
    async with gw.app.state.sessionmaker() as session:
        await fan_out(session, event, None)
        await session.commit()


def fast(gw, **policy) -> None:
    gw.app.state.webhook_worker.policy = RetryPolicy(**{"base_seconds": 0.05, "max_backoff_seconds": 0.2, **policy})


# ------------------------------------------------------------------------------------------ subscriptions


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x.example/h", "event_types": [REGISTERED], "secret": SECRET}, "url"),
        ({"url": "https://user:pw@x.example/h", "event_types": [REGISTERED], "secret": SECRET}, "url"),
        ({"url": "https://x.example/h", "event_types": ["fr.nothing.v1"], "secret": SECRET}, "event type"),
        ({"url": "https://x.example/h", "event_types": [], "secret": SECRET}, "event_types"),
        ({"url": "https://x.example/h", "event_types": [REGISTERED], "secret": "short"}, "secret"),
    ],
)
async def test_bad_subscriptions_are_422(gateway, body, field):
    _, admin = await gateway.key(roles=("admin",))
    response = await gateway.client.post("/api/v1/webhooks", json=body, headers=bearer(admin))
    assert response.status_code == 422, response.text


async def test_subscriptions_are_the_tenant_own_and_the_secret_is_never_shown(gateway):
    _, admin = await gateway.key(roles=("admin",))
    _, foreign = await gateway.key(tenant="cher", roles=("admin",))
    created = await subscribe(gateway, admin, "https://si.example/hooks", ["fr.tremplin.clauses.*", REGISTERED])
    assert created["enabled"] and created["tenant"] == "loir-et-cher" and "secret" not in created
    sid = created["id"]
    assert [s["id"] for s in (await gateway.client.get("/api/v1/webhooks", headers=bearer(admin))).json()] == [sid]
    assert (await gateway.client.get("/api/v1/webhooks", headers=bearer(foreign))).json() == []
    for method, path in (
        ("GET", f"/api/v1/webhooks/{sid}"),
        ("GET", f"/api/v1/webhooks/{sid}/deliveries"),
        ("POST", f"/api/v1/webhooks/{sid}/enable"),
        ("DELETE", f"/api/v1/webhooks/{sid}"),
    ):
        assert (await gateway.client.request(method, path, headers=bearer(foreign))).status_code == 404
    async with gateway.app.state.sessionmaker() as session:
        stored = (await session.execute(select(webhook_subscriptions.c.secret))).scalar_one()
    assert SECRET not in stored  # encrypted at rest
    types = (await gateway.client.get("/api/v1/webhooks/event-types", headers=bearer(admin))).json()
    assert REGISTERED in types and all(not t.startswith("fr.francetravail") for t in types)
    assert (await gateway.client.delete(f"/api/v1/webhooks/{sid}", headers=bearer(admin))).status_code == 204
    assert (await gateway.client.get(f"/api/v1/webhooks/{sid}", headers=bearer(admin))).status_code == 404


# ------------------------------------------------------------------------------------------ deliveries


async def test_a_signed_delivery_to_the_tenant_subscriptions_only(gateway, serve_app):
    receiver = Receiver()
    async with serve_app(receiver.app) as base:
        _, admin = await gateway.key(roles=("admin",))
        _, foreign = await gateway.key(tenant="cher", roles=("admin",))
        mine = await subscribe(gateway, admin, f"{base}/hooks")
        await subscribe(gateway, admin, f"{base}/hooks", ["fr.tremplin.clauses.*"])  # wants other types
        await subscribe(gateway, foreign, f"{base}/hooks")  # another tenant's
        event = registered("loir-et-cher")
        await publish(gateway, event)
        await publish(gateway, event)  # the same event again: one delivery
        assert await gateway.app.state.webhook_worker.tick() == 1
        assert await gateway.app.state.webhook_worker.tick() == 0

    (request,) = receiver.received
    headers, body = request["headers"], request["body"]
    timestamp = int(headers["tremplin-timestamp"])
    assert abs(timestamp - time.time()) < 10
    assert headers["tremplin-signature"].startswith("v1=")
    assert verify(SECRET, timestamp, body, headers["tremplin-signature"], now=int(time.time()))
    assert not verify("another-secret-of-16+", timestamp, body, headers["tremplin-signature"], now=int(time.time()))
    assert not verify(SECRET, timestamp, body + b" ", headers["tremplin-signature"], now=int(time.time()))
    assert headers["tremplin-event-id"] == event.id and headers["tremplin-event-type"] == REGISTERED
    assert headers["tremplin-webhook-id"] == mine["id"]
    assert headers["content-type"].startswith("application/cloudevents+json")
    sent = json.loads(body)
    assert sent["specversion"] == "1.0" and sent["id"] == event.id and sent["tenant"] == "loir-et-cher"
    assert sent["data"]["participant_id"] == event.data["participant_id"]

    log = (await gateway.client.get(f"/api/v1/webhooks/{mine['id']}/deliveries", headers=bearer(admin))).json()
    assert [(d["event_id"], d["status"], d["attempts"]) for d in log] == [(event.id, "delivered", 1)]
    assert [a["status_code"] for a in log[0]["attempt_log"]] == [200]

    # An event of the other tenant reaches the other tenant only.
    await publish(gateway, registered("cher"))
    foreign_subs = (await gateway.client.get("/api/v1/webhooks", headers=bearer(foreign))).json()
    foreign_log = await gateway.client.get(f"/api/v1/webhooks/{foreign_subs[0]['id']}/deliveries",
                                           headers=bearer(foreign))  # fmt: skip
    assert len(foreign_log.json()) == 1
    assert (
        len((await gateway.client.get(f"/api/v1/webhooks/{mine['id']}/deliveries", headers=bearer(admin))).json()) == 1
    )


async def test_failed_attempts_are_retried_with_backoff_and_logged(gateway, serve_app):
    receiver = Receiver(plan=[500, 503])
    async with serve_app(receiver.app) as base:
        _, admin = await gateway.key(roles=("admin",))
        sub = await subscribe(gateway, admin, f"{base}/hooks")
        fast(gateway)
        worker = gateway.app.state.webhook_worker
        await publish(gateway, registered("loir-et-cher"))
        assert await worker.tick() == 1  # 500
        assert await worker.tick() == 0  # not due yet: backoff
        await asyncio.sleep(0.1)
        assert await worker.tick() == 1  # 503
        await asyncio.sleep(0.15)
        assert await worker.tick() == 1  # 200
    (delivery,) = (await gateway.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))).json()
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    attempts = delivery["attempt_log"]
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert attempts[0]["error"] == "answered 500" and attempts[2]["error"] is None
    assert len(receiver.received) == 3
    # Every retry is signed anew, with its own timestamp.
    assert all(r["headers"]["tremplin-event-id"] == delivery["event_id"] for r in receiver.received)


async def test_an_unreachable_receiver_is_a_failed_attempt(gateway):
    _, admin = await gateway.key(roles=("admin",))
    sub = await subscribe(gateway, admin, f"{closed_url()}/hooks")
    fast(gateway, max_attempts=2)
    await publish(gateway, registered("loir-et-cher"))
    worker = gateway.app.state.webhook_worker
    assert await worker.tick() == 1
    await asyncio.sleep(0.1)
    assert await worker.tick() == 1
    (delivery,) = (await gateway.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))).json()
    assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None  # given up after max_attempts
    assert all(a["status_code"] is None and "ConnectError" in a["error"] for a in delivery["attempt_log"])


async def test_twenty_consecutive_failures_disable_the_subscription_until_the_admin_enables_it(gateway, serve_app):
    receiver = Receiver(default=500)
    async with serve_app(receiver.app) as base:
        _, admin = await gateway.key(roles=("admin",))
        sub = await subscribe(gateway, admin, f"{base}/hooks")
        gateway.app.state.webhook_worker.policy = RetryPolicy(base_seconds=0, max_backoff_seconds=0, max_attempts=8)
        worker = gateway.app.state.webhook_worker
        for _ in range(3):  # 3 events, each tried up to 8 times: the 20th failed attempt comes first
            await publish(gateway, registered("loir-et-cher"))
        while await worker.tick():
            pass
        assert len(receiver.received) == 20
        state = (await gateway.client.get(f"/api/v1/webhooks/{sub['id']}", headers=bearer(admin))).json()
        assert state["enabled"] is False and state["disabled_at"] and state["consecutive_failures"] == 20
        log = (await gateway.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))).json()
        assert [d["status"] for d in log] == ["pending"] * 3 and sum(d["attempts"] for d in log) == 20
        # Disabled: new events are not queued for it, and nothing is attempted.
        await publish(gateway, registered("loir-et-cher"))
        assert await worker.tick() == 0

        receiver.default = 200
        enabled = await gateway.client.post(f"/api/v1/webhooks/{sub['id']}/enable", headers=bearer(admin))
        assert enabled.status_code == 200
        assert enabled.json()["enabled"] is True and enabled.json()["consecutive_failures"] == 0
        assert await worker.tick() == 3  # the pending deliveries go out
    log = (await gateway.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))).json()
    assert [d["status"] for d in log] == ["delivered"] * 3
    assert sum(d["attempts"] for d in log) == 23


# ------------------------------------------------------------------------------------------ through the broker


async def test_events_of_a_service_topic_reach_the_subscriber_through_the_broker(
    broker, settings_for, start_gateway, serve_app, wait_for
):
    receiver = Receiver()
    tenant, other = f"t-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        kafka_bootstrap_servers=broker.bootstrap,
        run_background_workers=True,
        webhook_poll_interval_seconds=0.05,
        consumer_session_timeout_ms=3000,
        consumer_heartbeat_interval_ms=300,
        consumer_rebalance_timeout_ms=2000,
    )
    async with serve_app(receiver.app) as base, start_gateway(settings) as gw:
        _, admin = await gw.key(tenant=tenant, roles=("admin",))
        _, other_admin = await gw.key(tenant=other, roles=("admin",))
        await subscribe(gw, admin, f"{base}/hooks")
        await subscribe(gw, other_admin, f"{base}/hooks?other=1")
        mine, theirs = registered(tenant), registered(other)
        producer = make_producer(broker.bootstrap)
        await producer.start()
        try:
            for event in (mine, theirs, mine):  # mine twice: at-least-once upstream, delivered once
                await producer.send_and_wait(
                    "participants.events", value=event.value(), key=event.subject.encode(), headers=event.headers()
                )
        finally:
            await producer.stop()
        assert await wait_for(lambda: _received(receiver, 2), timeout=30)
        await asyncio.sleep(0.5)
    by_url = {(r["headers"]["tremplin-event-id"], json.loads(r["body"])["tenant"]) for r in receiver.received}
    assert by_url == {(mine.id, tenant), (theirs.id, other)}
    assert len(receiver.received) == 2


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def test_an_event_replayed_after_the_participant_s_erasure_is_not_sent_again(gateway):
    _, admin = await gateway.key(roles=("admin",))
    await subscribe(gateway, admin, "https://receiver.example/hooks", (REGISTERED, ParticipantErasedV1.ce_type))
    consumer = webhook_consumer(gateway.app.state.settings, gateway.app.state.sessionmaker)
    old = registered("loir-et-cher")
    erased = new_event(
        ParticipantErasedV1(participant_id=old.data["participant_id"], erased_at=datetime.now(UTC)),
        tenant="loir-et-cher", source="/tremplin/participants",
    )  # fmt: skip

    async def consume(*events: CloudEvent) -> None:  # as the consumer applies a fetch
        items = [(e, contract_for(e.type).model_validate(e.data)) for e in events]
        async with gateway.app.state.sessionmaker() as session, session.begin():
            await apply_in_order(session, consumer.handlers, items, consumer.erasure_tombstones)

    # `old` was dead-lettered before the erasure, and `tremplin dlq replay` puts it back after.
    await consume(erased)
    await consume(old)
    async with gateway.app.state.sessionmaker() as session:
        sent = (await session.execute(select(webhook_deliveries.c.event_type))).scalars().all()
    assert sent == [ParticipantErasedV1.ce_type]
