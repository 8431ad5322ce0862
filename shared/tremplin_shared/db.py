"""Async SQLAlchemy engines: PostgreSQL (asyncpg) in production, SQLite (aiosqlite) embedded."""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: str) -> None:
    """SQLite creates the file, not its folder (var/ on a fresh checkout)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        ensure_sqlite_directory(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL lets the API, the relay and the consumer read while one of them writes.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def upsert(session: AsyncSession, table: Table, values: dict, key: list[str]) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE, on PostgreSQL and SQLite alike."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(values)
    changes = {c: stmt.excluded[c] for c in values if c not in key}
    await session.execute(stmt.on_conflict_do_update(index_elements=key, set_=changes))


class UtcDateTime(TypeDecorator):
    """A timezone-aware timestamp on every backend (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
