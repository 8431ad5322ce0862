"""participant.registered, profile_changed and erased in the candidate projection (SQLite and PostgreSQL:
the PostgreSQL upserts send the rows as arrays)."""

import uuid
from datetime import UTC, date, datetime

import httpx
import pytest

from tremplin_matching.adapters import projection
from tremplin_matching.adapters.projection import HANDLERS
from tremplin_matching.adapters.spatial_index import candidate_from_row
from tremplin_matching.config import Settings
from tremplin_matching.main import create_app
from tremplin_shared.events import (
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    new_event,
)
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

FLAGS = ParticipantFlags(computed_on=date(2026, 11, 25), long_term_unemployed=True, very_long_term_unemployed=False,
                         youth=False, senior=False, rsa=True, rqth=False, qpv=True, clause_eligible=True)  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
async def matching(request, tmp_path, postgres):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/matching.db"
    else:
        url = await postgres.create("matching")
    settings = Settings(database_url=url, run_background_workers=False)
    app = create_app(settings)

    def as_tenant(tenant: str) -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, "tester", ("referent",)), settings.identity_secret)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
            yield app, client, as_tenant


async def apply(app, tenant: str, data) -> None:
    """As the consumer does: the handler registered for the type, in one transaction."""
    async with app.state.sessionmaker() as session, session.begin():
        await HANDLERS[data.ce_type](session, new_event(data, tenant=tenant, source="/t"), data)


def registered(pid: uuid.UUID) -> ParticipantRegisteredV1:
    return ParticipantRegisteredV1(participant_id=pid, registered_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
                                   latitude=47.59, longitude=1.33, skills=["K2204"])  # fmt: skip


def profile(pid: uuid.UUID, **changes) -> ParticipantProfileChangedV1:
    fields = dict(participant_id=pid, changed_at=datetime(2026, 11, 3, 9, 0, tzinfo=UTC), latitude=47.2,
                  longitude=1.5, commune_insee="41269", skills=["F1703"], wishes=["F1702"], max_travel_km=25.0,
                  travel_modes=["bike", "bus"], weekly_hours_wanted=24.0, schedule_exclusions=["night", "weekend"],
                  driving_licence=True, vehicle=False, flags=FLAGS, consent_matching=True, active=True)  # fmt: skip
    return ParticipantProfileChangedV1(**{**fields, **changes})


async def test_a_profile_change_replaces_the_candidate_profile(matching):
    app, client, as_tenant = matching
    pid = uuid.uuid4()
    await apply(app, "loir-et-cher", registered(pid))
    before = (await client.get(f"/api/v1/matching/candidates/{pid}", headers=as_tenant("loir-et-cher"))).json()
    assert before["wishes"] == [] and before["active"] is False and before["flags"] is None  # defaults
    await apply(app, "loir-et-cher", profile(pid))
    body = (await client.get(f"/api/v1/matching/candidates/{pid}", headers=as_tenant("loir-et-cher"))).json()
    assert (body["latitude"], body["longitude"], body["commune_insee"]) == (47.2, 1.5, "41269")
    assert (body["skills"], body["wishes"]) == (["F1703"], ["F1702"])
    assert (body["max_travel_km"], body["travel_modes"], body["weekly_hours_wanted"]) == (25.0, ["bike", "bus"], 24.0)
    assert body["schedule_exclusions"] == ["night", "weekend"]
    assert (body["driving_licence"], body["vehicle"], body["consent_matching"], body["active"]) == (True, False, True,
                                                                                                    True)  # fmt: skip
    assert body["flags"] == FLAGS.model_dump(mode="json")
    assert body["registered_at"] == before["registered_at"]  # kept from the registration

    await apply(app, "loir-et-cher", profile(pid, consent_matching=False, active=False, max_travel_km=None, wishes=[]))
    body = (await client.get(f"/api/v1/matching/candidates/{pid}", headers=as_tenant("loir-et-cher"))).json()
    assert (body["consent_matching"], body["active"], body["max_travel_km"], body["wishes"]) == (False, False, None, [])


async def test_a_profile_without_a_registration_creates_the_candidate(matching):
    app, client, as_tenant = matching
    pid = uuid.uuid4()
    await apply(app, "cher", profile(pid))
    body = (await client.get(f"/api/v1/matching/candidates/{pid}", headers=as_tenant("cher"))).json()
    assert body["skills"] == ["F1703"] and body["registered_at"].startswith("2026-11-03")


async def test_erasure_deletes_the_candidate_of_that_tenant_only(matching):
    app, client, as_tenant = matching
    pid = uuid.uuid4()
    for tenant in ("loir-et-cher", "indre"):  # the same id in two tenants (ids are the tenants' own)
        await apply(app, tenant, registered(pid))
        await apply(app, tenant, profile(pid))
    await apply(app, "loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))
    url = f"/api/v1/matching/candidates/{pid}"
    assert (await client.get(url, headers=as_tenant("loir-et-cher"))).status_code == 404
    assert (await client.get(url, headers=as_tenant("indre"))).status_code == 200
    # erasing again (a redelivery) is harmless
    await apply(app, "loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))


async def test_the_index_gets_the_candidate_as_its_row_after_each_event(matching, monkeypatch):
    """What a handler stages for the ranking index is the committed row, in whatever order events come
    (a registration after its profile keeps the profile's wishes, hours, exclusions, consent)."""
    app, _, _ = matching
    staged = {}
    monkeypatch.setattr(projection, "stage_candidate", lambda _s, tenant, c: staged.__setitem__((tenant, c.id), c))
    first, second = uuid.uuid4(), uuid.uuid4()
    sequences = {first: [registered(first), profile(first)], second: [profile(second), registered(second)]}
    for pid, events in sequences.items():
        for data in events:
            await apply(app, "indre", data)
            async with app.state.sessionmaker() as session:
                row = await projection.get_candidate(session, "indre", pid)
            assert staged[("indre", pid)] == candidate_from_row(row)
    assert staged[("indre", second)].wishes == ("F1702",) and staged[("indre", second)].consent_matching
    assert staged[("indre", second)].skills == ("K2204",)  # the registration's skills, written last
