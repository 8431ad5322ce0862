"""The two ranking endpoints on SQLite with a signed identity: explanation, order, limit, tenancy."""

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tremplin_matching.adapters.projection import on_participant_upserts
from tremplin_matching.config import Settings
from tremplin_matching.main import create_app
from tremplin_shared.events import ParticipantFlags, ParticipantProfileChangedV1, new_event
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

FLAGS = ParticipantFlags(
    computed_on="2026-11-02", long_term_unemployed=False, very_long_term_unemployed=False, youth=False,
    senior=False, rsa=True, rqth=False, qpv=False, clause_eligible=True,
)  # fmt: skip
BLOIS = (47.5861, 1.3359)


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


async def candidate(app, tenant: str, lat: float, lon: float, **fields) -> uuid.UUID:
    data = ParticipantProfileChangedV1(
        participant_id=fields.pop("participant_id", uuid.uuid4()),
        changed_at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        latitude=lat,
        longitude=lon,
        skills=fields.pop("skills", ["K2204"]),
        max_travel_km=fields.pop("max_travel_km", 30.0),
        weekly_hours_wanted=fields.pop("weekly_hours_wanted", 35.0),
        flags=FLAGS,
        consent_matching=True,
        active=True,
        **fields,
    )
    async with app.state.sessionmaker() as session, session.begin():
        await on_participant_upserts(session, new_event(data, tenant=tenant, source="/t"), data)
    return data.participant_id


async def offer(client, headers, lat: float, lon: float, **fields) -> str:
    body = {
        "title": "Agent d'entretien des locaux",
        "employer": {"name": "Propreté du Loir", "siret": "73282932000074"},
        "rome_code": fields.pop("rome_code", "K2204"),
        "location": {"latitude": lat, "longitude": lon},
        "contract_type": "cdi",
        "weekly_hours": fields.pop("weekly_hours", 35.0),
        **fields,
    }
    response = await client.post("/api/v1/offers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_candidates_for_an_offer_are_ranked_and_explained(matching):
    app, client, as_tenant = matching
    h = as_tenant("loir-et-cher")
    near = await candidate(app, "loir-et-cher", BLOIS[0] + 0.01, BLOIS[1])
    wisher = await candidate(app, "loir-et-cher", BLOIS[0], BLOIS[1], skills=["A1101"], wishes=["K2204"])
    await candidate(app, "loir-et-cher", 47.7929, 1.0656, max_travel_km=10.0)  # Vendôme, too far for 10 km
    here = await candidate(app, "loir-et-cher", BLOIS[0], BLOIS[1])
    oid = await offer(client, h, *BLOIS)
    response = await client.get(f"/api/v1/offers/{oid}/candidates", headers=h)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["weights"] == {"skills": 0.5, "proximity": 0.3, "hours": 0.2}
    ids = [item["participant_id"] for item in body["items"]]
    # here: 0.5 + 0.3 + 0.2 = 1; near: 0.5 + 0.3 × (1 − 1.112 / 30) + 0.2 ≈ 0.989; wisher: 0.4 + 0.3 + 0.2 = 0.9
    assert ids == [str(here), str(near), str(wisher)]
    assert body["items"][0]["score"] == 1.0
    first = body["items"][1]
    parts = first["explanation"]["components"]
    assert parts["skills"] == {"value": 1.0, "weight": 0.5, "contribution": 0.5}
    assert parts["hours"] == {"value": 1.0, "weight": 0.2, "contribution": 0.2}
    assert first["distance_km"] == pytest.approx(1.112, abs=0.001)
    assert first["score"] == pytest.approx(0.9889, abs=1e-4)
    assert first["score"] == pytest.approx(sum(p["contribution"] for p in parts.values()), abs=2e-4)
    assert first["explanation"]["max_travel_km"] == 30.0
    wisher_item = next(i for i in body["items"] if i["participant_id"] == str(wisher))
    assert wisher_item["explanation"]["components"]["skills"]["value"] == 0.8
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)


async def test_offers_for_a_participant_follow_the_filters_and_the_limit(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    pid = await candidate(app, "t", *BLOIS, schedule_exclusions=["night"], driving_licence=False)
    ids = [await offer(client, h, BLOIS[0] + i * 0.01, BLOIS[1]) for i in range(4)]
    await offer(client, h, *BLOIS, schedule={"night": True})
    await offer(client, h, *BLOIS, requirements={"driving_licence": True})
    await offer(client, h, 43.2965, 5.3698)  # Marseille
    response = await client.get(f"/api/v1/matching/participants/{pid}/offers?limit=3", headers=h)
    assert response.status_code == 200, response.text
    assert [i["offer_id"] for i in response.json()["items"]] == ids[:3]  # nearest first, same skills and hours
    everything = (await client.get(f"/api/v1/matching/participants/{pid}/offers?limit=100", headers=h)).json()
    assert [i["offer_id"] for i in everything["items"]] == ids


async def test_a_closed_offer_leaves_the_ranking(matching):
    app, client, as_tenant = matching
    h = as_tenant("t")
    pid = await candidate(app, "t", *BLOIS)
    oid = await offer(client, h, *BLOIS)
    assert len((await client.get(f"/api/v1/matching/participants/{pid}/offers", headers=h)).json()["items"]) == 1
    patched = await client.patch(f"/api/v1/offers/{oid}", json={"status": "closed"}, headers=h)
    assert patched.status_code == 200, patched.text
    assert (await client.get(f"/api/v1/matching/participants/{pid}/offers", headers=h)).json()["items"] == []
    assert (await client.get(f"/api/v1/offers/{oid}/candidates", headers=h)).json()["items"] == []


async def test_foreign_ids_are_404_and_tenants_never_mix(matching):
    app, client, as_tenant = matching
    pid = await candidate(app, "a", *BLOIS)
    other_pid = await candidate(app, "b", *BLOIS)
    oid = await offer(client, as_tenant("a"), *BLOIS)
    await offer(client, as_tenant("b"), *BLOIS)
    assert (await client.get(f"/api/v1/offers/{oid}/candidates", headers=as_tenant("b"))).status_code == 404
    assert (await client.get(f"/api/v1/matching/participants/{pid}/offers", headers=as_tenant("b"))).status_code == 404
    own = (await client.get(f"/api/v1/offers/{oid}/candidates", headers=as_tenant("a"))).json()
    assert [i["participant_id"] for i in own["items"]] == [str(pid)]
    theirs = (await client.get(f"/api/v1/matching/participants/{other_pid}/offers", headers=as_tenant("b"))).json()
    assert oid not in [i["offer_id"] for i in theirs["items"]]
    assert (await client.get(f"/api/v1/offers/{uuid.uuid4()}/candidates", headers=as_tenant("a"))).status_code == 404


@pytest.mark.parametrize("limit", [0, 101, "x"])
async def test_the_limit_is_checked(matching, limit):
    app, client, as_tenant = matching
    pid = await candidate(app, "t", *BLOIS)
    response = await client.get(f"/api/v1/matching/participants/{pid}/offers?limit={limit}", headers=as_tenant("t"))
    assert response.status_code == 422


async def test_no_identity_is_401(matching):
    _, client, _ = matching
    assert (await client.get(f"/api/v1/offers/{uuid.uuid4()}/candidates")).status_code == 401


def test_weights_that_do_not_sum_to_one_are_refused():
    with pytest.raises(ValueError, match="sum to 1"):
        Settings(ranking_weight_skills=0.6, ranking_weight_proximity=0.3, ranking_weight_hours=0.2)
    assert Settings(ranking_weight_skills=0.6, ranking_weight_proximity=0.2).ranking_weights().skills == 0.6
