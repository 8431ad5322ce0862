"""The demo territory loads through the gateway like any départemental platform, reproducibly."""

import asyncio
from datetime import date

import httpx

from tremplin_cli.demo import COMMUNES, demo_people, seed

from .test_first_flow import key_for, platform  # noqa: F401  (the module-scoped platform fixture)


def test_demo_people_are_reproducible_and_live_in_real_communes():
    today = date(2026, 11, 25)
    first, again = demo_people(20, today), demo_people(20, today)
    assert first == again  # fixed seed
    insee = {c.insee for c in COMMUNES}
    assert all(p["commune_insee"] in insee and p["commune_insee"].startswith("41") for p in first)
    assert len({(p["first_name"], p["last_name"]) for p in first}) > 15


async def test_the_demo_loads_through_the_gateway(platform, wait_for):  # noqa: F811
    headers = await key_for(platform, "demo-check", "admin")
    key = headers["Authorization"].removeprefix("Bearer ")
    created = await asyncio.to_thread(seed, platform.gateway, key, 12)
    assert created == 12
    async with httpx.AsyncClient(base_url=platform.gateway, headers=headers, timeout=10) as client:
        listed = (await client.get("/api/v1/participants", params={"limit": 50})).json()
        assert len(listed["items"]) == 12
        parcours = (await client.get(f"/api/v1/participants/{listed['items'][0]['id']}/parcours")).json()
        assert len(parcours) >= 1 or len(parcours.get("items", [])) >= 1
