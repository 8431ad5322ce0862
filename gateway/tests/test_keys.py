"""Key management functions (used by the CLI and `tremplin run`), on a SQLite file."""

import asyncio
import uuid

import pytest
import pytest_asyncio
from sqlalchemy import select

from tremplin_gateway.adapters.orm import tenants
from tremplin_gateway.domain.api_keys import InvalidApiKeyRequest, KeyRejected
from tremplin_gateway.keys import (
    create_api_key,
    ensure_demo_key,
    find_usable_key,
    list_api_keys,
    migrate,
    revoke_api_key,
)
from tremplin_shared.db import make_engine, make_sessionmaker


@pytest.fixture
def database_url(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'gateway.db'}"  # var/ does not exist yet
    migrate(url)
    return url


@pytest_asyncio.fixture
async def sessionmaker(database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.mark.asyncio
async def test_create_makes_the_tenant_once_and_the_key_authenticates(sessionmaker):
    first, plaintext = await create_api_key(sessionmaker, "loir-et-cher", ["admin"], "one", tenant_name="Loir-et-Cher")
    await create_api_key(sessionmaker, "loir-et-cher", ["viewer"], "two")
    async with sessionmaker() as session:
        rows = (await session.execute(select(tenants))).all()
    assert [(r.slug, r.name) for r in rows] == [("loir-et-cher", "Loir-et-Cher")]
    assert (await find_usable_key(sessionmaker, plaintext)).id == first.id
    assert [k.name for k in await list_api_keys(sessionmaker, "loir-et-cher")] == ["one", "two"]
    assert await list_api_keys(sessionmaker, "cher") == []


@pytest.mark.asyncio
async def test_invalid_requests_write_nothing(sessionmaker):
    with pytest.raises(InvalidApiKeyRequest):
        await create_api_key(sessionmaker, "loir-et-cher", ["root"], "x")
    with pytest.raises(InvalidApiKeyRequest):
        await create_api_key(sessionmaker, "Loir et Cher", ["admin"], "x")
    assert await list_api_keys(sessionmaker) == []


@pytest.mark.asyncio
async def test_revoke(sessionmaker):
    key, plaintext = await create_api_key(sessionmaker, "cher", ["funder"], "x")
    revoked = await revoke_api_key(sessionmaker, key.id)
    assert revoked is not None and revoked.revoked_at is not None
    again = await revoke_api_key(sessionmaker, key.id)
    assert again.revoked_at == revoked.revoked_at
    with pytest.raises(KeyRejected, match="revoked"):
        await find_usable_key(sessionmaker, plaintext)
    assert await revoke_api_key(sessionmaker, uuid.uuid4()) is None


def test_the_demo_key_is_kept_while_it_works_and_replaced_otherwise(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    first = ensure_demo_key(url, "loir-et-cher")
    assert ensure_demo_key(url, "loir-et-cher", first) == first
    assert ensure_demo_key(url, "cher", first) != first  # another territory's key does not do
    assert ensure_demo_key(url, "loir-et-cher", "trm_garbage") != first


@pytest.mark.asyncio
async def test_the_same_on_postgresql(postgres):
    """The migrations and the tenant upsert on the production database."""
    url = await postgres.create("gateway")
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    try:
        sessionmaker = make_sessionmaker(engine)
        key, plaintext = await create_api_key(sessionmaker, "loir-et-cher", ["admin"], "one")
        await create_api_key(sessionmaker, "loir-et-cher", ["viewer"], "two")
        assert (await find_usable_key(sessionmaker, plaintext)).roles == ("admin",)
        assert [k.name for k in await list_api_keys(sessionmaker)] == ["one", "two"]
        await revoke_api_key(sessionmaker, key.id)
        with pytest.raises(KeyRejected, match="revoked"):
            await find_usable_key(sessionmaker, plaintext)
    finally:
        await engine.dispose()
