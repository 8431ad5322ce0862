"""Every component's Alembic history goes up to head, all the way down, and up again, on PostgreSQL
and on SQLite (the embedded default): a downgrade that leaves something behind, or an upgrade that
assumes a fresh table, fails here before an operator meets it."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import tremplin_clauses
import tremplin_funding
import tremplin_gateway
import tremplin_matching
import tremplin_participants
from tremplin_shared.migrations import alembic_config

COMPONENTS = {
    module.__name__.removeprefix("tremplin_"): Path(module.__file__).parent / "migrations"
    for module in (tremplin_participants, tremplin_matching, tremplin_clauses, tremplin_funding, tremplin_gateway)
}


async def tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names())) - {"alembic_version"}
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
@pytest.mark.parametrize("component", sorted(COMPONENTS))
async def test_up_down_and_up_again(component, backend, postgres, tmp_path):
    scripts = COMPONENTS[component]
    url = (await postgres.create(f"migrations_{component}") if backend == "postgresql"
           else f"sqlite+aiosqlite:///{tmp_path}/{component}.db")  # fmt: skip
    config = alembic_config(scripts, url)
    await asyncio.to_thread(command.upgrade, config, "head")
    at_head = await tables(url)
    assert at_head, f"{component}: no table at head"
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await tables(url) == set(), f"{component}: tables left after a downgrade to base"
    await asyncio.to_thread(command.upgrade, config, "head")
    assert await tables(url) == at_head
    # one head, each revision reachable from it: no branch was left behind
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, heads
