"""Alembic, applied at start. Each service keeps its own history; env.py calls `run_env`."""

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from .db import ensure_sqlite_directory, is_sqlite


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(script_location: Path, database_url: str) -> None:
    ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(script_location, database_url), "head")


def run_env(target_metadata: MetaData | list[MetaData]) -> None:
    """Body of every service's migrations/env.py (online and offline modes)."""
    url = context.config.get_main_option("sqlalchemy.url")
    options = {"target_metadata": target_metadata, "render_as_batch": is_sqlite(url)}
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def _run(connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def _online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(_run)
        await engine.dispose()

    asyncio.run(_online())
