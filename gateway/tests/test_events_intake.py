"""`POST /api/v1/events`: CloudEvents in structured JSON, one or a batch, validated against the
inbound contracts; valid ones produced to inbound.france-travail with the tenant, duplicates once."""

import asyncio
import copy
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select

from tremplin_shared.events import CloudEvent
from tremplin_shared.messaging.tables import outbox

pytestmark = pytest.mark.asyncio

CE_JSON = {"Content-Type": "application/cloudevents+json"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **CE_JSON}


def jobseeker(**overrides) -> dict:
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/francetravail/si-41",
        "type": "fr.francetravail.demandeur.registered.v1",
        "time": "2026-11-30T09:00:00+01:00",
        "datacontenttype": "application/json",
        "data": {
            "identifiant": "FT-41-000123",
            "dateInscription": "2026-11-28",
            "categorie": "A",
            "commune": "41018",
            "romeCodes": ["K2204"],
            "nom": "ignored: not in the contract, never produced",
        },
    }
    event.update(overrides)
    return event


def offer(**overrides) -> dict:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/francetravail/offres",
        "type": "fr.francetravail.offre.published.v1",
        "data": {
            "id": "201XKLM",
            "intitule": "Agent d'entretien (H/F)",
            "romeCode": "K2204",
            "lieuTravail": {"latitude": 47.59, "longitude": 1.33, "commune": "41018"},
            "typeContrat": "CDD",
        },
        **overrides,
    }


async def staged(gw) -> list:
    async with gw.app.state.sessionmaker() as session:
        return (await session.execute(select(outbox).order_by(outbox.c.seq))).all()


async def test_one_valid_event_is_staged_for_the_topic_with_the_caller_tenant(gateway):
    _, key = await gateway.key(roles=("integration",))
    event = jobseeker()
    response = await gateway.client.post("/api/v1/events", content=json.dumps(event), headers=bearer(key))
    assert response.status_code == 202, response.text
    (result,) = response.json()["results"]
    assert result["status"] == "accepted" and result["id"] == event["id"]
    (row,) = await staged(gateway)
    assert row.topic == "inbound.france-travail" and row.tenant == "loir-et-cher"
    assert row.event_id == result["event_id"] and row.key == "FT-41-000123"
    data = json.loads(row.value)
    assert data["identifiant"] == "FT-41-000123" and "nom" not in data  # only the contract's fields
    headers = dict(row.headers)
    assert headers["ce_tenant"] == "loir-et-cher" and headers["ce_type"] == event["type"]


async def test_a_duplicate_is_accepted_once(gateway):
    _, key = await gateway.key(roles=("integration",))
    event = jobseeker()
    first = await gateway.client.post("/api/v1/events", json=event, headers=bearer(key))
    again = await gateway.client.post("/api/v1/events", json=event, headers=bearer(key))
    batch = await gateway.client.post("/api/v1/events", json=[offer(id="o-1"), offer(id="o-1")], headers=bearer(key))
    assert first.json()["results"][0]["status"] == "accepted"
    assert again.status_code == 202 and again.json()["results"][0]["status"] == "duplicate"
    assert batch.status_code == 202 and [r["status"] for r in batch.json()["results"]] == ["accepted", "duplicate"]
    assert len(await staged(gateway)) == 2
    # The same id from another tenant is another event.
    _, other = await gateway.key(tenant="cher", roles=("integration",))
    theirs = await gateway.client.post("/api/v1/events", json=event, headers=bearer(other))
    assert theirs.json()["results"][0]["status"] == "accepted"


