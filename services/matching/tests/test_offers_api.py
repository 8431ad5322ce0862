"""Offers through the API on SQLite: create, read, patch, list with filters and cursor, SIRET
validation, tenant isolation."""

import httpx
import pytest
import sqlalchemy as sa

from tremplin_matching.adapters.orm import offers
from tremplin_matching.config import Settings
from tremplin_matching.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

SIRET = "73282932000074"
OTHER_SIRET = "41234567000019"


@pytest.fixture
async def matching(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/matching.db", run_background_workers=False)
    app = create_app(settings)

    def as_tenant(tenant: str) -> dict:
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, "chargee", ("referent",)), settings.identity_secret)}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://matching") as client:
            yield app, client, as_tenant


def offer_body(**over) -> dict:
    body = {
        "title": "Agent d'entretien des espaces verts",
        "employer": {"name": "Paysages du Loir", "siret": SIRET},
        "rome_code": "A1203",
        "skills": ["taille", "tonte"],
        "location": {"latitude": 47.5861, "longitude": 1.3359, "commune_insee": "41018"},
        "contract_type": "cdd",
        "weekly_hours": 35,
        "positions": 2,
        "start_date": "2026-03-02",
        "requirements": {"driving_licence": True},
        "schedule": {"early": True},
    }
    body.update(over)
    return body


async def test_create_then_read(matching):
    _, client, as_tenant = matching
    created = await client.post("/api/v1/offers", json=offer_body(), headers=as_tenant("t"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "open"
    assert (body["positions"], body["open_positions"]) == (2, 2)
    assert body["employer"] == {"name": "Paysages du Loir", "siret": SIRET}
    assert body["location"] == {"latitude": 47.5861, "longitude": 1.3359, "commune_insee": "41018"}
    assert body["requirements"] == {"driving_licence": True}
    assert body["schedule"] == {"night": False, "weekend": False, "early": True}
    assert body["external"] is None and body["clause_lot_id"] is None
    read = await client.get(f"/api/v1/offers/{body['id']}", headers=as_tenant("t"))
    assert read.status_code == 200 and read.json() == body


async def test_siret_is_checked_and_compacted(matching):
    _, client, as_tenant = matching
    bad = await client.post("/api/v1/offers", json=offer_body(employer={"name": "X", "siret": "73282932000075"}),
                            headers=as_tenant("t"))  # fmt: skip
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in bad.json()["errors"]] == ["employer.siret"]
    spaced = await client.post("/api/v1/offers", json=offer_body(employer={"name": "X", "siret": "732 829 320 00074"}),
                               headers=as_tenant("t"))  # fmt: skip
    assert spaced.status_code == 201 and spaced.json()["employer"]["siret"] == SIRET
    missing = await client.post("/api/v1/offers", json=offer_body(employer={"name": "X"}), headers=as_tenant("t"))
    assert [e["field"] for e in missing.json()["errors"]] == ["employer.siret"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": {"longitude": 1.3}}, "location.latitude"),
        ({"location": {"latitude": 91, "longitude": 1.3}}, "location.latitude"),
        ({"contract_type": "freelance"}, "contract_type"),
        ({"rome_code": "K22"}, "rome_code"),
        ({"weekly_hours": 60}, "weekly_hours"),
        ({"positions": 0}, "positions"),
        ({"title": ""}, "title"),
        ({"location": {"latitude": 47, "longitude": 1, "commune_insee": "4101"}}, "location.commune_insee"),
    ],
)
async def test_invalid_offers_are_422_with_the_field(matching, change, field):
    app, client, as_tenant = matching
    response = await client.post("/api/v1/offers", json=offer_body(**change), headers=as_tenant("t"))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    async with app.state.sessionmaker() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(offers))).scalar_one() == 0


