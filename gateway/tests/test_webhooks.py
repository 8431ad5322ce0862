"""Webhooks out: subscriptions (own tenant only), signed deliveries to a receiver on 127.0.0.1,
retries with backoff, the delivery log, disable after consecutive failures, tenant filtering,
the whole path from a service topic through the real broker; targets that are not public refused
(when subscribing and at each attempt), slow receivers held to the deadline and to themselves.

The receivers here are local http servers: the tests of delivery run with the two relaxations
(`webhook_allow_http`, `webhook_allow_private_addresses`) on; those of the refusals with the
settings at their defaults."""

import asyncio
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from tremplin_gateway import webhooks as webhooks_module
from tremplin_gateway.adapters.orm import webhook_deliveries, webhook_subscriptions
from tremplin_gateway.domain.webhooks import RetryPolicy, public_address, verify
from tremplin_gateway.webhooks import fan_out, webhook_consumer
from tremplin_shared.events import CloudEvent, ParticipantErasedV1, ParticipantRegisteredV1, new_event
from tremplin_shared.events.contracts import contract_for
from tremplin_shared.messaging.consumer import apply_in_order
from tremplin_shared.messaging.kafka import make_producer

from .conftest import closed_url

pytestmark = pytest.mark.asyncio

SECRET = "s3cr3t-shared-with-the-receiver"
REGISTERED = ParticipantRegisteredV1.ce_type
LOCAL = {"webhook_allow_http": True, "webhook_allow_private_addresses": True}  # receivers on 127.0.0.1


@pytest.fixture
def settings(settings_for):
    """This module's `gateway`: allowed to deliver to the local receivers."""
    return settings_for(**LOCAL)


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


async def subscribe(gw, admin: str, url: str, event_types=(REGISTERED,), personal_data=None) -> dict:
    body = {"url": url, "event_types": list(event_types), "secret": SECRET}
    if personal_data is not None:
        body["personal_data"] = list(personal_data)
    response = await gw.client.post("/api/v1/webhooks", json=body, headers=bearer(admin))
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
        (
            {"url": "https://x.example/h", "event_types": [REGISTERED], "secret": SECRET, "personal_data": ["nir"]},
            "personal_data",
        ),
    ],
)
async def test_bad_subscriptions_are_422(gateway, body, field):
    _, admin = await gateway.key(roles=("admin",))
    response = await gateway.client.post("/api/v1/webhooks", json=body, headers=bearer(admin))
    assert response.status_code == 422, response.text
    if field == "personal_data":  # pydantic's own check: the field path down to the item
        assert [(e["in"], e["field"]) for e in response.json()["errors"]] == [("body", "personal_data.0")]


async def test_subscriptions_are_the_tenant_own_and_the_secret_is_never_shown(gateway):
    _, admin = await gateway.key(roles=("admin",))
    _, foreign = await gateway.key(tenant="cher", roles=("admin",))
    created = await subscribe(gateway, admin, "https://si.example/hooks", ["fr.tremplin.clauses.*", REGISTERED])
    assert created["enabled"] and created["tenant"] == "loir-et-cher" and "secret" not in created
    assert created["personal_data"] == []  # granted nothing unless asked
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


async def test_a_subscriber_gets_where_the_person_lives_only_when_granted(gateway, serve_app):
    receiver = Receiver()
    async with serve_app(receiver.app) as base:
        _, admin = await gateway.key(roles=("admin",))
        plain = await subscribe(gateway, admin, f"{base}/hooks")
        located = await subscribe(gateway, admin, f"{base}/hooks", personal_data=["location", "location"])
        assert located["personal_data"] == ["location"]
        event = registered("loir-et-cher")
        await publish(gateway, event)
        assert await gateway.app.state.webhook_worker.tick() == 2

    sent = {r["headers"]["tremplin-webhook-id"]: json.loads(r["body"])["data"] for r in receiver.received}
    assert "latitude" not in sent[plain["id"]] and "longitude" not in sent[plain["id"]]
    assert sent[plain["id"]]["participant_id"] == event.data["participant_id"]
    assert sent[plain["id"]]["skills"] == ["K2204"]
    assert (sent[located["id"]]["latitude"], sent[located["id"]]["longitude"]) == (47.59, 1.33)
    async with gateway.app.state.sessionmaker() as session:
        stored = (
            await session.execute(
                select(webhook_deliveries.c.body).where(webhook_deliveries.c.subscription_id == uuid.UUID(plain["id"]))
            )
        ).scalar_one()
    assert "47.59" not in stored  # never kept in the delivery log either


