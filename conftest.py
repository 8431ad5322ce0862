"""Fixtures for the whole suite: a real broker (Tansu) and real PostgreSQL databases."""

import asyncio
import os
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tremplin_shared.embedded_broker import EmbeddedBroker, free_port

PG_SERVER = os.environ.get("TREMPLIN_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def broker():
    """One broker for the session, on a free port so `make run` can keep 9092."""
    embedded = EmbeddedBroker(port=free_port()).start()
    yield embedded
    embedded.stop()


@pytest.fixture
def own_broker():
    """A broker of the test's own, for tests that stop and restart it."""
    embedded = EmbeddedBroker(port=free_port()).start()
    yield embedded
    embedded.stop()


class PostgresDatabases:
    def __init__(self) -> None:
        self.created: list[str] = []
        self.admin = create_async_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")

    async def create(self, prefix: str) -> str:
        name = f"test_{prefix}_{uuid.uuid4().hex[:10]}"
        async with self.admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return f"{PG_SERVER}/{name}"

    async def drop_all(self) -> None:
        async with self.admin.connect() as conn:
            for name in self.created:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await self.admin.dispose()


@pytest.fixture(scope="session")
async def postgres():
    databases = PostgresDatabases()
    yield databases
    await databases.drop_all()


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll an async check until it returns something truthy; the last value otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(interval)


@pytest.fixture
def wait_for():
    return eventually
