"""The first flow, end to end, as a territory's platform uses it: through the gateway, on
PostgreSQL and the real broker, every component a real HTTP server."""

import uuid

import httpx
import pytest

from tremplin_clauses.config import Settings as ClausesSettings
from tremplin_clauses.main import create_app as clauses_app
from tremplin_funding.config import Settings as FundingSettings
from tremplin_funding.main import create_app as funding_app
from tremplin_gateway.config import Settings as GatewaySettings
from tremplin_gateway.keys import create_api_key
from tremplin_gateway.main import create_app as gateway_app
from tremplin_matching.config import Settings as MatchingSettings
from tremplin_matching.main import create_app as matching_app
from tremplin_participants.config import Settings as ParticipantsSettings
from tremplin_participants.main import create_app as participants_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

from .stack import free_port, running

SECRET = "e2e-identity-secret"
SERVICES = ("participants", "matching", "clauses", "funding")
FAST_GROUP = {"consumer_session_timeout_ms": 3000, "consumer_heartbeat_interval_ms": 300,
              "consumer_rebalance_timeout_ms": 2000}  # fmt: skip

CAMILLE = {
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1984-03-12",
    "sex": "F",
    "latitude": 47.5861,  # Blois
    "longitude": 1.3359,
    "skills": ["K2204", "N1103"],
}


@pytest.fixture(scope="module")
async def platform(broker, postgres):
    common = {"kafka_bootstrap_servers": broker.bootstrap, "identity_secret": SECRET, **FAST_GROUP}
    services = {
        "participants": (participants_app, ParticipantsSettings),
        "matching": (matching_app, MatchingSettings),
        "clauses": (clauses_app, ClausesSettings),
        "funding": (funding_app, FundingSettings),
    }
    components, ports = {}, {}
    for name, (factory, settings_class) in services.items():
        ports[name] = free_port()
        settings = settings_class(database_url=await postgres.create(name), **common)
        components[name] = (factory(settings), ports[name])
    gateway_settings = GatewaySettings(
        database_url=await postgres.create("gateway"),
        **{f"{name}_url": f"http://127.0.0.1:{port}" for name, port in ports.items()},
        # The flows below load a territory and poll with one key: far above a platform's 120/minute.
        rate_limit_default="6000/minute",
        **common,
    )
    components["gateway"] = (gateway_app(gateway_settings), free_port())
    async with running(components) as stack:
        yield stack


async def key_for(stack, tenant: str, *roles: str) -> dict:
    _, plaintext = await create_api_key(stack.apps["gateway"].state.sessionmaker, tenant, roles or ("referent",), "e2e")
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.fixture
async def gateway(platform):
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=10) as client:
        yield client


async def test_readyz_says_when_each_services_consumer_is_in_its_group(platform, wait_for):
    """`tremplin run` waits for it before saying the stack is ready (cli/tremplin_cli/stack.py)."""
    async with httpx.AsyncClient(timeout=5) as client:

        async def all_joined():
            bodies = [(await client.get(f"{platform.urls[name]}/readyz")).json() for name in SERVICES]
            return all(body["status"] == "ready" and body["consumer_joined"] is True for body in bodies)

        assert await wait_for(all_joined, timeout=20)
        gateway = (await client.get(f"{platform.gateway}/readyz")).json()
        assert gateway["status"] == "ready"


async def test_a_registered_participant_becomes_a_matching_candidate_within_seconds(platform, gateway, wait_for):
    loir_et_cher = await key_for(platform, "loir-et-cher")
    created = await gateway.post("/api/v1/participants", json=CAMILLE, headers=loir_et_cher)
    assert created.status_code == 201, created.text
    participant_id = created.json()["id"]
    assert created.headers["x-request-id"]

    async def candidate():
        response = await gateway.get(f"/api/v1/matching/candidates/{participant_id}", headers=loir_et_cher)
        return response if response.status_code == 200 else None

    response = await wait_for(candidate, timeout=15)
    assert response is not None, "matching never learnt of the participant"
    body = response.json()
    assert body["participant_id"] == participant_id
    assert (body["latitude"], body["longitude"], body["skills"]) == (47.5861, 1.3359, ["K2204", "N1103"])
    assert "Camille" not in response.text and "Martin" not in response.text

    # The same id from another territory does not exist, in matching as in participants.
    indre = await key_for(platform, "indre")
    assert (await gateway.get(f"/api/v1/matching/candidates/{participant_id}", headers=indre)).status_code == 404
    assert (await gateway.get(f"/api/v1/participants/{participant_id}", headers=indre)).status_code == 404
    assert (await gateway.get(f"/api/v1/participants/{participant_id}", headers=loir_et_cher)).status_code == 200


async def test_clauses_and_funding_consume_the_participant_events_too(platform, gateway, wait_for):
    cher = await key_for(platform, "cher")
    for i in range(3):
        response = await gateway.post("/api/v1/participants", json={**CAMILLE, "first_name": f"P{i}"}, headers=cher)
        assert response.status_code == 201

    async def known(service: str):
        response = await gateway.get(f"/api/v1/{service}/overview", headers=cher)
        return response.json()["known_participants"] == 3

    assert await wait_for(lambda: known("clauses"), timeout=15)
    assert await wait_for(lambda: known("funding"), timeout=15)


async def test_invalid_bodies_get_422_problems_with_field_paths_and_write_nothing(platform, gateway):
    headers = await key_for(platform, "loir-et-cher")
    response = await gateway.post(
        "/api/v1/participants", json={**CAMILLE, "skills": ["K2204", "cuisine"], "sex": "X"}, headers=headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"skills.1", "sex"}


async def test_the_gateway_refuses_requests_without_a_valid_key(platform, gateway):
    for headers in ({}, {"Authorization": "Bearer trm_000000000000_nope"}, {"X-API-Key": "garbage"}):
        response = await gateway.post("/api/v1/participants", json=CAMILLE, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


async def test_services_refuse_a_missing_or_forged_identity(platform):
    forged = sign_identity(Identity("loir-et-cher", "intruder", ("admin",)), "guessed-secret")
    paths = {
        "participants": f"/api/v1/participants/{uuid.uuid4()}",
        "matching": f"/api/v1/matching/candidates/{uuid.uuid4()}",
        "clauses": "/api/v1/clauses/overview",
        "funding": "/api/v1/funding/overview",
    }
    for service, path in paths.items():
        async with httpx.AsyncClient(base_url=platform.urls[service]) as direct:
            assert (await direct.get(path)).status_code == 401
            assert (await direct.get(path, headers={IDENTITY_HEADER: forged})).status_code == 401


async def test_every_component_is_alive_and_ready(platform):
    async with httpx.AsyncClient() as client:
        for url in platform.urls.values():
            assert (await client.get(f"{url}/healthz")).status_code == 200
            ready = await client.get(f"{url}/readyz")
            assert ready.status_code == 200, ready.text


async def test_the_gateway_serves_the_merged_openapi_and_the_asyncapi(platform, gateway):
    paths = (await gateway.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/participants", "/api/v1/matching/candidates/{participant_id}", "/api/v1/clauses/overview",
            "/api/v1/funding/overview"} <= set(paths)  # fmt: skip
    asyncapi = (await gateway.get("/asyncapi.json")).json()
    assert "participants.events" in asyncapi["channels"]
