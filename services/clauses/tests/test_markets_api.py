"""Markets and lots through the API (SQLite): created together, read, listed, patched; SIRETs checked;
bad input is 422 with field paths and writes nothing; events in the outbox; the calculator."""

import pytest
import sqlalchemy as sa

from tremplin_clauses.adapters.orm import lots, markets
from tremplin_clauses.api.schemas import check_siret
from tremplin_shared.events.clauses import ClauseMarketCreatedV1
from tremplin_shared.messaging.tables import outbox

from .conftest import BUYER_SIRET, CONTRACTOR_SIRET, OTHER_SIRET, lot_body, market_body


async def count(app, table) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def test_a_market_is_created_with_its_lots_and_announced(clauses):
    market = await clauses.market(reference="CD41-2026-017")
    assert market["reference"] == "CD41-2026-017"
    assert market["buyer"] == {"name": "Conseil départemental de Loir-et-Cher", "siret": BUYER_SIRET, "kind": "public"}
    assert [(lot["number"], lot["required_hours"]) for lot in market["lots"]] == [(1, "1000.00"), (2, "500.00")]
    assert market["lots"][0]["contractor"] == {"name": "Bâtiments du Loir", "siret": CONTRACTOR_SIRET}
    assert all(lot["id"] and lot["completed_at"] is None for lot in market["lots"])
    read = await clauses.client.get(f"/api/v1/clauses/markets/{market['id']}", headers=clauses.headers())
    assert read.status_code == 200 and read.json() == market
    async with clauses.app.state.sessionmaker() as session:
        rows = (await session.execute(sa.select(outbox))).all()
    assert [r.event_type for r in rows] == [ClauseMarketCreatedV1.ce_type]
    assert rows[0].topic == "clauses.events" and rows[0].key == market["id"]
    event = ClauseMarketCreatedV1.model_validate_json(rows[0].value)
    assert [str(lot.lot_id) for lot in event.lots] == [lot["id"] for lot in market["lots"]]


async def test_siret_is_checked_and_compacted(clauses):
    bad = market_body(buyer={"name": "Agglopolys", "siret": "20004041800011", "kind": "public"})
    response = await clauses.client.post("/api/v1/clauses/markets", json=bad, headers=clauses.headers())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == ["buyer.siret"]
    bad_lot = market_body(lots=[lot_body(1, contractor={"name": "X", "siret": "123"})])
    response = await clauses.client.post("/api/v1/clauses/markets", json=bad_lot, headers=clauses.headers())
    assert [e["field"] for e in response.json()["errors"]] == ["lots.0.contractor.siret"]
    spaced = market_body(buyer={"name": "Agglopolys", "siret": "200 040 418 00010", "kind": "public"})
    created = await clauses.client.post("/api/v1/clauses/markets", json=spaced, headers=clauses.headers())
    assert created.status_code == 201 and created.json()["buyer"]["siret"] == "20004041800010"


async def test_the_openapi_siret_examples_are_valid_sirets(clauses):
    """/docs fills "Try it out" with these: an example the service refuses is a 422 for a newcomer."""
    schemas = (await clauses.client.get("/openapi.json")).json()["components"]["schemas"]
    examples = {name: schema["properties"]["siret"]["examples"] for name, schema in schemas.items()
                if "examples" in schema.get("properties", {}).get("siret", {})}  # fmt: skip
    assert examples
    for name, values in examples.items():
        for value in values:
            assert check_siret(value) == value, name


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lots": []}, "lots"),
        ({"lots": [lot_body(1, end_date="2025-12-31")]}, "lots.0.end_date"),
        ({"lots": [lot_body(1), lot_body(1)]}, "lots.1.number"),
        ({"lots": [lot_body(1, required_hours="0")]}, "lots.0.required_hours"),
        ({"lots": [lot_body(1, required_hours="12.345")]}, "lots.0.required_hours"),
        ({"buyer": {"name": "X", "siret": BUYER_SIRET, "kind": "mixed"}}, "buyer.kind"),
        ({"reference": ""}, "reference"),
        ({"lots": [lot_body(1, start_date="2026-02-30")]}, "lots.0.start_date"),
    ],
)
async def test_invalid_markets_are_422_with_the_field_and_write_nothing(clauses, change, field):
    response = await clauses.client.post(
        "/api/v1/clauses/markets", json=market_body(**change), headers=clauses.headers()
    )
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    for table in (markets, lots, outbox):
        assert await count(clauses.app, table) == 0


