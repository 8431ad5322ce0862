"""Fresh databases for a benchmark, at the head of their services' migrations, dropped at the end."""

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from types import ModuleType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tremplin_shared.migrations import upgrade_to_head

PG_SERVER = os.environ.get("TREMPLIN_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432")


@contextlib.asynccontextmanager
async def fresh_databases(kind: str, workdir: Path, packages: dict[str, ModuleType], prefix: str = "bench"):
    """One database per `packages` entry (name → the service's package, whose migrations it gets):
    SQLite files in `workdir`, or PostgreSQL databases on PG_SERVER. Yields name → URL."""
    suffix = uuid.uuid4().hex[:8]
    names = {name: f"{prefix}_{name}_{suffix}" for name in packages}
    admin = None
    if kind == "sqlite":
        urls = {name: f"sqlite+aiosqlite:///{workdir / f'{db}.db'}" for name, db in names.items()}
    else:
        admin = create_async_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            for db in names.values():
                await conn.execute(text(f'CREATE DATABASE "{db}"'))
        urls = {name: f"{PG_SERVER}/{db}" for name, db in names.items()}
    try:
        for name, package in packages.items():
            await asyncio.to_thread(upgrade_to_head, Path(package.__file__).parent / "migrations", urls[name])
        yield urls
    finally:
        if admin is not None:
            async with admin.connect() as conn:
                for db in names.values():
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            await admin.dispose()