async def test_a_subscription_is_changed_in_place_and_a_grant_taken_away_strips_what_is_pending(gateway, serve_app):
    receiver = Receiver()
    async with serve_app(receiver.app) as base:
        _, admin = await gateway.key(roles=("admin",))
        _, foreign = await gateway.key(tenant="cher", roles=("admin",))
        sub = await subscribe(gateway, admin, f"{base}/hooks", personal_data=["location"])
        url = f"/api/v1/webhooks/{sub['id']}"
        pending = registered("loir-et-cher")
        await publish(gateway, pending)  # queued while location is granted

        refused = [
            ({"url": "ftp://x.example/h"}, "url"),
            ({"event_types": ["fr.nothing.v1"]}, "event_types"),
            ({"secret": "short"}, "secret"),
            ({"personal_data": ["nir"]}, "personal_data.0"),
        ]
        for change, field in refused:
            bad = await gateway.client.patch(url, json=change, headers=bearer(admin))
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text
        assert (await gateway.client.patch(url, json={"secret": "x" * 20}, headers=bearer(foreign))).status_code == 404
        assert (await gateway.client.get(url, headers=bearer(admin))).json() == sub  # nothing changed so far

        rotated = "a-new-secret-after-rotation"
        changed = await gateway.client.patch(url, json={"personal_data": [], "secret": rotated,
                                                        "event_types": [REGISTERED, "fr.tremplin.clauses.*"]},
                                             headers=bearer(admin))  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert changed.json()["personal_data"] == [] and changed.json()["event_types"][1] == "fr.tremplin.clauses.*"
        assert changed.json()["url"] == sub["url"]  # left out: kept
        assert await gateway.app.state.webhook_worker.tick() == 1

    (request,) = receiver.received
    sent = json.loads(request["body"])
    assert sent["id"] == pending.id and "latitude" not in sent["data"]  # queued with it, sent without
    assert sent["data"]["participant_id"] == pending.data["participant_id"]
    timestamp = int(request["headers"]["tremplin-timestamp"])
    assert verify(rotated, timestamp, request["body"], request["headers"]["tremplin-signature"], now=int(time.time()))


async def test_an_event_queued_under_a_grant_since_taken_away_is_sent_without_it(gateway, serve_app):
    """The race of a narrowing PATCH with a fan-out that read the former grant: the delivery is queued
    after the PATCH stripped the pending ones. The worker sends what the grant is at send time."""
    receiver = Receiver()
    async with serve_app(receiver.app) as base:
        _, admin = await gateway.key(roles=("admin",))
        sub = await subscribe(gateway, admin, f"{base}/hooks", personal_data=["location"])
        await publish(gateway, registered("loir-et-cher"))  # queued with the coordinates
        async with gateway.app.state.sessionmaker() as session:  # the grant changes, the queue is left as it is
            await session.execute(webhook_subscriptions.update().values(personal_data=[]))
            await session.commit()
        assert await gateway.app.state.webhook_worker.tick() == 1

    (request,) = receiver.received
    assert "latitude" not in json.loads(request["body"])["data"]
    timestamp = int(request["headers"]["tremplin-timestamp"])
    assert verify(SECRET, timestamp, request["body"], request["headers"]["tremplin-signature"], now=int(time.time()))
    async with gateway.app.state.sessionmaker() as session:
        stored = (await session.execute(select(webhook_deliveries.c.body))).scalar_one()
    assert "47.59" not in stored and json.loads(stored) == json.loads(request["body"])
    log = (await gateway.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))).json()
    assert [d["status"] for d in log] == ["delivered"]


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
    assert attempts[0]["error"] == "HTTP 500" and attempts[1]["error"] == "HTTP 503" and attempts[2]["error"] is None
    assert len(receiver.received) == 3
    # Every retry is signed anew, with its own timestamp.
    assert all(r["headers"]["tremplin-event-id"] == delivery["event_id"] for r in receiver.received)


async def test_an_unreachable_receiver_is_a_failed_attempt_with_a_coarse_reason(gateway):
    _, admin = await gateway.key(roles=("admin",))
    target = closed_url()
    sub = await subscribe(gateway, admin, f"{target}/hooks")
    fast(gateway, max_attempts=2)
    await publish(gateway, registered("loir-et-cher"))
    worker = gateway.app.state.webhook_worker
    assert await worker.tick() == 1
    await asyncio.sleep(0.1)
    assert await worker.tick() == 1
    answer = await gateway.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))
    (delivery,) = answer.json()
    assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None  # given up after max_attempts
    assert [(a["status_code"], a["error"]) for a in delivery["attempt_log"]] == [(None, "connection failed")] * 2
    # Never the exception's text (what it says of the network behind the gateway).
    for text in ("ConnectError", "Errno", "refused", "All connection attempts failed"):
        assert text not in answer.text


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
        **LOCAL,
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


