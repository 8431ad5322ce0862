"""A participant's erasure reaches the webhook deliveries: through the real consumer path (decode,
inbox, tombstone, handlers), every delivery of the tenant about the person goes — pending ones are
never POSTed, delivered ones leave the delivery log, their attempts with them — but the erasure's
own, which the subscribers that want it are sent. Another person of the tenant, and the same id in
another tenant (another person), are left as they were. On SQLite and on PostgreSQL."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from tests.leaks import outside_tombstones, rows_mentioning, snapshot
from tremplin_gateway.adapters.orm import webhook_attempts, webhook_deliveries, webhook_subscriptions
from tremplin_gateway.webhooks import (
    ERASED,
    fan_out,
    fan_out_erasure,
    outbound_event_types,
    webhook_consumer,
    webhook_handlers,
)
from tremplin_shared.events import (
    CloudEvent,
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    PlacementHiredV1,
    new_event,
)
from tremplin_shared.messaging.consumer import apply_in_order

from .conftest import running_gateway

pytestmark = pytest.mark.asyncio

SECRET = "s3cr3t-shared-with-the-receiver"
LOCAL = {"webhook_allow_http": True, "webhook_allow_private_addresses": True}  # receivers on 127.0.0.1
A, B = "loir-et-cher", "cher"
PARTICIPANTS = "fr.tremplin.participants.*"
REGISTERED = ParticipantRegisteredV1.ce_type
HIRED = PlacementHiredV1.ce_type


@pytest.fixture(params=["sqlite", "postgresql"])
async def gw(request, settings_for, postgres):
    url = None if request.param == "sqlite" else await postgres.create("gateway_erasure")
    settings = settings_for(**LOCAL, **({"database_url": url} if url else {}))
    async with running_gateway(settings) as running:
        running.consumer = webhook_consumer(settings, running.app.state.sessionmaker)
        running.offset = 0
        yield running


class Receiver:
    """Records every request; while `gate` is cleared, holds each answer until it is set."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.app = FastAPI()

        @self.app.post("/hooks/{name}")
        async def hook(name: str, request: Request) -> JSONResponse:
            self.received.append({"name": name, "body": json.loads(await request.body())})
            await self.gate.wait()
            return JSONResponse({})

    def bodies(self, name: str | None = None) -> list[dict]:
        return [r["body"] for r in self.received if name is None or r["name"] == name]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def subscribe(gw, tenant: str, url: str, event_types) -> tuple[str, dict]:
    _, admin = await gw.key(tenant=tenant, roles=("admin",))
    body = {"url": url, "event_types": list(event_types), "secret": SECRET}
    response = await gw.client.post("/api/v1/webhooks", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.text
    return admin, response.json()


async def deliver(gw, *events: CloudEvent) -> None:
    """The records through the webhook consumer's own path (decode, inbox, tombstones, handlers), one
    transaction — what it does with a fetch from the broker."""
    records = []
    for event in events:
        gw.offset += 1
        topic = {"fr.tremplin.matching": "matching.events"}.get(event.type.rsplit(".", 3)[0], "participants.events")
        records.append(ConsumerRecord(topic, 0, gw.offset, 0, 0, event.subject.encode(), event.value(), None, 0, 0,
                                      event.headers()))  # fmt: skip
    await gw.consumer._apply(records)


def registered(tenant: str, pid: uuid.UUID) -> CloudEvent:
    data = ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC), latitude=47.5872,
                                   longitude=1.3318, skills=["K2204"])  # fmt: skip
    return new_event(data, tenant=tenant, source="/tremplin/participants")


def profile_changed(tenant: str, pid: uuid.UUID) -> CloudEvent:
    flags = ParticipantFlags(computed_on=date(2026, 1, 5), long_term_unemployed=True,
                             very_long_term_unemployed=False, youth=False, senior=False, rsa=True, rqth=True,
                             qpv=False, clause_eligible=True)  # fmt: skip
    data = ParticipantProfileChangedV1(participant_id=pid, changed_at=datetime.now(UTC), latitude=47.5872,
                                       longitude=1.3318, flags=flags, active=True)  # fmt: skip
    return new_event(data, tenant=tenant, source="/tremplin/participants")


