"""Migration 0008 on PostgreSQL: the hours entered before it take their placement's mode and contract
type, and a downgrade then upgrade gives them back the same."""

import asyncio

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from tremplin_clauses.adapters.orm import hours_entries
from tremplin_clauses.config import Settings
from tremplin_clauses.main import build_spec
from tremplin_shared.migrations import alembic_config

from .conftest import start


async def test_entries_before_the_migration_take_their_placements_mode_and_contract(postgres):
    url = await postgres.create("clauses")
    clauses, ctx = await start(Settings(database_url=url, run_background_workers=False))
    try:
        lot = (await clauses.market())["lots"][0]
        people = [await clauses.participant(eligible=True) for _ in range(2)]
        await clauses.place(lot["id"], people[0], mode="temp_work_etti", contract_type="interim")
        await clauses.place(lot["id"], people[1], mode="secondment_geiq", contract_type="professionalisation")
        for pid in people:
            assert (await clauses.declare(lot["id"], pid, "2026-03", 70)).status_code == 201
    finally:
        await clauses.client.aclose()
        await ctx.__aexit__(None, None, None)
    config = alembic_config(build_spec().migrations, url)
    await asyncio.to_thread(command.downgrade, config, "0007")
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            columns = {r[0] for r in await conn.execute(sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'hours_entries'"))}  # fmt: skip
        assert "mode" not in columns and "contract_type" not in columns
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(hours_entries.c.participant_id, hours_entries.c.mode,
                                                 hours_entries.c.contract_type))).all()  # fmt: skip
    finally:
        await engine.dispose()
    assert sorted((str(pid), mode, ct) for pid, mode, ct in rows) == sorted([
        (people[0], "temp_work_etti", "interim"), (people[1], "secondment_geiq", "professionalisation")])  # fmt: skip
