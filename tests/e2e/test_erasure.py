"""Erasure end to end, through the gateway on PostgreSQL and the real broker: after DELETE, the
participant answers 410 and matching, clauses and funding forget the person within seconds."""

import uuid

import httpx
import pytest
from stdnum.fr import nir as stdnum_nir

from .test_first_flow import CAMILLE, key_for, platform  # noqa: F401  (the module-scoped platform fixture)

NIR_BODY = "2840341018123"
NIR = NIR_BODY + stdnum_nir.calc_check_digits(NIR_BODY)


@pytest.fixture
async def gateway(platform):  # noqa: F811
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=10) as client:
        yield client


async def test_erasure_propagates_to_every_service(platform, gateway, wait_for):  # noqa: F811
    tenant = f"erasure-{uuid.uuid4().hex[:8]}"
    headers = await key_for(platform, tenant)
    body = {**CAMILLE, "nir": NIR, "email": "camille@example.org", "commune_insee": "41018", "rsa": True,
            "consent_matching": True}  # fmt: skip
    created = await gateway.post("/api/v1/participants", json=body, headers=headers)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    assert NIR not in created.text
    candidate_url = f"/api/v1/matching/candidates/{pid}"

    async def profile_known():
        response = await gateway.get(candidate_url, headers=headers)
        return response.status_code == 200 and response.json()["flags"] is not None and response.json()

    candidate = await wait_for(profile_known, timeout=15)
    assert candidate, "matching never received the profile"
    assert candidate["consent_matching"] is True and candidate["flags"]["rsa"] is True
    assert candidate["commune_insee"] == "41018"

    async def known(service: str, count: int):
        response = await gateway.get(f"/api/v1/{service}/overview", headers=headers)
        return response.json()["known_participants"] == count

    assert await wait_for(lambda: known("clauses", 1), timeout=15)
    assert await wait_for(lambda: known("funding", 1), timeout=15)

    # another territory cannot erase it
    other = await key_for(platform, f"other-{uuid.uuid4().hex[:8]}")
    assert (await gateway.delete(f"/api/v1/participants/{pid}", headers=other)).status_code == 404

    erased = await gateway.delete(f"/api/v1/participants/{pid}", headers=headers)
    assert erased.status_code == 204, erased.text

    async def candidate_gone():
        return (await gateway.get(candidate_url, headers=headers)).status_code == 404

    assert await wait_for(candidate_gone, timeout=15), "matching still holds the erased participant"
    assert await wait_for(lambda: known("clauses", 0), timeout=15)
    assert await wait_for(lambda: known("funding", 0), timeout=15)

    gone = await gateway.get(f"/api/v1/participants/{pid}", headers=headers)
    assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
    assert "Camille" not in gone.text
    listed = await gateway.get("/api/v1/participants", headers=headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
    log = await gateway.get(f"/api/v1/participants/{pid}/access-log", headers=headers)
    assert [e["action"] for e in log.json()["items"]] == ["erase"]
    # the NIR may be registered again in the territory: the person is gone
    again = await gateway.post("/api/v1/participants", json=body, headers=headers)
    assert again.status_code == 201
