"""Rate limits per key (memory and Redis storage) and failed authentications per address."""

import asyncio
import time
import uuid

import pytest

from tremplin_gateway.keys import create_api_key, revoke_api_key

from .conftest import closed_url

pytestmark = pytest.mark.asyncio

REDIS = "redis://127.0.0.1:6379/0"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(params=["memory", "redis"])
def storage(request, settings_for):
    """Settings builder for one storage; Redis keys under a prefix of this test only."""
    if request.param == "memory":
        return settings_for
    prefix = f"test-{uuid.uuid4().hex}"
    return lambda **overrides: settings_for(redis_url=REDIS, rate_limit_key_prefix=prefix, **overrides)


async def test_the_default_limit_per_key_then_429_with_retry_after(storage, start_gateway):
    async with start_gateway(storage(rate_limit_default="5/minute")) as gw:
        _, first = await gw.key()
        _, second = await gw.key()
        statuses = [(await gw.client.get("/api/v1/participants", headers=bearer(first))).status_code for _ in range(6)]
        assert statuses == [503] * 5 + [429]
        limited = await gw.client.get("/api/v1/participants", headers=bearer(first))
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        body = limited.json()
        assert body["status"] == 429 and body["limit"] == "5 per 1 minute"
        # Another key has its own count.
        assert (await gw.client.get("/api/v1/participants", headers=bearer(second))).status_code == 503


async def test_a_key_with_its_own_limit(storage, start_gateway):
    async with start_gateway(storage(rate_limit_default="2/minute")) as gw:
        _, generous = await create_api_key(gw.app.state.sessionmaker, "cher", ["referent"], "x", rate_limit="4/minute")
        statuses = [
            (await gw.client.get("/api/v1/participants", headers=bearer(generous))).status_code for _ in range(5)
        ]
        assert statuses == [503] * 4 + [429]


async def test_the_window_moves_on(storage, start_gateway):
    # No retries of the closed upstream: the three requests must fit in one second, even on a busy machine.
    async with start_gateway(storage(rate_limit_default="2/second", upstream_retries=0)) as gw:
        _, key = await gw.key()
        # Windows are whole seconds of the clock: a burst that straddled two would count only the
        # share of the first still overlapping, and its third request could pass. Start it at the top.
        await asyncio.sleep(1 - time.time() % 1)
        for _ in range(2):
            assert (await gw.client.get("/api/v1/participants", headers=bearer(key))).status_code == 503
        limited = await gw.client.get("/api/v1/participants", headers=bearer(key))
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        await asyncio.sleep(2.1)  # a whole window later: nothing of the burst is left
        assert (await gw.client.get("/api/v1/participants", headers=bearer(key))).status_code == 503


async def test_failed_authentications_are_limited_per_address_and_credential(storage, start_gateway):
    async with start_gateway(storage(rate_limit_auth_failures="3/minute")) as gw:
        _, good = await gw.key()
        forged = "trm_0123456789ab_" + "x" * 43
        statuses = [(await gw.client.get("/api/v1/participants", headers=bearer(forged))).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        limited = await gw.client.get("/api/v1/participants", headers=bearer(forged))
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        # Another secret with the same prefix is the same credential for the count.
        other_secret = "trm_0123456789ab_" + "y" * 43
        assert (await gw.client.get("/api/v1/participants", headers=bearer(other_secret))).status_code == 429
        # A key that authenticates is not refused for the failures of another behind the same address.
        assert (await gw.client.get("/api/v1/participants", headers=bearer(good))).status_code == 503


async def test_one_territory_retrying_a_revoked_key_does_not_lock_out_the_others(storage, start_gateway):
    # Behind one NAT or TLS proxy: every territory's system has the same client address.
    settings = storage(rate_limit_auth_failures="3/minute", rate_limit_auth_failures_per_address="6/minute")
    async with start_gateway(settings) as gw:
        revoked, revoked_plaintext = await gw.key(tenant="cher")
        _, other_territory = await gw.key(tenant="loir-et-cher")
        await revoke_api_key(gw.app.state.sessionmaker, revoked.id)
        retries = [
            (await gw.client.get("/api/v1/participants", headers=bearer(revoked_plaintext))).status_code
            for _ in range(10)
        ]
        assert retries == [401] * 3 + [429] * 7  # refusals are not counted: the address total stays at 3
        assert (await gw.client.get("/api/v1/participants", headers=bearer(other_territory))).status_code == 503
        # A credential failing for the first time is 401 — until the address as a whole is over its limit.
        others = [f"trm_{n:012x}_" + "z" * 43 for n in range(4)]
        statuses = [(await gw.client.get("/api/v1/participants", headers=bearer(k))).status_code for k in others]
        assert statuses == [401, 401, 401, 429]
        assert (await gw.client.get("/api/v1/participants", headers=bearer("garbage"))).status_code == 429
        # Still never a valid key.
        assert (await gw.client.get("/api/v1/participants", headers=bearer(other_territory))).status_code == 503


async def test_requests_without_a_key_do_not_count_as_failures(storage, start_gateway):
    async with start_gateway(storage(rate_limit_auth_failures="2/minute")) as gw:
        _, good = await gw.key()
        for _ in range(4):
            assert (await gw.client.get("/api/v1/participants")).status_code == 401
        assert (await gw.client.get("/api/v1/participants", headers=bearer(good))).status_code == 503


async def test_redis_down_lets_requests_through(settings_for, start_gateway):
    settings = settings_for(redis_url="redis" + closed_url()[4:] + "/0", rate_limit_default="1/minute")
    async with start_gateway(settings) as gw:
        _, key = await gw.key()
        for _ in range(3):
            assert (await gw.client.get("/api/v1/participants", headers=bearer(key))).status_code == 503