# ------------------------------------------------------------------------------------------ targets

NOT_PUBLIC = [
    "169.254.169.254/latest/meta-data/",  # the cloud metadata service (link-local)
    "127.0.0.1:8001/api/v1/participants",  # a service behind the gateway
    "localhost:8001/",  # a name resolving to 127.0.0.1 (and ::1)
    "redis:6379/",  # an internal name (here it does not resolve: refused all the same)
    "[::1]/",
    "0x7f000001/",  # 127.0.0.1 spelt in hex (getaddrinfo reads it so)
    "2130706433/",  # and as one decimal number
    "10.0.0.7/",
    "172.18.0.5/",
    "192.168.1.1/",
    "100.64.0.1/",  # shared address space (carrier-grade NAT)
    "[fe80::1]/",
    "[fd00::1]/",  # unique-local
    "224.0.0.1/",  # multicast (which `is_global` alone lets through)
    "240.0.0.1/",  # reserved
    "0.0.0.0/",
    "[::]/",
    "[::ffff:127.0.0.1]/",  # IPv4-mapped
    "[::ffff:169.254.169.254]/",
    "[64:ff9b::a00:7]/",  # NAT64 of 10.0.0.7
]


@pytest.mark.parametrize("target", NOT_PUBLIC)
async def test_targets_that_are_not_public_are_refused_when_subscribing(settings_for, start_gateway, target):
    # https at the defaults; http with only http allowed — the address is refused either way.
    for scheme, overrides in (("https", {}), ("http", {"webhook_allow_http": True})):
        async with start_gateway(settings_for(**overrides)) as gw:
            _, admin = await gw.key(roles=("admin",))
            body = {"url": f"{scheme}://{target}", "event_types": [REGISTERED], "secret": SECRET}
            response = await gw.client.post("/api/v1/webhooks", json=body, headers=bearer(admin))
            assert response.status_code == 422, (scheme, response.text)
            problem = response.json()
            assert [e["field"] for e in problem["errors"]] == ["url"]
            assert "public addresses" in problem["detail"]
            assert (await gw.client.get("/api/v1/webhooks", headers=bearer(admin))).json() == []


@pytest.mark.parametrize(
    ("answers", "allowed"),
    [
        (["172.18.0.5"], False),  # `redis` in a compose network
        (["93.184.216.34", "10.0.0.7"], False),  # every address is checked, not the first
        (["2606:2800:220:1:248:1893:25c8:1946", "fe80::1%eth0"], False),
        (["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], True),
    ],
)
async def test_every_address_a_name_resolves_to_must_be_public(
    settings_for, start_gateway, monkeypatch, answers, allowed
):
    async def resolve(host, port):
        assert host == "hooks.departement.test"
        return answers

    monkeypatch.setattr(webhooks_module, "resolve", resolve)
    async with start_gateway(settings_for()) as gw:
        _, admin = await gw.key(roles=("admin",))
        body = {"url": "https://hooks.departement.test/tremplin", "event_types": [REGISTERED], "secret": SECRET}
        response = await gw.client.post("/api/v1/webhooks", json=body, headers=bearer(admin))
    assert response.status_code == (201 if allowed else 422), response.text


async def test_http_is_refused_by_default_and_a_public_https_target_accepted(settings_for, start_gateway):
    async with start_gateway(settings_for()) as gw:
        _, admin = await gw.key(roles=("admin",))
        body = {"url": "http://93.184.216.34/hooks", "event_types": [REGISTERED], "secret": SECRET}
        response = await gw.client.post("/api/v1/webhooks", json=body, headers=bearer(admin))
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "url" and "https" in response.json()["detail"]
        await subscribe(gw, admin, "https://93.184.216.34/hooks")  # an IP literal: nothing to resolve


async def test_public_address():
    assert public_address("93.184.216.34") and public_address("2606:2800:220:1:248:1893:25c8:1946")
    assert public_address("::ffff:93.184.216.34") and public_address("64:ff9b::5db8:d822")
    for address in ("127.0.0.1", "::1", "169.254.169.254", "fe80::1%eth0", "fd12::1", "ff02::1", "224.0.0.251",
                    "2002:7f00:1::", "64:ff9b:1::1", "192.0.2.1", "not an address"):  # fmt: skip
        assert not public_address(address), address


async def _log(gw, admin: str, sub: dict):
    answer = await gw.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))
    assert answer.status_code == 200
    return answer


