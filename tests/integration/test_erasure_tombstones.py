"""An erased participant stays erased, on PostgreSQL and the real broker, matching running: a
registration dead-lettered before the erasure and put back by `tremplin dlq replay` after it is
skipped by matching's consumer, and a rebuild of the projection — which now finds that old
registration after the erasure on participants.events — leaves the person out too."""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from tremplin_cli.replay import replay_dead_letters
from tremplin_matching.adapters.projection import get_candidate
from tremplin_matching.config import Settings
from tremplin_matching.main import create_app
from tremplin_matching.rebuild import rebuild_candidates
from tremplin_shared.events import (
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
)
from tremplin_shared.events.contracts import PARTICIPANTS_TOPIC
from tremplin_shared.messaging.tables import erasure_tombstones, inbox

from .kafka_helpers import as_record, event_of, publish

TENANT = f"tombstones-{uuid.uuid4().hex[:8]}"  # its own: the broker is shared by the suite
FAST_GROUP = {"consumer_session_timeout_ms": 3000, "consumer_heartbeat_interval_ms": 300,
              "consumer_rebalance_timeout_ms": 2000}  # fmt: skip
NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)
FLAGS = ParticipantFlags(computed_on="2026-11-02", long_term_unemployed=True, very_long_term_unemployed=False,
                         youth=False, senior=False, rsa=True, rqth=False, qpv=False, clause_eligible=True)  # fmt: skip


def dead_letter(record: tuple[bytes, bytes, list]) -> tuple[bytes, bytes, list]:
    """The record as the consumer dead-letters it (its DLQ headers)."""
    key, value, headers = record
    return key, value, [*headers, ("dlq_error", b"OperationalError: database is locked"), ("dlq_attempts", b"5"),
                        ("dlq_consumer", b"matching"), ("dlq_original_topic", PARTICIPANTS_TOPIC.encode())]  # fmt: skip


async def test_a_registration_replayed_after_the_erasure_brings_nothing_back(broker, postgres, wait_for):
    settings = Settings(database_url=await postgres.create("tomb_matching"), kafka_bootstrap_servers=broker.bootstrap,
                        **FAST_GROUP)  # fmt: skip
    app = create_app(settings)
    pid = uuid.uuid4()
    old_registration = event_of(ParticipantRegisteredV1(participant_id=pid, registered_at=NOW, latitude=47.59,
                                                        longitude=1.33, skills=["K2204"]), TENANT)  # fmt: skip
    profile = event_of(ParticipantProfileChangedV1(participant_id=pid, changed_at=NOW, latitude=47.36, longitude=1.74,
                                                   skills=["N1103"], flags=FLAGS, consent_matching=True,
                                                   active=True), TENANT)  # fmt: skip
    # Its own DLQ topic (the suite's participants.events.dlq may hold other tests' dead letters).
    dlq = f"tombstones-{uuid.uuid4().hex[:8]}.dlq"
    async with app.router.lifespan_context(app):
        sessionmaker = app.state.sessionmaker

        async def candidate():
            async with sessionmaker() as session:
                return await get_candidate(session, TENANT, pid)

        async def seen(event_id: str) -> bool:
            async with sessionmaker() as session:
                stmt = sa.select(inbox.c.event_id).where(inbox.c.consumer == "matching", inbox.c.event_id == event_id)
                return (await session.execute(stmt)).first() is not None

        # The registration failed and went to the DLQ; the profile made the candidate.
        await publish(broker.bootstrap, dlq, [dead_letter(as_record(old_registration))])
        await publish(broker.bootstrap, PARTICIPANTS_TOPIC, [as_record(profile)])
        assert await wait_for(candidate, timeout=20), "matching never projected the participant"

        erasure = event_of(ParticipantErasedV1(participant_id=pid, erased_at=NOW), TENANT)
        await publish(broker.bootstrap, PARTICIPANTS_TOPIC, [as_record(erasure)])
        assert await wait_for(lambda: seen(erasure.id), timeout=20)
        assert await candidate() is None

        assert await replay_dead_letters(broker.bootstrap, dlq, f"replay-{uuid.uuid4().hex[:8]}", 1.0) == 1
        assert await wait_for(lambda: seen(old_registration.id), timeout=20), "the replay never reached matching"
        assert await candidate() is None  # applied, as a no-op: the tombstone holds

        # participants.events now holds the old registration after the erasure: a rebuild keeps it out.
        report = await rebuild_candidates(sessionmaker, broker.bootstrap, TENANT)
        assert report.applied == 3
        assert await candidate() is None
        async with sessionmaker() as session:
            tombstones = (await session.execute(sa.select(erasure_tombstones.c.tenant))).scalars().all()
        assert tombstones == [TENANT]
