"""Clauses end to end, through the gateway on PostgreSQL and the real broker: a participant registered
in participants is known to clauses by its events; a facilitator registers a market, places the
person, declares and validates hours; a viewer may read but not validate; the report comes as JSON
and CSV through the gateway; another territory sees nothing."""

import csv
import io

import httpx
import pytest

from .test_first_flow import key_for, platform  # noqa: F401  (the module-scoped platform fixture)

PERSON = {"first_name": "Nadia", "last_name": "Essai", "birth_date": "1979-02-11", "sex": "F", "rsa": True,
          "latitude": 47.5861, "longitude": 1.3359, "skills": ["F1703"]}  # fmt: skip
MARKET = {
    "reference": "AGGLO-2026-EV04",
    "title": "Entretien des espaces verts communautaires",
    "buyer": {"name": "Agglopolys", "siret": "20004041800010", "kind": "public"},
    "lots": [{"number": 1, "title": "Secteur Blois-Vineuil", "contractor": {"name": "Paysages du Loir",
              "siret": "73282932000074"}, "required_hours": "400", "start_date": "2026-01-01",
              "end_date": "2026-12-31"}],
}  # fmt: skip


@pytest.fixture
async def gateway(platform):  # noqa: F811
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=10) as client:
        yield client


async def test_the_clause_ledger_through_the_gateway(platform, gateway, wait_for):  # noqa: F811
    facilitator = await key_for(platform, "loir-et-cher", "facilitator")
    viewer = await key_for(platform, "loir-et-cher", "viewer")
    referent = await key_for(platform, "loir-et-cher", "referent")
    indre = await key_for(platform, "indre", "facilitator")
    person = await gateway.post("/api/v1/participants", json=PERSON, headers=referent)
    assert person.status_code == 201, person.text
    pid = person.json()["id"]
    market = await gateway.post("/api/v1/clauses/markets", json=MARKET, headers=facilitator)
    assert market.status_code == 201, market.text
    lot = market.json()["lots"][0]
    body = {"participant_id": pid, "mode": "direct_hire", "contract_type": "cdd", "start_date": "2026-02-02"}

    async def placed():
        response = await gateway.post(f"/api/v1/clauses/lots/{lot['id']}/placements", json=body, headers=facilitator)
        return response if response.status_code == 201 else None

    placement = await wait_for(placed, timeout=20)  # clauses learns of the person from participants' events
    assert placement is not None, "clauses never learnt the participant is clause-eligible"
    assert placement.json()["eligible"] is True
    declared = await gateway.post(f"/api/v1/clauses/lots/{lot['id']}/hours",
                                  json={"participant_id": pid, "month": "2026-03", "hours": "151.67"},
                                  headers=facilitator)  # fmt: skip
    assert declared.status_code == 201, declared.text
    entry = declared.json()["id"]
    refused = await gateway.post(f"/api/v1/clauses/hours/{entry}/validate", headers=viewer)
    assert refused.status_code == 403
    assert (await gateway.get(f"/api/v1/clauses/hours/{entry}", headers=viewer)).json()["status"] == "declared"
    validated = await gateway.post(f"/api/v1/clauses/hours/{entry}/validate", headers=facilitator)
    assert validated.status_code == 200, validated.text

    params = {"from": "2026-01-01", "to": "2026-12-31"}
    report = await gateway.get("/api/v1/clauses/reports", params=params, headers=viewer)
    assert report.status_code == 200, report.text
    assert (report.json()["validated_hours"], report.json()["participants"]) == ("151.67", 1)
    assert report.json()["participants_by_sex"]["F"] == 1  # sex travels in participant.profile_changed
    as_csv = await gateway.get("/api/v1/clauses/reports", params=params, headers=viewer | {"Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = {(r["indicator"], r["breakdown"]): r["value"] for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert rows[("validated_hours", "")] == "151.67"
    progress = await gateway.get(f"/api/v1/clauses/markets/{market.json()['id']}/progress",
                                 params={"on": "2026-07-02"}, headers=viewer)  # fmt: skip
    assert progress.json()["total"]["behind"] is True  # 151.67 < 80 % of 200

    for url in (f"/api/v1/clauses/markets/{market.json()['id']}", f"/api/v1/clauses/hours/{entry}"):
        assert (await gateway.get(url, headers=indre)).status_code == 404
    other = (await gateway.get("/api/v1/clauses/reports", params=params, headers=indre)).json()
    assert other["validated_hours"] == "0.00"