async def test_a_target_no_longer_allowed_is_refused_at_send_time(settings_for, start_gateway, serve_app):
    """Subscribed while private addresses were allowed; the gateway restarted with the default."""
    receiver = Receiver()
    async with serve_app(receiver.app) as base:
        async with start_gateway(settings_for(**LOCAL)) as gw:
            _, admin = await gw.key(roles=("admin",))
            sub = await subscribe(gw, admin, f"{base}/hooks")
        async with start_gateway(settings_for(webhook_allow_http=True)) as gw:  # the same database
            await publish(gw, registered("loir-et-cher"))
            assert await gw.app.state.webhook_worker.tick() == 1
            answer = await _log(gw, admin, sub)
    assert receiver.received == []
    (delivery,) = answer.json()
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert [(a["status_code"], a["error"]) for a in delivery["attempt_log"]] == [(None, "address not allowed")]
    assert "127.0.0.1" not in answer.text and "public addresses" not in answer.text


async def test_http_no_longer_allowed_is_refused_at_send_time(settings_for, start_gateway, serve_app):
    receiver = Receiver()
    async with serve_app(receiver.app) as base:
        async with start_gateway(settings_for(**LOCAL)) as gw:
            _, admin = await gw.key(roles=("admin",))
            sub = await subscribe(gw, admin, f"{base}/hooks")
        async with start_gateway(settings_for(webhook_allow_private_addresses=True)) as gw:
            await publish(gw, registered("loir-et-cher"))
            assert await gw.app.state.webhook_worker.tick() == 1
            (delivery,) = (await _log(gw, admin, sub)).json()
    assert receiver.received == []
    assert [a["error"] for a in delivery["attempt_log"]] == ["https required"]


async def test_a_name_that_now_resolves_privately_is_refused_at_connection(settings_for, start_gateway, serve_app,
                                                                           monkeypatch):  # fmt: skip
    """DNS rebinding: public when subscribing, 127.0.0.1 at the attempt. The check is made where the
    connection is opened, on the addresses it then connects to."""
    answers = {"hooks.departement.test": ["93.184.216.34"]}

    async def resolve(host, port):
        return answers[host]

    monkeypatch.setattr(webhooks_module, "resolve", resolve)
    receiver = Receiver()
    async with serve_app(receiver.app) as base, start_gateway(settings_for(webhook_allow_http=True)) as gw:
        port = base.rsplit(":", 1)[1]
        _, admin = await gw.key(roles=("admin",))
        sub = await subscribe(gw, admin, f"http://hooks.departement.test:{port}/hooks")
        answers["hooks.departement.test"] = ["127.0.0.1"]  # where the receiver really is
        await publish(gw, registered("loir-et-cher"))
        assert await gw.app.state.webhook_worker.tick() == 1
        (delivery,) = (await _log(gw, admin, sub)).json()
    assert receiver.received == []
    assert [a["error"] for a in delivery["attempt_log"]] == ["address not allowed"]


# ------------------------------------------------------------------------------------------ slow receivers


