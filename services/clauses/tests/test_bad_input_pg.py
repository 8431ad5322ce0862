"""Bad input on every write route, on PostgreSQL: always a 4xx problem+json, never a 5xx, nothing
written. Values a fuzzer would send: wrong types, nulls, NUL characters, extreme dates and numbers."""

import itertools

import sqlalchemy as sa

from tremplin_clauses.adapters.orm import hours_entries, lots, markets, placements

from .conftest import lot_body, market_body

JUNK = [None, "", "\x00", "a\x00b", -1, 0, 10**30, 1e308, "NaN", "Infinity", "1e-1000", [], {}, True, "9999-12-31",
        "0001-01-01", "2026-02-30", "x" * 5000, {"$ne": 1}]  # fmt: skip


async def count(app, *tables) -> int:
    async with app.state.sessionmaker() as session:
        total = 0
        for table in tables:
            total += (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
        return total


async def test_junk_never_breaks_a_route(clauses_pg):
    clauses = clauses_pg
    market = await clauses.market()
    lot = market["lots"][0]
    pid = await clauses.participant()
    await clauses.place(lot["id"], pid)
    entry = (await clauses.declare(lot["id"], pid, "2026-03", 10)).json()
    before = await count(clauses.app, markets, lots, placements, hours_entries)
    good = {
        ("POST", "/api/v1/clauses/markets"): market_body(),
        ("PATCH", f"/api/v1/clauses/markets/{market['id']}"): {"title": "t", "reference": "r"},
        ("PATCH", f"/api/v1/clauses/lots/{lot['id']}"): {"title": "t", "required_hours": "10"},
        ("POST", "/api/v1/clauses/calculator"): {"amount_excl_tax": "1", "labour_share": "0.5",
                                                 "hourly_labour_cost": "30", "clause_rate": "0.1"},
        ("POST", f"/api/v1/clauses/lots/{lot['id']}/placements"): {"participant_id": pid, "mode": "direct_hire",
                                                                   "contract_type": "cdi", "start_date": "2026-01-01",
                                                                   "override_reason": "r"},
        ("POST", f"/api/v1/clauses/lots/{lot['id']}/hours"): {"participant_id": pid, "month": "2026-04", "hours": "1"},
        ("POST", f"/api/v1/clauses/hours/{entry['id']}/reject"): {"reason": "r"},
    }  # fmt: skip
    statuses = set()
    for (method, url), body in good.items():
        for field, junk in itertools.product(list(body), JUNK):
            sent = {**body, field: junk}
            if method == "POST" and url.endswith("/markets") and field == "lots":
                sent = {**body, "lots": [lot_body(1, start_date=junk if isinstance(junk, str) else "2026-01-01")]}
            response = await clauses.client.request(method, url, json=sent, headers=clauses.facilitator())
            statuses.add(response.status_code)
            assert response.status_code < 500, (method, url, field, junk, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")
    reports = [{"from": "9999-12-31", "to": "9999-12-31"}, {"from": "0001-01-01", "to": "9999-12-31"}, {"from": "x"},
               {"from": "2026-01-01", "to": "2026-12-31", "as_of": "9999-12-31"}]  # fmt: skip
    for params in reports:
        response = await clauses.client.get("/api/v1/clauses/reports", params=params, headers=clauses.headers())
        assert response.status_code < 500, (params, response.text)
    for params in ({"on": "9999-12-31"}, {"on": "0001-01-01"}, {"on": "junk"}):
        for url in (
            f"/api/v1/clauses/markets/{market['id']}/progress",
            f"/api/v1/clauses/markets/{market['id']}/report",
        ):
            assert (await clauses.client.get(url, params=params, headers=clauses.headers())).status_code < 500
    for params in ({"month": "bad"}, {"month": "2026-03"}, {"status": "maybe"}, {"month": "9999-12"}):
        response = await clauses.client.get(f"/api/v1/clauses/lots/{lot['id']}/hours", params=params,
                                            headers=clauses.headers())  # fmt: skip
        assert response.status_code < 500, (params, response.text)
    for params in ({"offset": 10**20}, {"limit": 0}, {"buyer_siret": "\x00"}):
        response = await clauses.client.get("/api/v1/clauses/markets", params=params, headers=clauses.headers())
        assert response.status_code == 422, (params, response.text)
    assert 422 in statuses
    # Junk that happened to be valid created at most a market per valid variant; nothing else half-written.
    async with clauses.app.state.sessionmaker() as session:
        orphans = await session.execute(
            sa.select(sa.func.count()).select_from(markets).where(~sa.exists().where(lots.c.market_id == markets.c.id))
        )
    assert orphans.scalar_one() == 0
    assert await count(clauses.app, placements) == 1 and before > 0


async def test_a_lot_that_ends_in_9999_reports_without_breaking(clauses_pg):
    clauses = clauses_pg
    market = await clauses.market(lots=[lot_body(1, start_date="9999-11-01", end_date="9999-12-31")])
    lot = market["lots"][0]
    pid = await clauses.participant()
    await clauses.place(lot["id"], pid, start_date="9999-11-02")
    entry = (await clauses.declare(lot["id"], pid, "9999-12", 10)).json()
    assert (await clauses.validate(entry["id"])).status_code == 200
    report = await clauses.client.get("/api/v1/clauses/reports", params={"from": "9999-01-01", "to": "9999-12-31"},
                                      headers=clauses.headers())  # fmt: skip
    assert report.status_code == 200, report.text
    assert report.json()["outcomes"]["after_6_months"]["measured"] == 0
