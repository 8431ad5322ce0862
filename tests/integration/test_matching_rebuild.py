"""`tremplin matching rebuild`: the candidate projection rebuilt from the participants topic, on
PostgreSQL and the real broker — erased people stay out, stale rows go, other tenants are left alone
unless the whole projection is rebuilt, unreadable records are skipped, and a failure changes nothing."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import tremplin_matching
from tremplin_cli.main import app as cli
from tremplin_matching.adapters.orm import candidates
from tremplin_matching.rebuild import RebuildError, rebuild_candidates
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.events import (
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
)
from tremplin_shared.migrations import upgrade_to_head

from .kafka_helpers import as_record, event_of, publish

MIGRATIONS = f"{tremplin_matching.__path__[0]}/migrations"
NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)
FLAGS = ParticipantFlags(computed_on="2026-11-02", long_term_unemployed=True, very_long_term_unemployed=False,
                         youth=False, senior=False, rsa=True, rqth=False, qpv=False, clause_eligible=True)  # fmt: skip


def registered(pid: uuid.UUID) -> ParticipantRegisteredV1:
    return ParticipantRegisteredV1(participant_id=pid, registered_at=NOW, latitude=47.59, longitude=1.33,
                                   skills=["K2204"])  # fmt: skip


def profile(pid: uuid.UUID) -> ParticipantProfileChangedV1:
    return ParticipantProfileChangedV1(participant_id=pid, changed_at=NOW, latitude=47.36, longitude=1.74,
                                       skills=["N1103"], wishes=["N1105"], max_travel_km=20, flags=FLAGS,
                                       consent_matching=True, active=True)  # fmt: skip


def history(a: str, b: str) -> tuple[list, dict]:
    """Records of two tenants, and who is who."""
    p1, p2, p3, q1 = (uuid.uuid4() for _ in range(4))
    records = [
        as_record(event_of(registered(p1), a)),
        as_record(event_of(registered(p2), a)),
        as_record(event_of(profile(p1), a)),
        as_record(event_of(ParticipantErasedV1(participant_id=p2, erased_at=NOW), a)),
        (b"junk", b"not json", [("ce_type", b"x")]),  # unreadable: skipped (its DLQ has it)
        as_record(event_of(registered(p3), a)),
        as_record(event_of(registered(q1), b)),
    ]
    return records, {"p1": p1, "p2": p2, "p3": p3, "q1": q1}


async def rows(sessionmaker) -> dict[tuple[str, uuid.UUID], dict]:
    async with sessionmaker() as session:
        result = await session.execute(sa.select(candidates))
        return {(r.tenant, r.participant_id): r._asdict() for r in result}


async def stale(sessionmaker, tenant: str) -> uuid.UUID:
    pid = uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.insert(candidates).values(tenant=tenant, participant_id=pid, latitude=0, longitude=0,
                                                           skills=[], registered_at=NOW, updated_at=NOW))  # fmt: skip
    return pid


async def test_a_rebuild_replays_the_topic_into_the_projection(broker, postgres):
    url = await postgres.create("rebuild")
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    topic = f"participants-rebuild-{uuid.uuid4().hex[:8]}"
    records, who = history("indre", "cher")
    await publish(broker.bootstrap, topic, records)
    try:
        old_a, old_b = await stale(sessionmaker, "indre"), await stale(sessionmaker, "cher")

        report = await rebuild_candidates(sessionmaker, broker.bootstrap, "indre", topic=topic)
        assert (report.read, report.applied, report.skipped, report.deleted) == (7, 5, 1, 1)
        found = await rows(sessionmaker)
        assert set(found) == {("indre", who["p1"]), ("indre", who["p3"]), ("cher", old_b)}
        p1 = found[("indre", who["p1"])]
        assert (p1["skills"], p1["wishes"], p1["max_travel_km"], p1["consent_matching"]) == (["N1103"], ["N1105"],
                                                                                            20, True)  # fmt: skip
        assert (p1["latitude"], p1["longitude"]) == (47.36, 1.74)  # the profile, applied after the registration
        assert ("indre", old_a) not in found

        report = await rebuild_candidates(sessionmaker, broker.bootstrap, None, topic=topic)
        assert (report.applied, report.deleted) == (6, 3)
        assert set(await rows(sessionmaker)) == {("indre", who["p1"]), ("indre", who["p3"]), ("cher", who["q1"])}

        before = await rows(sessionmaker)
        with pytest.raises(OSError):  # the database fails mid-way: the transaction leaves everything as it was
            await rebuild_candidates(_failing(sessionmaker), broker.bootstrap, None, topic=topic)
        assert await rows(sessionmaker) == before

        # A topic with nothing on it (a memory broker that restarted) erases nothing unless told to.
        empty = f"participants-empty-{uuid.uuid4().hex[:8]}"
        await publish(broker.bootstrap, empty, [])
        with pytest.raises(RebuildError, match="nothing to rebuild from"):
            await rebuild_candidates(sessionmaker, broker.bootstrap, None, topic=empty)
        assert await rows(sessionmaker) == before
        report = await rebuild_candidates(sessionmaker, broker.bootstrap, None, topic=empty, allow_empty=True)
        assert (report.deleted, await rows(sessionmaker)) == (3, {})
    finally:
        await engine.dispose()


def _failing(sessionmaker):
    """A sessionmaker whose sessions fail on their third statement (after the delete and one batch)."""

    def make():
        session = sessionmaker()
        execute, calls = session.execute, []

        async def failing_execute(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise OSError("disk full")
            return await execute(*args, **kwargs)

        session.execute = failing_execute
        return session

    return make


def test_the_cli_rebuilds_from_participants_events(own_broker, tmp_path):
    records, who = history("indre", "cher")
    asyncio.run(publish(own_broker.bootstrap, "participants.events", records))
    url = f"sqlite+aiosqlite:///{tmp_path}/matching.db"
    result = CliRunner().invoke(cli, ["matching", "rebuild", "--tenant", "indre", "--bootstrap", own_broker.bootstrap,
                                      "--database-url", url, "--yes"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "replay of 5 event(s)" in result.output and "1 unreadable skipped" in result.output

    async def tenants() -> set:
        engine = make_engine(url)
        try:
            return set(await rows(make_sessionmaker(engine)))
        finally:
            await engine.dispose()

    assert asyncio.run(tenants()) == {("indre", who["p1"]), ("indre", who["p3"])}
    kept = {("indre", who["p1"]), ("indre", who["p3"])}
    refused = CliRunner().invoke(cli, ["matching", "rebuild", "--database-url", url], input="n\n")
    assert refused.exit_code == 1 and asyncio.run(tenants()) == kept
