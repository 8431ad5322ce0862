"""Matching end to end, through the gateway on PostgreSQL and the real broker: participants registered
around Blois become ranked candidates for a nearby offer (explained: score = Σ components × weights),
a hire travels back to participants as `placement.hired` and moves the parcours to `employed`, and an
erased participant leaves the ranking."""

import math
import uuid
from datetime import date

import httpx
import pytest

from .test_first_flow import key_for, platform  # noqa: F401  (the module-scoped platform fixture)

BLOIS = (47.5861, 1.3359)
# Three people at increasing distances from the offer (which sits in Blois): same skills, same hours,
# same reach — only proximity separates them, so the order is known in advance.
PEOPLE = {
    "near": (47.5870, 1.3370),  # Blois, a few hundred metres
    "middle": (47.5836, 1.3761),  # Vineuil, about 3 km
    "far": (47.7047, 1.5075),  # Mer, about 18 km
}
SIRET = "73282932000074"


@pytest.fixture
async def gateway(platform):  # noqa: F811
    async with httpx.AsyncClient(base_url=platform.gateway, timeout=10) as client:
        yield client


async def _register(gateway: httpx.AsyncClient, headers: dict, name: str, where: tuple) -> tuple[str, str]:
    body = {"first_name": name.title(), "last_name": "Essai", "birth_date": "1985-06-01", "sex": "F",
            "latitude": where[0], "longitude": where[1], "skills": ["K2204"], "consent_matching": True,
            "driving_licence": True}  # fmt: skip
    created = await gateway.post("/api/v1/participants", json=body, headers=headers)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    today = date.today().isoformat()
    diagnostic = {"made_at": today, "skills": ["K2204"], "wishes": ["K2204"], "max_travel_km": 30,
                  "weekly_hours_wanted": 35, "schedule_exclusions": []}  # fmt: skip
    response = await gateway.post(f"/api/v1/participants/{pid}/diagnostics", json=diagnostic, headers=headers)
    assert response.status_code == 201, response.text
    opened = await gateway.post(
        f"/api/v1/participants/{pid}/parcours", json={"programme": "plie", "oriented_at": today}, headers=headers
    )
    assert opened.status_code == 201, opened.text
    parcours_id = opened.json()["id"]
    for state in ("welcomed", "diagnosed", "supported"):  # a hire moves a supported parcours to employed
        moved = await gateway.post(
            f"/api/v1/parcours/{parcours_id}/transitions", json={"to": state, "at": today}, headers=headers
        )
        assert moved.status_code in (200, 201), moved.text
    return pid, parcours_id


def _check_explanation(item: dict, weights: dict) -> None:
    explanation = item["explanation"]
    components = explanation["components"]
    assert set(components) == {"skills", "proximity", "hours"}
    for name, component in components.items():
        assert component["weight"] == weights[name]
        assert math.isclose(component["contribution"], component["value"] * component["weight"], abs_tol=1e-4)
    total = sum(c["value"] * c["weight"] for c in components.values())
    assert math.isclose(item["score"], total, abs_tol=1e-3)
    assert item["score"] == explanation["score"] and item["distance_km"] == explanation["distance_km"]


