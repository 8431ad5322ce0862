"""Outbox and inbox tables. Every service has both, in its own database.

Defined once here; a service's first migration calls `create_messaging_tables()`.
"""

import sqlalchemy as sa

from ..db import UtcDateTime

messaging_metadata = sa.MetaData()

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def _outbox_columns() -> list[sa.Column]:
    return [
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
    ]


def _inbox_columns() -> list[sa.Column]:
    return [
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("processed_at", UtcDateTime, nullable=False),
    ]


outbox = sa.Table("outbox", messaging_metadata, *_outbox_columns())
inbox = sa.Table("inbox", messaging_metadata, *_inbox_columns())
_pending = outbox.c.published_at.is_(None)
sa.Index("ix_outbox_pending", outbox.c.seq, postgresql_where=_pending, sqlite_where=_pending)
# The retention purge (retention.py) finds old inbox rows by processed_at; the primary key cannot
# help (event ids are random UUIDs). Added by a later migration of every component, not by
# create_messaging_tables: the first migrations must stay as they ran.
sa.Index("ix_inbox_processed_at", inbox.c.processed_at)


def create_messaging_tables() -> None:
    """For a service's Alembic migration."""
    from alembic import op

    op.create_table("outbox", *_outbox_columns())
    op.create_table("inbox", *_inbox_columns())
    pending = sa.column("published_at").is_(None)
    op.create_index("ix_outbox_pending", "outbox", ["seq"], postgresql_where=pending, sqlite_where=pending)


def create_inbox_retention_index() -> None:
    """For each component's migration that brings the retention purge (retention.py)."""
    from alembic import op

    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])


def drop_inbox_retention_index() -> None:
    from alembic import op

    op.drop_index("ix_inbox_processed_at", "inbox")


# Erasure tombstones (see messaging/erasure.py): in the database of every service that handles
# participant.erased. A metadata of their own, so a service without them (participants) is not concerned.
tombstone_metadata = sa.MetaData()


def _tombstone_columns() -> list[sa.Column]:
    return [
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("participant_id", sa.Uuid, primary_key=True),
        sa.Column("erased_at", UtcDateTime, nullable=False),
    ]


erasure_tombstones = sa.Table("erasure_tombstones", tombstone_metadata, *_tombstone_columns())


def create_erasure_tombstones_table() -> None:
    """For the Alembic migration of a service that handles participant.erased."""
    from alembic import op

    op.create_table("erasure_tombstones", *_tombstone_columns())
