"""The candidate projection and its read API, on SQLite: built from events, scoped by tenant."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tremplin_matching.adapters.projection import on_participant_upserts
from tremplin_matching.config import Settings
from tremplin_matching.main import create_app
from tremplin_shared.events import ParticipantRegisteredV1, new_event
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity


@pytest.fixture
async def matching(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/matching.db", run_background_workers=False)
    app = create_app(settings)

    def as_tenant(tenant: str) -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, "tester", ("referent",)), settings.identity_secret)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
            yield app, client, as_tenant


async def project(app, tenant: str, **fields) -> ParticipantRegisteredV1:
    data = ParticipantRegisteredV1(
        participant_id=fields.get("participant_id", uuid.uuid4()),
        registered_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        latitude=fields.get("latitude", 47.59),
        longitude=1.33,
        skills=fields.get("skills", ["K2204"]),
    )
    async with app.state.sessionmaker() as session, session.begin():
        await on_participant_upserts(session, new_event(data, tenant=tenant, source="/t"), data)
    return data


async def test_a_projected_candidate_is_readable_by_its_tenant_only(matching):
    app, client, as_tenant = matching
    data = await project(app, "loir-et-cher")
    own = await client.get(f"/api/v1/matching/candidates/{data.participant_id}", headers=as_tenant("loir-et-cher"))
    assert own.status_code == 200
    assert own.json()["skills"] == ["K2204"]
    assert "first_name" not in own.json()
    other = await client.get(f"/api/v1/matching/candidates/{data.participant_id}", headers=as_tenant("indre"))
    assert other.status_code == 404


async def test_a_later_event_updates_the_candidate(matching):
    app, client, as_tenant = matching
    data = await project(app, "t")
    await project(app, "t", participant_id=data.participant_id, latitude=47.0, skills=["N1103"])
    body = (await client.get(f"/api/v1/matching/candidates/{data.participant_id}", headers=as_tenant("t"))).json()
    assert (body["latitude"], body["skills"]) == (47.0, ["N1103"])


async def test_no_identity_is_401(matching):
    _, client, _ = matching
    assert (await client.get(f"/api/v1/matching/candidates/{uuid.uuid4()}")).status_code == 401
