"""The API key cache: no database read per request; revocation here at once, elsewhere within the TTL."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tremplin_gateway.adapters.orm import api_keys
from tremplin_gateway.keys import revoke_api_key

pytestmark = pytest.mark.asyncio


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_revocation_through_the_admin_api_is_immediate(settings_for, start_gateway):
    async with start_gateway(settings_for(api_key_cache_seconds=60)) as gw:
        _, admin = await gw.key(roles=("admin",))
        key, plaintext = await gw.key(roles=("viewer",))
        assert (await gw.client.get("/api/v1/offers", headers=bearer(plaintext))).status_code == 503  # cached
        await gw.client.post(f"/api/v1/admin/api-keys/{key.id}/revoke", headers=bearer(admin))
        assert (await gw.client.get("/api/v1/offers", headers=bearer(plaintext))).status_code == 401


async def test_revocation_elsewhere_applies_within_the_ttl(settings_for, start_gateway):
    async with start_gateway(settings_for(api_key_cache_seconds=0.5)) as gw:
        key, plaintext = await gw.key(roles=("viewer",))
        assert (await gw.client.get("/api/v1/offers", headers=bearer(plaintext))).status_code == 503
        await revoke_api_key(gw.app.state.sessionmaker, key.id)  # as the CLI does
        assert (await gw.client.get("/api/v1/offers", headers=bearer(plaintext))).status_code == 503
        await asyncio.sleep(0.6)
        assert (await gw.client.get("/api/v1/offers", headers=bearer(plaintext))).status_code == 401


async def test_a_cached_key_still_expires_on_time(settings_for, start_gateway):
    async with start_gateway(settings_for(api_key_cache_seconds=60)) as gw:
        key, plaintext = await gw.key(roles=("viewer",))
        async with gw.app.state.sessionmaker() as session:
            soon = datetime.now(UTC) + timedelta(seconds=0.5)
            await session.execute(api_keys.update().where(api_keys.c.id == key.id).values(expires_at=soon))
            await session.commit()
        gw.app.state.authenticator._cache.clear()
        assert (await gw.client.get("/api/v1/offers", headers=bearer(plaintext))).status_code == 503
        await asyncio.sleep(0.6)
        response = await gw.client.get("/api/v1/offers", headers=bearer(plaintext))
        assert response.status_code == 401 and response.json()["detail"] == "API key expired"
