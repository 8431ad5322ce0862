"""`/api/v1/admin/api-keys`: a tenant admin manages the keys of its own tenant, and only those."""

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.asyncio


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_create_shows_the_key_once_and_it_authenticates(gateway):
    _, admin = await gateway.key(roles=("admin",))
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    created = await gateway.client.post(
        "/api/v1/admin/api-keys",
        json={"name": "SI", "roles": ["referent"], "expires_at": expires, "rate_limit": "600/minute"},
        headers=bearer(admin),
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    body = created.json()
    assert body["tenant"] == "loir-et-cher" and body["roles"] == ["referent"] and body["rate_limit"] == "600/minute"
    assert body["status"] == "active" and body["expires_at"] and body["last_used_at"] is None
    plaintext = body["api_key"]
    # It works (then the service is down), and nothing shows it again.
    assert (await gateway.client.get("/api/v1/participants", headers=bearer(plaintext))).status_code == 503
    one = await gateway.client.get(f"/api/v1/admin/api-keys/{body['id']}", headers=bearer(admin))
    assert one.status_code == 200 and one.json()["last_used_at"] is not None
    listed = await gateway.client.get("/api/v1/admin/api-keys", headers=bearer(admin))
    assert plaintext not in listed.text and plaintext not in one.text
    assert all("api_key" not in k for k in listed.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "roles": ["root"]}, "roles"),
        ({"name": "x", "roles": []}, "roles"),
        ({"name": "", "roles": ["viewer"]}, "name"),
        ({"name": "x", "roles": ["viewer"], "rate_limit": "a lot"}, "rate_limit"),
        ({"name": "x", "roles": ["viewer"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "roles": ["viewer"], "expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # which 00:00?
        ({"name": "x", "roles": ["viewer"], "rate_limit": "9999999/second"}, "rate_limit"),  # above the maximum
        ({"name": "x", "roles": ["viewer"], "rate_limit": "6001/minute"}, "rate_limit"),
        ({"name": "x", "roles": ["viewer"], "rate_limit": "101/second"}, "rate_limit"),
    ],
    ids=[
        "role",
        "no-role",
        "no-name",
        "rate-notation",
        "expired",
        "naive-expiry",
        "rate-huge",
        "rate-above",
        "rate-rate",
    ],
)
async def test_bad_requests_are_422_with_the_field_and_create_nothing(gateway, body, field):
    _, admin = await gateway.key(roles=("admin",))
    response = await gateway.client.post("/api/v1/admin/api-keys", json=body, headers=bearer(admin))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field], response.text
    assert len((await gateway.client.get("/api/v1/admin/api-keys", headers=bearer(admin))).json()) == 1


async def test_revoke_stops_the_key_at_once(gateway):
    _, admin = await gateway.key(roles=("admin",))
    key, plaintext = await gateway.key(roles=("viewer",))
    revoked = await gateway.client.post(f"/api/v1/admin/api-keys/{key.id}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    response = await gateway.client.get("/api/v1/participants", headers=bearer(plaintext))
    assert response.status_code == 401 and response.json()["detail"] == "API key revoked"


async def test_an_admin_cannot_see_nor_touch_another_tenant_keys(gateway):
    _, admin = await gateway.key(tenant="loir-et-cher", roles=("admin",))
    foreign, foreign_plaintext = await gateway.key(tenant="cher", roles=("admin",))
    for method, path in (
        ("GET", f"/api/v1/admin/api-keys/{foreign.id}"),
        ("POST", f"/api/v1/admin/api-keys/{foreign.id}/revoke"),
    ):
        response = await gateway.client.request(method, path, headers=bearer(admin))
        assert response.status_code == 404, (method, path, response.text)
    assert str(foreign.id) not in (await gateway.client.get("/api/v1/admin/api-keys", headers=bearer(admin))).text
    # Still working: the revocation attempt did nothing.
    assert (await gateway.client.get("/api/v1/admin/api-keys", headers=bearer(foreign_plaintext))).status_code == 200
    # A key an admin creates is always of its own tenant, whatever the body says.
    created = await gateway.client.post(
        "/api/v1/admin/api-keys", json={"name": "x", "roles": ["admin"], "tenant": "cher"}, headers=bearer(admin)
    )
    assert created.status_code == 201 and created.json()["tenant"] == "loir-et-cher"


async def test_non_admins_are_403_and_no_key_is_401(gateway):
    _, referent = await gateway.key(roles=("referent", "viewer", "integration"))
    for method, path in (("GET", "/api/v1/admin/api-keys"), ("POST", "/api/v1/admin/api-keys")):
        response = await gateway.client.request(method, path, headers=bearer(referent), json={})
        assert response.status_code == 403
        assert (await gateway.client.request(method, path, json={})).status_code == 401


async def test_the_highest_own_rate_limit_is_the_operators(settings_for, start_gateway):
    async with start_gateway(settings_for(api_key_max_rate_limit="100/minute")) as gw:
        _, admin = await gw.key(roles=("admin",))
        for limit, status in (("100/minute", 201), ("6000/hour", 201), ("101/minute", 422), ("2/second", 422)):
            body = {"name": "x", "roles": ["viewer"], "rate_limit": limit}
            response = await gw.client.post("/api/v1/admin/api-keys", json=body, headers=bearer(admin))
            assert response.status_code == status, (limit, response.text)
        assert "at most 100/minute" in response.json()["detail"]
        # The default maximum keeps the demo key's 6000/minute.
        assert settings_for().api_key_max_rate_limit == "6000/minute"