def hired(tenant: str, pid: uuid.UUID) -> CloudEvent:
    """About the person in `data` only: its subject is the application."""
    data = PlacementHiredV1(application_id=uuid.uuid4(), participant_id=pid, offer_id=uuid.uuid4(),
                            employer_siret="12345678901234", contract_type="cdi", start_date=date(2026, 2, 1),
                            weekly_hours=35)  # fmt: skip
    return new_event(data, tenant=tenant, source="/tremplin/matching")


def erased(tenant: str, pid: uuid.UUID) -> CloudEvent:
    data = ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC))
    return new_event(data, tenant=tenant, source="/tremplin/participants")


async def deliveries(gw) -> dict[str, list[dict]]:
    """{tenant: [delivery with its attempts' count]}, by event id."""
    d, s, a = webhook_deliveries, webhook_subscriptions, webhook_attempts
    async with gw.app.state.sessionmaker() as session:
        rows = (await session.execute(select(d, s.c.tenant).join(s, s.c.id == d.c.subscription_id))).mappings().all()
        attempts = (await session.execute(select(a.c.delivery_id))).scalars().all()
    found: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (str(r["subscription_id"]), r["event_id"])):
        found.setdefault(row["tenant"], []).append({**row, "attempt_rows": attempts.count(row["id"])})
    return found


async def data_snapshot(gw) -> dict[str, list[str]]:
    """Every table but those the requests themselves write to (the audit log, keys' last use)."""
    return {name: rows for name, rows in (await snapshot(gw.app)).items() if name not in ("audit_log", "api_keys")}


def about(rows: list[dict], pid: uuid.UUID) -> list[dict]:
    return [r for r in rows if str(pid) in r["body"]]


async def test_the_erasure_forgets_the_person_s_deliveries_of_the_tenant_only(gw, serve_app):
    receiver = Receiver()
    p, q = uuid.uuid4(), uuid.uuid4()
    async with serve_app(receiver.app) as base:
        admin, everything = await subscribe(gw, A, f"{base}/hooks/a-all", [PARTICIPANTS, HIRED])
        _, no_erasure = await subscribe(gw, A, f"{base}/hooks/a-registered", [REGISTERED, HIRED])
        _, theirs = await subscribe(gw, B, f"{base}/hooks/b-all", [PARTICIPANTS, HIRED])
        worker = gw.app.state.webhook_worker

        # Delivered: P's and Q's registrations and hires in A, P's id registered in B (another person).
        await deliver(gw, registered(A, p), registered(A, q), hired(A, p), hired(A, q), registered(B, p), hired(B, p))
        assert await worker.tick() == 10  # 4 events in A to both its subscriptions, 2 in B
        # Pending: a change of P's profile (flags, coordinates) and of Q's, in A; of P's id in B.
        pending_p = profile_changed(A, p)
        await deliver(gw, pending_p, profile_changed(A, q), profile_changed(B, p))
        before = await deliveries(gw)
        of_p = about(before[A], p)
        assert sorted((r["status"], r["attempt_rows"]) for r in of_p) == [("delivered", 1)] * 4 + [("pending", 0)]
        received_before = len(receiver.received)

        erasure = erased(A, p)
        await deliver(gw, erasure)

        after = await deliveries(gw)
        # Tenant A: of P, only the erasure, queued for the subscription that wants it (not the other).
        assert [(r["subscription_id"], r["event_type"]) for r in about(after[A], p)] == [
            (uuid.UUID(everything["id"]), ERASED)
        ]
        # Q's deliveries and tenant B's are as they were (state, attempts).
        assert [r for r in after[A] if r["event_type"] != ERASED] == about(before[A], q)
        assert after[B] == before[B]
        # No table mentions P but the tombstone, the erasure's deliveries and tenant B's.
        theirs_ids = {uuid.UUID(theirs["id"])}
        left = outside_tombstones(await rows_mentioning(gw.app, p))
        assert set(left) == {"webhook_deliveries"}, left
        # (reflected: on SQLite a uuid reads back as its hex digits)
        assert all(
            r["event_type"] == ERASED or uuid.UUID(str(r["subscription_id"])) in theirs_ids
            for r in left["webhook_deliveries"]
        )

        # The worker sends the erasure and the other pending deliveries; never P's profile in A.
        assert await worker.tick() == 3  # Q's change, the erasure (to a-all only), P's id's change in B
        sent = receiver.received[received_before:]
    assert {(r["name"], r["body"]["type"]) for r in sent} == {
        ("a-all", ParticipantProfileChangedV1.ce_type),
        ("a-all", ERASED),
        ("b-all", ParticipantProfileChangedV1.ce_type),
    }
    assert all(r["body"]["id"] != pending_p.id for r in receiver.received)
    (told,) = [r["body"] for r in sent if r["body"]["type"] == ERASED]
    assert told["id"] == erasure.id and told["data"]["participant_id"] == str(p) and told["tenant"] == A
    for r in sent:
        if r["name"] != "b-all" and r["body"]["type"] != ERASED:
            assert str(p) not in json.dumps(r["body"])

    # The delivery log shows nothing of P but the erasure: the events about P are gone from it.
    logs = {}
    for sub in (everything, no_erasure):
        answer = await gw.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))
        assert answer.status_code == 200 and str(p) not in answer.text
        logs[sub["id"]] = answer.json()
    about_q = {r["event_id"] for r in about(before[A], q)}
    q_for_no_erasure = {r["event_id"] for r in about(before[A], q) if str(r["subscription_id"]) == no_erasure["id"]}
    assert {d["event_id"] for d in logs[no_erasure["id"]]} == q_for_no_erasure
    assert sorted((d["event_type"], d["status"]) for d in logs[everything["id"]] if d["event_id"] not in about_q) == [
        (ERASED, "delivered")
    ]

    # A redelivered erasure (at-least-once; the inbox) and the handler run again (no inbox) change nothing.
    unchanged = await data_snapshot(gw)
    await deliver(gw, erasure)
    async with gw.app.state.sessionmaker() as session, session.begin():
        data = ParticipantErasedV1.model_validate(erasure.data)
        await apply_in_order(session, gw.consumer.handlers, [(erasure, data)], gw.consumer.erasure_tombstones)
    assert await data_snapshot(gw) == unchanged
    assert await gw.app.state.webhook_worker.tick() == 0