async def test_patch_changes_only_what_is_sent(matching):
    _, client, as_tenant = matching
    offer = (await client.post("/api/v1/offers", json=offer_body(), headers=as_tenant("t"))).json()
    patched = await client.patch(
        f"/api/v1/offers/{offer['id']}",
        json={"title": "Jardinier", "location": {"latitude": 47.2}, "schedule": {"night": True}, "weekly_hours": None},
        headers=as_tenant("t"),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["title"] == "Jardinier"
    assert body["location"] == {"latitude": 47.2, "longitude": 1.3359, "commune_insee": "41018"}
    assert body["schedule"] == {"night": True, "weekend": False, "early": True}
    assert body["weekly_hours"] is None
    assert body["employer"] == offer["employer"] and body["rome_code"] == "A1203"
    assert body["updated_at"] >= offer["updated_at"] and body["created_at"] == offer["created_at"]


async def test_patch_refuses_nulls_and_bad_siret(matching):
    _, client, as_tenant = matching
    offer = (await client.post("/api/v1/offers", json=offer_body(), headers=as_tenant("t"))).json()
    url = f"/api/v1/offers/{offer['id']}"
    nulls = await client.patch(url, json={"title": None, "location": {"latitude": None}}, headers=as_tenant("t"))
    assert nulls.status_code == 422
    assert sorted(e["field"] for e in nulls.json()["errors"]) == ["location.latitude", "title"]
    siret = await client.patch(url, json={"employer": {"siret": "12345678901234"}}, headers=as_tenant("t"))
    assert [e["field"] for e in siret.json()["errors"]] == ["employer.siret"]
    status = await client.patch(url, json={"status": "filled"}, headers=as_tenant("t"))
    assert [e["field"] for e in status.json()["errors"]] == ["status"]
    assert (await client.get(url, headers=as_tenant("t"))).json() == offer


async def test_patch_closes_reopens_and_resizes(matching):
    _, client, as_tenant = matching
    offer = (await client.post("/api/v1/offers", json=offer_body(), headers=as_tenant("t"))).json()
    url = f"/api/v1/offers/{offer['id']}"
    closed = (await client.patch(url, json={"status": "closed"}, headers=as_tenant("t"))).json()
    assert closed["status"] == "closed"
    still_closed = (await client.patch(url, json={"positions": 5}, headers=as_tenant("t"))).json()
    assert (still_closed["status"], still_closed["positions"], still_closed["open_positions"]) == ("closed", 5, 5)
    reopened = (await client.patch(url, json={"status": "open", "positions": 3}, headers=as_tenant("t"))).json()
    assert (reopened["status"], reopened["open_positions"]) == ("open", 3)


async def test_list_filters_and_cursor(matching):
    _, client, as_tenant = matching
    h = as_tenant("t")
    made = []
    for i in range(5):
        body = offer_body(title=f"Agent de propreté {i}", contract_type="cdi" if i % 2 else "cdd",
                          rome_code="K2204" if i < 3 else "A1203")  # fmt: skip
        made.append((await client.post("/api/v1/offers", json=body, headers=h)).json())
    other = offer_body(title="Cariste", employer={"name": "Logis", "siret": OTHER_SIRET},
                       location={"latitude": 47.6, "longitude": 1.3, "commune_insee": "41269"})  # fmt: skip
    made.append((await client.post("/api/v1/offers", json=other, headers=h)).json())
    await client.patch(f"/api/v1/offers/{made[0]['id']}", json={"status": "closed"}, headers=h)
    await client.post("/api/v1/offers", json=offer_body(title="Agent de propreté X"), headers=as_tenant("other"))

    async def ids(**params) -> list[str]:
        response = await client.get("/api/v1/offers", params=params, headers=h)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    newest_first = [o["id"] for o in reversed(made)]
    assert await ids() == newest_first
    assert set(await ids(q="PROPRETÉ")) == {o["id"] for o in made[:5]}
    assert await ids(q="100%") == []
    assert await ids(employer_siret=OTHER_SIRET) == [made[5]["id"]]
    assert await ids(employer_siret="732 829 320 00074") == newest_first[1:]
    assert set(await ids(rome_code="K2204")) == {o["id"] for o in made[:3]}
    assert set(await ids(contract_type="cdi")) == {made[1]["id"], made[3]["id"]}
    assert await ids(status="closed") == [made[0]["id"]]
    assert await ids(commune_insee="41269") == [made[5]["id"]]
    assert set(await ids(rome_code="K2204", contract_type="cdd", status="open")) == {made[2]["id"]}

    pages, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/offers", params=params, headers=h)).json()
        pages.append([o["id"] for o in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [i for p in pages for i in p] == newest_first

    bad = await client.get("/api/v1/offers", params={"cursor": "nonsense"}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    bad_siret = await client.get("/api/v1/offers", params={"employer_siret": "1"}, headers=h)
    assert bad_siret.status_code == 422 and bad_siret.json()["errors"][0]["field"] == "employer_siret"


async def test_another_tenant_sees_nothing(matching):
    _, client, as_tenant = matching
    offer = (await client.post("/api/v1/offers", json=offer_body(), headers=as_tenant("loir-et-cher"))).json()
    url = f"/api/v1/offers/{offer['id']}"
    assert (await client.get(url, headers=as_tenant("indre"))).status_code == 404
    assert (await client.patch(url, json={"title": "x"}, headers=as_tenant("indre"))).status_code == 404
    assert (await client.get(f"{url}/applications", headers=as_tenant("indre"))).status_code == 404
    assert (await client.get("/api/v1/offers", headers=as_tenant("indre"))).json()["items"] == []
    assert (await client.get(url, headers=as_tenant("loir-et-cher"))).json()["title"] == offer["title"]


async def test_no_identity_is_401(matching):
    _, client, _ = matching
    assert (await client.get("/api/v1/offers")).status_code == 401
    assert (await client.post("/api/v1/offers", json=offer_body())).status_code == 401
