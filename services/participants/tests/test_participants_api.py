"""The participants API on SQLite, without a broker: validation, tenancy, identity."""

import uuid

import httpx
import pytest

from tremplin_participants.config import Settings
from tremplin_participants.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

VALID = {
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1984-03-12",
    "sex": "F",
    "latitude": 47.5861,
    "longitude": 1.3359,
    "skills": ["K2204"],
}


@pytest.fixture
async def service(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/participants.db", run_background_workers=False)
    app = create_app(settings)

    def as_tenant(tenant: str) -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, "tester", ("referent",)), settings.identity_secret)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://participants") as client:
            yield client, as_tenant


async def test_register_then_read_in_the_same_tenant(service):
    client, as_tenant = service
    created = await client.post("/api/v1/participants", json=VALID, headers=as_tenant("loir-et-cher"))
    assert created.status_code == 201
    body = created.json()
    read = await client.get(f"/api/v1/participants/{body['id']}", headers=as_tenant("loir-et-cher"))
    assert read.status_code == 200
    assert read.json() == body


async def test_another_tenant_gets_404_for_the_same_id(service):
    client, as_tenant = service
    created = await client.post("/api/v1/participants", json=VALID, headers=as_tenant("loir-et-cher"))
    foreign = await client.get(f"/api/v1/participants/{created.json()['id']}", headers=as_tenant("indre"))
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"skills": ["K22"]}, "skills.0"),
        ({"sex": "X"}, "sex"),
        ({"latitude": 123}, "latitude"),
        ({"birth_date": "12/03/1984"}, "birth_date"),
        ({"first_name": "   "}, "first_name"),
        ({"nir": "1840312345678"}, "nir"),
        ({"first_name": "Cam\u0000ille"}, "first_name"),  # PostgreSQL cannot store a NUL
        ({"last_name": "Martin\tDupont"}, "last_name"),
        ({"address_line": "12 rue des Lilas\u0000"}, "address_line"),
        ({"email": "camille\u0000@example.org"}, "email"),
    ],
)
async def test_invalid_bodies_get_422_with_the_field_path(service, change, field):
    client, as_tenant = service
    response = await client.post("/api/v1/participants", json={**VALID, **change}, headers=as_tenant("t"))
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}


async def test_a_future_birth_date_is_422(service):
    client, as_tenant = service
    response = await client.post(
        "/api/v1/participants", json={**VALID, "birth_date": "2999-01-01"}, headers=as_tenant("t")
    )
    assert response.status_code == 422


async def test_missing_or_forged_identity_is_401(service):
    client, _ = service
    forged = sign_identity(Identity("loir-et-cher", "intruder", ("admin",)), "not-the-secret")
    for headers in ({}, {IDENTITY_HEADER: forged}, {IDENTITY_HEADER: "garbage"}):
        response = await client.get(f"/api/v1/participants/{uuid.uuid4()}", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
