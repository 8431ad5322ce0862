"""Async SQLAlchemy engines: PostgreSQL (asyncpg) in production, SQLite (aiosqlite) embedded."""

import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic_core import from_json, to_json
from sqlalchemy import JSON, DateTime, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeDecorator


def json_text(value) -> str:
    """A JSON column's value as compact JSON text: pydantic's serialiser, a fifth of `json.dumps`' time
    on the rows the services write (event headers, skills lists, flags)."""
    return to_json(value).decode()


# JSON columns are read back with pydantic's parser too: the relay reads every event's headers.
# hide_parameters: a database error's message (logged, dead-lettered) never carries the statement's
# values, which are names, addresses, hashes of people.
_JSON = {"json_serializer": json_text, "json_deserializer": from_json, "hide_parameters": True}


def describe_error(exc: BaseException) -> str:
    """An error as it may be logged or dead-lettered. A database error by its kind, SQLSTATE, constraint
    and statement only: the server's own message quotes values (a unique violation's detail shows the
    row's key), which are people's data."""
    if not isinstance(exc, DBAPIError):
        return f"{type(exc).__name__}: {exc}"
    cause = exc.orig.__cause__ or exc.orig
    parts = [type(cause).__name__, f"SQLSTATE {getattr(exc.orig, 'sqlstate', None) or '?'}"]
    if constraint := getattr(cause, "constraint_name", None):
        parts.append(f"constraint {constraint}")
    return f"{', '.join(parts)} on: {' '.join((exc.statement or '').split())[:300]}"


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
        engine = create_async_engine(url, connect_args={"timeout": 30}, **_JSON)

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
    engine = create_async_engine(url, pool_size=10, max_overflow=10, **_JSON)
    _ping_when_idle(engine)
    return engine


# A connection back from a transaction a moment ago is alive; one that sat in the pool may have been
# closed by the server (restart, idle timeout). pool_pre_ping checks at every checkout — with asyncpg
# three round trips (BEGIN, a statement, ROLLBACK), as many as a registration's own statements — so
# only connections idle for longer than this are checked.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool drops this connection and checks out another one
            raise DisconnectionError("connection lost while idle in the pool") from exc


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


@dataclass(frozen=True)
class BulkInsert:
    """PostgreSQL: many rows in ONE statement, one array parameter per column, `unnest`ed —
    `INSERT INTO t (a, b) SELECT u.a, u.b FROM unnest(:a, :b) AS u(a, b)` + `suffix` (ON CONFLICT…,
    RETURNING…). asyncpg encodes the arrays in binary, so the cost per row is a few list appends, not
    the per-row parameter processing of an executemany. JSON columns travel as text and are cast.
    Callers keep their executemany for SQLite (see `is_postgresql`)."""

    statement: TextClause
    columns: tuple[str, ...]
    json_columns: frozenset[str]

    def params(self, rows: Iterable[dict]) -> dict[str, list]:
        """The rows (dicts holding at least `columns`) as one list per column."""
        arrays: dict[str, list] = {c: [] for c in self.columns}
        appenders = [(c, arrays[c].append, c in self.json_columns) for c in self.columns]
        dumps = json_text
        for row in rows:
            for column, append, is_json in appenders:
                append(dumps(row[column]) if is_json else row[column])
        return arrays

    async def execute(self, session: AsyncSession, rows: Iterable[dict]):
        return await session.execute(self.statement, self.params(rows))


@functools.cache
def bulk_insert(table: Table, columns: Sequence[str], suffix: str = "") -> BulkInsert:
    """The `BulkInsert` of these columns of `table`, built once (`columns` a tuple)."""
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    json_columns = frozenset(c for c in columns if isinstance(table.c[c].type, JSON))
    arrays, selected = [], []
    for c in columns:
        array_type = "TEXT" if c in json_columns else table.c[c].type.compile(dialect=dialect)
        arrays.append(f"CAST(:{c} AS {array_type}[])")
        selected.append(f"CAST(u.{quote(c)} AS JSON)" if c in json_columns else f"u.{quote(c)}")
    names = ", ".join(map(quote, columns))
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) SELECT {', '.join(selected)} "
        f"FROM unnest({', '.join(arrays)}) AS u({names}) {suffix}"
    )
    return BulkInsert(text(sql.strip()), tuple(columns), json_columns)


def is_postgresql(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"