async def test_a_reference_is_unique_in_a_territory(clauses):
    await clauses.market(reference="AGGLO-2026-03")
    again = await clauses.client.post("/api/v1/clauses/markets", json=market_body(reference="AGGLO-2026-03"),
                                      headers=clauses.headers())  # fmt: skip
    assert again.status_code == 409
    assert await count(clauses.app, markets) == 1 and await count(clauses.app, lots) == 2
    await clauses.market("indre", reference="AGGLO-2026-03")  # another territory may use it


async def test_patch_market_and_lot(clauses):
    market = await clauses.market()
    patched = await clauses.client.patch(
        f"/api/v1/clauses/markets/{market['id']}",
        json={
            "title": "Collège Augustin-Thierry — tranche 2",
            "buyer": {"siret": "20004041800010"},
            "legal_basis": None,
        },
        headers=clauses.headers(),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["title"].endswith("tranche 2") and body["legal_basis"] is None
    assert body["buyer"] == {**market["buyer"], "siret": "20004041800010"}
    assert body["lots"] == market["lots"]
    nulls = await clauses.client.patch(f"/api/v1/clauses/markets/{market['id']}", json={"title": None, "buyer": None},
                                       headers=clauses.headers())  # fmt: skip
    assert nulls.status_code == 422 and sorted(e["field"] for e in nulls.json()["errors"]) == ["buyer", "title"]
    lot_id = market["lots"][0]["id"]
    lot = await clauses.client.patch(f"/api/v1/clauses/lots/{lot_id}",
                                     json={"required_hours": "1200.5", "contractor": {"siret": OTHER_SIRET}},
                                     headers=clauses.headers())  # fmt: skip
    assert lot.status_code == 200, lot.text
    assert lot.json()["required_hours"] == "1200.50" and lot.json()["contractor"]["siret"] == OTHER_SIRET
    backwards = await clauses.client.patch(f"/api/v1/clauses/lots/{lot_id}", json={"end_date": "2025-01-01"},
                                           headers=clauses.headers())  # fmt: skip
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "end_date"


async def test_list_markets_by_buyer(clauses):
    await clauses.market()
    agglo = await clauses.market(buyer={"name": "Agglopolys", "siret": "20004041800010", "kind": "public"})
    await clauses.market("indre")
    every = (await clauses.client.get("/api/v1/clauses/markets", headers=clauses.headers())).json()["items"]
    assert len(every) == 2
    only = await clauses.client.get("/api/v1/clauses/markets", params={"buyer_siret": "200 040 418 00010"},
                                    headers=clauses.headers())  # fmt: skip
    assert [m["id"] for m in only.json()["items"]] == [agglo["id"]]
    bad = await clauses.client.get("/api/v1/clauses/markets", params={"buyer_siret": "1"}, headers=clauses.headers())
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "buyer_siret"


async def test_calculator_shows_its_formula(clauses):
    body = {"amount_excl_tax": "1200000", "labour_share": "0.4", "hourly_labour_cost": "32", "clause_rate": "0.07"}
    response = await clauses.client.post("/api/v1/clauses/calculator", json=body, headers=clauses.headers())
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["required_hours"] == 1050 and result["exact_hours"] == "1050.00"
    assert "amount excl. tax × labour share ÷ hourly labour cost × clause rate" in result["formula"]
    assert "1200000 × 0.4 ÷ 32 × 0.07 = 1050.00 → 1050" in result["formula"]
    bad = await clauses.client.post("/api/v1/clauses/calculator", json=body | {"labour_share": "1.5",
                                    "hourly_labour_cost": "0"}, headers=clauses.headers())  # fmt: skip
    assert bad.status_code == 422
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["hourly_labour_cost", "labour_share"]