async def test_the_purge_runs_when_no_subscription_wants_the_erasure(gw):
    p = uuid.uuid4()
    await subscribe(gw, A, "https://si.example/hooks", [REGISTERED])
    await deliver(gw, registered(A, p), profile_changed(A, p))  # the second not wanted: not queued
    assert len((await deliveries(gw))[A]) == 1
    await deliver(gw, erased(A, p))
    assert await deliveries(gw) == {}
    assert set(outside_tombstones(await rows_mentioning(gw.app, p))) == set()


async def test_a_delivery_claimed_before_the_erasure_is_not_sent_after_it(gw, serve_app):
    """The worker claims a subscription's due rows at once and sends them one after the other; an
    erasure applied while an earlier one is on the wire forgets the later ones: they are skipped. The
    one already on the wire is not recorded (its row is gone)."""
    receiver = Receiver()
    p, q = uuid.uuid4(), uuid.uuid4()
    async with serve_app(receiver.app) as base:
        admin, sub = await subscribe(gw, A, f"{base}/hooks/a", [PARTICIPANTS])
        first_p, then_q, then_p = registered(A, p), registered(A, q), profile_changed(A, p)
        for event in (first_p, then_q, then_p):  # one by one: queued in this order
            await deliver(gw, event)
        receiver.gate.clear()
        worker = gw.app.state.webhook_worker
        tick = asyncio.create_task(worker.tick())
        while not receiver.received:
            await asyncio.sleep(0.01)
        assert receiver.bodies()[0]["id"] == first_p.id  # on the wire
        erasure = erased(A, p)
        await deliver(gw, erasure)
        receiver.gate.set()
        assert await tick == 2  # first_p (sent before the erasure was applied) and then_q; not then_p
        assert [b["id"] for b in receiver.bodies()] == [first_p.id, then_q.id]
        assert await worker.tick() == 1
    assert [b["id"] for b in receiver.bodies()] == [first_p.id, then_q.id, erasure.id]
    log = (await gw.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=bearer(admin))).json()
    assert sorted((d["event_id"], d["status"], len(d["attempt_log"])) for d in log) == sorted(
        [(then_q.id, "delivered", 1), (erasure.id, "delivered", 1)]
    )
    assert set(outside_tombstones(await rows_mentioning(gw.app, p))) == {"webhook_deliveries"}


async def test_the_erasure_handler_is_wired():
    """participant.erased is an outbound type (subscribers may want it), its handler purges too."""
    assert ERASED in outbound_event_types()
    wired = webhook_handlers()
    assert wired[ERASED] is fan_out_erasure
    assert all(h is fan_out for t, h in wired.items() if t != ERASED)
