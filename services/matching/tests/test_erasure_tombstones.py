"""An erased participant stays erased: an older event about them applied after the erasure (a DLQ
replay, a rebuild) is skipped — the tombstone recorded with the erasure says so."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from tests.consumed import consume, event
from tremplin_matching.adapters.projection import get_candidate
from tremplin_matching.config import Settings
from tremplin_matching.main import build_spec
from tremplin_shared.events import ParticipantErasedV1
from tremplin_shared.messaging.tables import erasure_tombstones

from .test_candidate_profile import profile, registered

SPEC = build_spec(Settings())  # the consumer's handlers, as main.py wires them


async def test_events_replayed_after_an_erasure_bring_nothing_back(matching_app):
    pid = uuid.uuid4()
    old_registration, old_profile = event("loir-et-cher", registered(pid)), event("loir-et-cher", profile(pid))
    await consume(matching_app, SPEC, [old_registration, event("indre", registered(pid))])
    erased_at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    await consume(
        matching_app, SPEC, [event("loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=erased_at))]
    )
    await consume(matching_app, SPEC, [old_registration])  # a DLQ replay: a fresh inbox row for another consumer run
    await consume(matching_app, SPEC, [old_profile, event("loir-et-cher", registered(pid))])
    async with matching_app.state.sessionmaker() as session:
        assert await get_candidate(session, "loir-et-cher", pid) is None
        assert await get_candidate(session, "indre", pid) is not None  # another territory's person
        rows = (await session.execute(select(erasure_tombstones))).all()
    assert [(r.tenant, r.participant_id, r.erased_at) for r in rows] == [("loir-et-cher", pid, erased_at)]


async def test_within_one_batch_events_after_the_erasure_are_skipped(matching_app):
    pid = uuid.uuid4()
    erased = ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC))
    await consume(
        matching_app, SPEC, [event("indre", e) for e in (registered(pid), erased, profile(pid), registered(pid))]
    )
    await consume(matching_app, SPEC, [event("indre", erased)])  # an erasure twice: still one tombstone
    async with matching_app.state.sessionmaker() as session:
        assert await get_candidate(session, "indre", pid) is None
        assert len((await session.execute(select(erasure_tombstones))).all()) == 1