@contextlib.asynccontextmanager
async def raw_receiver(answer):
    """A TCP server on 127.0.0.1 that reads a request's head, then runs `answer(writer)`."""
    handlers: set[asyncio.Task] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())
        try:
            await reader.readuntil(b"\r\n\r\n")
            await answer(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def byte_by_byte(writer: asyncio.StreamWriter) -> None:
    """A 200 whose status line and headers come one byte every 50 ms (each read within the timeout)."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: " + b"x" * 10_000:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


async def endless_body(writer: asyncio.StreamWriter) -> None:
    """A 200 at once, then a chunked body that never ends."""
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        await asyncio.sleep(0.01)


async def test_a_slow_receiver_delays_no_other_subscription_and_ends_at_the_deadline(
    settings_for, start_gateway, serve_app, wait_for
):
    deadline = 2.0
    fast_receiver = Receiver()
    settings = settings_for(**LOCAL, webhook_attempt_deadline_seconds=deadline, webhook_poll_interval_seconds=0.05)
    async with raw_receiver(byte_by_byte) as slow, serve_app(fast_receiver.app) as fast, start_gateway(settings) as gw:
        _, slow_admin = await gw.key(tenant="cher", roles=("admin",))
        _, admin = await gw.key(roles=("admin",))
        slow_sub = await subscribe(gw, slow_admin, f"{slow}/hooks")
        await subscribe(gw, admin, f"{fast}/hooks")
        worker = gw.app.state.webhook_worker
        running = asyncio.create_task(worker.run())
        try:
            started = time.perf_counter()
            await publish(gw, registered("cher"))
            await publish(gw, registered("loir-et-cher"))
            worker.wake()
            assert await wait_for(lambda: _received(fast_receiver, 1), timeout=deadline)
            first = time.perf_counter() - started
            # A later event of the other tenant goes out too while the slow attempt still runs.
            await publish(gw, registered("loir-et-cher"))
            worker.wake()
            assert await wait_for(lambda: _received(fast_receiver, 2), timeout=deadline)
            second = time.perf_counter() - started
            assert first < 0.5 and second < deadline * 0.75, (first, second)

            async def slow_attempt_over() -> bool:
                return bool((await _log(gw, slow_admin, slow_sub)).json()[0]["attempt_log"])

            assert await wait_for(slow_attempt_over, timeout=deadline * 3)
            ended = time.perf_counter() - started
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        (delivery,) = (await _log(gw, slow_admin, slow_sub)).json()
    (attempt,) = delivery["attempt_log"]
    assert attempt["error"] == "timeout" and attempt["status_code"] is None
    assert deadline * 1000 * 0.9 <= attempt["duration_ms"] <= deadline * 1000 * 1.5, attempt
    assert ended < deadline * 2
    assert delivery["status"] == "pending" and delivery["attempts"] == 1


async def test_tick_ends_at_the_deadline_and_the_fast_subscription_is_served_meanwhile(gateway, serve_app):
    fast_receiver = Receiver()
    worker = gateway.app.state.webhook_worker
    worker.deadline = 1.0
    async with raw_receiver(byte_by_byte) as slow, serve_app(fast_receiver.app) as fast:
        _, slow_admin = await gateway.key(tenant="cher", roles=("admin",))
        _, admin = await gateway.key(roles=("admin",))
        slow_sub = await subscribe(gateway, slow_admin, f"{slow}/hooks")
        await subscribe(gateway, admin, f"{fast}/hooks")
        await publish(gateway, registered("cher"))
        await publish(gateway, registered("loir-et-cher"))
        started = time.perf_counter()
        tick = asyncio.create_task(worker.tick())
        while not fast_receiver.received and time.perf_counter() - started < 0.5:
            await asyncio.sleep(0.01)
        assert fast_receiver.received and not tick.done()
        assert await tick == 2
        assert 0.9 <= time.perf_counter() - started < 1.8
        (delivery,) = (await _log(gateway, slow_admin, slow_sub)).json()
    assert [a["error"] for a in delivery["attempt_log"]] == ["timeout"]


async def test_only_the_first_kib_of_an_answer_is_read(gateway):
    async with raw_receiver(endless_body) as base:
        _, admin = await gateway.key(roles=("admin",))
        sub = await subscribe(gateway, admin, f"{base}/hooks")
        await publish(gateway, registered("loir-et-cher"))
        started = time.perf_counter()
        assert await gateway.app.state.webhook_worker.tick() == 1
        assert time.perf_counter() - started < 2  # not the deadline (10 s): the body was left unread
        (delivery,) = (await _log(gateway, admin, sub)).json()
    assert delivery["status"] == "delivered"
    assert [(a["status_code"], a["error"]) for a in delivery["attempt_log"]] == [(200, None)]


async def test_a_long_queue_is_leased_for_its_deadlines(gateway):
    """The n-th delivery of a subscription waits for the n-1 before it: its claim outlasts them."""
    _, admin = await gateway.key(roles=("admin",))
    await subscribe(gateway, admin, f"{closed_url()}/hooks")
    for _ in range(3):
        await publish(gateway, registered("loir-et-cher"))
    worker = gateway.app.state.webhook_worker
    worker.deadline = 10.0
    before = datetime.now(UTC)
    (task,) = await worker.dispatch()
    task.cancel()  # before it attempts anything: the claims stay as they were made
    await asyncio.gather(task, return_exceptions=True)
    async with gateway.app.state.sessionmaker() as session:
        leases = sorted((await session.execute(select(webhook_deliveries.c.next_attempt_at))).scalars().all())
    offsets = [(lease.replace(tzinfo=UTC) - before).total_seconds() for lease in leases]
    assert [round(o) for o in offsets] == [70, 80, 90], offsets
