"""Where a service's database still mentions a value (an erased participant's id): every column of
every table, read back as the database holds it (reflected, so tables only a migration made count too)."""

import uuid

import sqlalchemy as sa


async def rows_mentioning(app, needle: uuid.UUID | str) -> dict[str, list[dict]]:
    """{table: [row, …]} of the rows in which some column, as text (a uuid, a JSON document, a string),
    contains `needle`'s canonical string — or, for a uuid, its 32 hex digits (how SQLAlchemy's `Uuid`
    stores it on SQLite). Reads everything: for test databases."""
    forms = {str(needle)} | ({needle.hex} if isinstance(needle, uuid.UUID) else set())
    found: dict[str, list[dict]] = {}
    async with app.state.sessionmaker() as session:
        connection = await session.connection()
        metadata = sa.MetaData()
        await connection.run_sync(metadata.reflect)
        for table in metadata.sorted_tables:
            for row in (await session.execute(sa.select(table))).mappings():
                if any(form in str(value) for value in row.values() if value is not None for form in forms):
                    found.setdefault(table.name, []).append(dict(row))
    return found


def outside_tombstones(found: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Without `erasure_tombstones`, which hold the id by design (what keeps the person erased)."""
    return {name: rows for name, rows in found.items() if name != "erasure_tombstones"}


async def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table, as sorted text: two snapshots are equal when nothing changed."""
    async with app.state.sessionmaker() as session:
        connection = await session.connection()
        metadata = sa.MetaData()
        await connection.run_sync(metadata.reflect)
        return {
            table.name: sorted(repr(tuple(row)) for row in await session.execute(sa.select(table)))
            for table in metadata.sorted_tables
        }
