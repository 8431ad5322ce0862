"""The PostgreSQL engine's pool: connections idle for a while are checked before use, busy ones are not."""

import pytest
from sqlalchemy import text

from tremplin_shared import db


@pytest.fixture
async def url(postgres):
    return await postgres.create("pool")


@pytest.fixture
async def engine(url):
    engine = db.make_engine(url)
    yield engine
    await engine.dispose()


async def backend_pid(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_killed_while_idle_is_replaced_before_use(url, engine, monkeypatch):
    pid = await backend_pid(engine)
    admin = db.make_engine(url)
    async with admin.connect() as conn:  # the server ends the pooled connection (restart, idle timeout)
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await admin.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # the pooled connection counts as idle
    assert await backend_pid(engine) != pid  # no error: the ping found it dead, the pool reconnected


async def test_a_connection_used_a_moment_ago_is_not_pinged(engine, monkeypatch):
    pings = []
    real_ping = engine.sync_engine.dialect.do_ping
    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    pid = await backend_pid(engine)
    assert await backend_pid(engine) == pid and pings == []
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert await backend_pid(engine) == pid and len(pings) == 1
