"""The demo territory loads through the gateway like any départemental platform, reproducibly."""

import asyncio
import math
from datetime import date

import httpx
from stdnum.fr import siret

from tremplin_cli.demo import COMMUNES, ROME_CODES, demo_offers, demo_people, seed

from .test_first_flow import key_for, platform  # noqa: F401  (the module-scoped platform fixture)


def test_demo_people_are_reproducible_and_live_in_real_communes():
    today = date(2026, 11, 25)
    first, again = demo_people(20, today), demo_people(20, today)
    assert first == again  # fixed seed
    insee = {c.insee for c in COMMUNES}
    assert all(p["commune_insee"] in insee and p["commune_insee"].startswith("41") for p in first)
    assert len({(p["first_name"], p["last_name"]) for p in first}) > 15


def test_demo_offers_are_reproducible_with_valid_sirets_around_real_communes():
    today = date(2026, 11, 25)
    offers = demo_offers(40, today)
    assert offers == demo_offers(40, today)
    insee = {c.insee for c in COMMUNES}
    assert all(siret.is_valid(o["employer"]["siret"]) for o in offers)
    assert all(o["location"]["commune_insee"] in insee and o["rome_code"] in ROME_CODES for o in offers)
    assert len({o["employer"]["siret"] for o in offers}) > 15
    assert len({o["contract_type"] for o in offers}) >= 4
    assert any(o["requirements"]["driving_licence"] for o in offers)
    assert all(any(o["schedule"][s] for o in offers) for s in ("night", "weekend", "early"))


async def test_the_demo_loads_through_the_gateway(platform, wait_for):  # noqa: F811
    headers = await key_for(platform, "demo-check", "admin")
    key = headers["Authorization"].removeprefix("Bearer ")
    created = await asyncio.to_thread(seed, platform.gateway, key, 12, None, 15)
    assert created == 12
    async with httpx.AsyncClient(base_url=platform.gateway, headers=headers, timeout=10) as client:
        listed = (await client.get("/api/v1/participants", params={"limit": 50})).json()
        assert len(listed["items"]) == 12
        parcours = (await client.get(f"/api/v1/participants/{listed['items'][0]['id']}/parcours")).json()
        assert len(parcours) >= 1 or len(parcours.get("items", [])) >= 1
        offers = (await client.get("/api/v1/offers", params={"limit": 100})).json()["items"]
        assert len(offers) == 15 and all(siret.is_valid(o["employer"]["siret"]) for o in offers)

        async def some_offer_ranks_candidates():
            for offer in offers:
                ranked = (await client.get(f"/api/v1/offers/{offer['id']}/candidates")).json()["items"]
                if ranked:
                    return ranked
            return None

        ranked = await wait_for(some_offer_ranks_candidates, timeout=15)
        assert ranked, "no demo offer ranks any demo candidate"
        for item in ranked:
            components = item["explanation"]["components"].values()
            assert math.isclose(item["score"], sum(c["value"] * c["weight"] for c in components), abs_tol=1e-3)
        today = date.today().isoformat()
        funnel = (await client.get("/api/v1/matching/funnel", params={"from": today, "to": today})).json()
        assert funnel["offers_created"] == 15 and funnel["hires"] >= 1, funnel

        # a hired demo application moves the person's parcours to employed (placement.hired, via Kafka)
        hired = []
        for person in listed["items"]:
            url = f"/api/v1/matching/participants/{person['id']}/applications"
            response = (await client.get(url)).json()
            applications = response if isinstance(response, list) else response["items"]
            hired += [person["id"] for a in applications if a["state"] == "hired"]
        assert len(hired) == funnel["hires"]

        async def employed(participant_id: str):
            body = (await client.get(f"/api/v1/participants/{participant_id}/parcours")).json()
            return any(p["state"] == "employed" for p in (body if isinstance(body, list) else body["items"]))

        for participant_id in hired:
            assert await wait_for(lambda participant_id=participant_id: employed(participant_id), timeout=15)

        # the Boost Jeunes aid: a demo funder approved the earlier months' payments, paid since; last
        # month's three (one per beneficiary) wait for a funder
        (scheme,) = [s for s in (await client.get("/api/v1/funding/aid-schemes")).json()["items"]
                     if s["name"] == "Boost Jeunes"]  # fmt: skip
        beneficiaries = (await client.get(f"/api/v1/funding/aid-schemes/{scheme['id']}/beneficiaries")).json()
        statuses = sorted(p["status"] for b in beneficiaries["items"] for p in b["payments"])
        assert statuses == ["paid"] * 3 + ["prepared"] * 3, statuses