async def test_a_batch_with_invalid_events_is_207_with_per_event_errors(gateway):
    _, key = await gateway.key(roles=("integration",))
    bad_offer = offer()
    del bad_offer["data"]["lieuTravail"]
    batch = [
        jobseeker(),
        bad_offer,
        jobseeker(type="fr.francetravail.unknown.v1"),
        jobseeker(specversion="0.3"),
        jobseeker(tenant="cher"),
        {"hello": "world"},
        "not an object",
        offer(),
    ]
    response = await gateway.client.post("/api/v1/events", json=batch, headers=bearer(key))
    assert response.status_code == 207, response.text
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["accepted"] + ["rejected"] * 6 + ["accepted"]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 6)
    errors = {r["index"]: {e["field"] for e in r["errors"]} for r in body["results"] if r["status"] == "rejected"}
    assert errors[1] == {"data.lieuTravail"}
    assert errors[2] == {"type"} and errors[3] == {"specversion"} and errors[4] == {"tenant"}
    assert {"id", "source", "type", "specversion", "data"} <= errors[5]
    assert len(await staged(gateway)) == 2  # only the valid ones


async def test_nothing_valid_is_422_and_nothing_is_produced(gateway):
    _, key = await gateway.key(roles=("integration",))
    bad = jobseeker()
    bad["data"] = {**bad["data"], "commune": "Blois", "categorie": "Z"}
    one = await gateway.client.post("/api/v1/events", json=bad, headers=bearer(key))
    assert one.status_code == 422 and one.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in one.json()["errors"]} == {"data.commune", "data.categorie"}
    many = await gateway.client.post("/api/v1/events", json=[bad, copy.deepcopy(bad)], headers=bearer(key))
    assert many.status_code == 422 and many.json()["rejected"] == 2
    for content, headers in (
        ("{not json", bearer(key)),
        ("[]", bearer(key)),
        (json.dumps(jobseeker()), {**bearer(key), "Content-Type": "text/plain"}),
    ):
        assert (await gateway.client.post("/api/v1/events", content=content, headers=headers)).status_code == 422
    assert await staged(gateway) == []


async def test_only_integration_and_admin_may_send(gateway):
    for role, expected in (("viewer", 403), ("referent", 403), ("admin", 202), ("integration", 202)):
        _, key = await gateway.key(roles=(role,))
        response = await gateway.client.post("/api/v1/events", json=jobseeker(), headers=bearer(key))
        assert response.status_code == expected, role


async def test_accepted_events_reach_the_topic_through_the_relay(broker, settings_for, start_gateway):
    settings = settings_for(kafka_bootstrap_servers=broker.bootstrap, run_background_workers=True)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    async with start_gateway(settings) as gw:
        _, key = await gw.key(tenant=tenant, roles=("integration",))
        response = await gw.client.post("/api/v1/events", json=[jobseeker(), jobseeker()], headers=bearer(key))
        ids = {r["event_id"] for r in response.json()["results"]}
        records = await _records(broker.bootstrap, ids)
    events = [CloudEvent.from_kafka(r.headers, r.value) for r in records]
    assert {e.id for e in events} == ids
    assert all(e.tenant == tenant and e.type == "fr.francetravail.demandeur.registered.v1" for e in events)


async def _records(bootstrap: str, ids: set[str], timeout: float = 20.0) -> list:
    # "earliest": a reset to "latest" by the fetcher could otherwise win the race against the seek.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    found: list = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < len(ids) and asyncio.get_running_loop().time() < deadline:
            await consumer.topics()
            partitions = consumer.partitions_for_topic("inbound.france-travail") or set()
            if not partitions:
                await asyncio.sleep(0.2)
                continue
            consumer.assign([TopicPartition("inbound.france-travail", p) for p in partitions])
            await consumer.seek_to_beginning()
            found = []
            for _ in range(10):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend(r for r in batch if dict(r.headers).get("ce_id", b"").decode() in ids)
                if len(found) >= len(ids):
                    break
    finally:
        await consumer.stop()
    return found


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 100_000 + b"]" * 100_000])
async def test_json_nested_too_deeply_is_422(gateway, body):
    _, key = await gateway.key(roles=("integration",))
    response = await gateway.client.post("/api/v1/events", content=body, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