async def test_offer_ranking_hire_and_erasure_end_to_end(platform, gateway, wait_for):  # noqa: F811
    tenant = f"matching-{uuid.uuid4().hex[:8]}"
    headers = await key_for(platform, tenant)
    ids, parcours = {}, {}
    for name, where in PEOPLE.items():
        ids[name], parcours[name] = await _register(gateway, headers, name, where)

    offer = {
        "title": "Agent de propreté (H/F)",
        "employer": {"name": "Nettoyage du Blésois", "siret": SIRET},
        "rome_code": "K2204",
        "location": {"latitude": BLOIS[0], "longitude": BLOIS[1], "commune_insee": "41018"},
        "contract_type": "cdi",
        "weekly_hours": 35,
        "positions": 1,
        "start_date": date.today().isoformat(),
    }
    created = await gateway.post("/api/v1/offers", json=offer, headers=headers)
    assert created.status_code == 201, created.text
    offer_id = created.json()["id"]
    candidates_url = f"/api/v1/offers/{offer_id}/candidates"
    expected = [ids["near"], ids["middle"], ids["far"]]

    async def ranked():
        response = await gateway.get(candidates_url, params={"limit": 20}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        return body if [i["participant_id"] for i in body["items"]] == expected else None

    body = await wait_for(ranked, timeout=20)
    assert body, "the candidates never showed up in the expected order"
    items, weights = body["items"], body["weights"]
    assert math.isclose(sum(weights.values()), 1.0)
    for item in items:
        _check_explanation(item, weights)
        assert item["explanation"]["components"]["skills"]["value"] == 1.0
        assert item["explanation"]["components"]["hours"]["value"] == 1.0
        assert item["explanation"]["max_travel_km"] == 30 and not item["explanation"]["max_travel_km_is_default"]
    distances = [i["distance_km"] for i in items]
    assert distances == sorted(distances) and distances[0] < 1 and 2 < distances[1] < 5 and 15 < distances[2] < 22
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1] > scores[2]
    assert "Essai" not in str(body)
    limited = await gateway.get(candidates_url, params={"limit": 1}, headers=headers)
    assert [i["participant_id"] for i in limited.json()["items"]] == expected[:1]

    # the reverse direction: the offer, with the same explanation, for each of them
    for name in PEOPLE:
        response = await gateway.get(f"/api/v1/matching/participants/{ids[name]}/offers", headers=headers)
        assert response.status_code == 200, response.text
        (mine,) = response.json()["items"]
        assert mine["offer_id"] == offer_id
        _check_explanation(mine, weights)
        (theirs,) = [i for i in items if i["participant_id"] == ids[name]]
        assert mine["explanation"] == theirs["explanation"]

    # another territory sees neither the offer nor its candidates
    other = await key_for(platform, f"other-{uuid.uuid4().hex[:8]}")
    assert (await gateway.get(candidates_url, headers=other)).status_code == 404
    foreign = await gateway.get(f"/api/v1/matching/participants/{ids['near']}/offers", headers=other)
    assert foreign.status_code == 404

    # positioned, sent, interviewed, hired — participants hears of it through Kafka
    applied = await gateway.post(
        "/api/v1/applications", json={"participant_id": ids["middle"], "offer_id": offer_id}, headers=headers
    )
    assert applied.status_code == 201, applied.text
    application_id = applied.json()["id"]
    assert applied.json()["state"] == "proposed"
    hire = {"start_date": date.today().isoformat(), "contract_type": "cdi", "weekly_hours": 35}
    for step in ({"to": "sent"}, {"to": "interview"}, {"to": "hired", **hire}):
        moved = await gateway.post(f"/api/v1/applications/{application_id}/transitions", json=step, headers=headers)
        assert moved.status_code in (200, 201), moved.text
        assert moved.json()["state"] == step["to"]
    again = await gateway.post(
        f"/api/v1/applications/{application_id}/transitions", json={"to": "sent"}, headers=headers
    )
    assert again.status_code == 409

    async def employed():
        response = await gateway.get(f"/api/v1/parcours/{parcours['middle']}", headers=headers)
        return response.json()["state"] == "employed"

    assert await wait_for(employed, timeout=20), "placement.hired never moved the parcours to employed"
    for name in ("near", "far"):
        untouched = await gateway.get(f"/api/v1/parcours/{parcours[name]}", headers=headers)
        assert untouched.json()["state"] == "supported"

    # the only position is taken: the offer is filled and ranks nobody
    filled = await gateway.get(f"/api/v1/offers/{offer_id}", headers=headers)
    assert filled.json()["status"] == "filled" and filled.json()["open_positions"] == 0
    assert (await gateway.get(candidates_url, headers=headers)).json()["items"] == []

    # a second offer still ranks the others; erasing one makes them leave the ranking
    second = await gateway.post("/api/v1/offers", json={**offer, "title": "Agent d'entretien (H/F)"}, headers=headers)
    assert second.status_code == 201, second.text
    second_url = f"/api/v1/offers/{second.json()['id']}/candidates"

    async def ranked_ids():
        return [i["participant_id"] for i in (await gateway.get(second_url, headers=headers)).json()["items"]]

    async def ranks_near():
        return ids["near"] in await ranked_ids()

    assert await wait_for(ranks_near, timeout=20)
    erased = await gateway.delete(f"/api/v1/participants/{ids['near']}", headers=headers)
    assert erased.status_code == 204, erased.text

    async def near_gone():
        ranking = await ranked_ids()
        return ids["near"] not in ranking and ids["far"] in ranking and ranking

    assert await wait_for(near_gone, timeout=20), "the erased participant is still ranked"
    gone = await gateway.get(f"/api/v1/matching/participants/{ids['near']}/offers", headers=headers)
    assert gone.status_code == 404
