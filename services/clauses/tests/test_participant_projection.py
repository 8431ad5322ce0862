"""Known participants in clauses: flags from profile_changed (clause eligibility), purge on erased."""

import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from tremplin_clauses.adapters.orm import participant_transitions
from tremplin_clauses.adapters.projection import HANDLERS, count_known, get_known
from tremplin_clauses.adapters.reports_repository import histories
from tremplin_clauses.config import Settings
from tremplin_clauses.main import create_app
from tremplin_shared.events import (
    ParcoursTransitionedV1,
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    new_event,
)


@pytest.fixture
async def clauses(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/clauses.db", run_background_workers=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def apply(app, tenant: str, data) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await HANDLERS[data.ce_type](session, new_event(data, tenant=tenant, source="/t"), data)


def flags(eligible: bool, on: date) -> ParticipantFlags:
    return ParticipantFlags(computed_on=on, long_term_unemployed=eligible, very_long_term_unemployed=False,
                            youth=False, senior=False, rsa=False, rqth=False, qpv=False,
                            clause_eligible=eligible)  # fmt: skip


def profile(pid: uuid.UUID, eligible: bool, on: date) -> ParticipantProfileChangedV1:
    return ParticipantProfileChangedV1(participant_id=pid, changed_at=datetime.now(UTC), latitude=47.5,
                                       longitude=1.3, flags=flags(eligible, on), active=True)  # fmt: skip


async def test_flags_are_kept_with_their_date_and_erasure_purges(clauses):
    pid = uuid.uuid4()
    registered_at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    for tenant in ("loir-et-cher", "indre"):
        await apply(clauses, tenant, ParticipantRegisteredV1(participant_id=pid, registered_at=registered_at,
                                                             latitude=47.5, longitude=1.3))  # fmt: skip
    await apply(clauses, "loir-et-cher", profile(pid, False, date(2026, 11, 2)))
    await apply(clauses, "loir-et-cher", profile(pid, True, date(2026, 11, 25)))
    async with clauses.state.sessionmaker() as session:
        known = await get_known(session, "loir-et-cher", pid)
    assert known["clause_eligible"] is True and known["flags_computed_on"] == date(2026, 11, 25)
    assert known["flags"]["long_term_unemployed"] is True and known["registered_at"] == registered_at

    await apply(clauses, "loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))
    async with clauses.state.sessionmaker() as session:
        assert await get_known(session, "loir-et-cher", pid) is None
        assert await count_known(session, "indre") == 1  # the other tenant's participant stays


async def test_parcours_moves_are_kept_once_per_event_and_erasure_purges_them(clauses):
    pid, parcours = uuid.uuid4(), uuid.uuid4()
    move = ParcoursTransitionedV1(parcours_id=parcours, participant_id=pid, programme="plie",
                                  from_state="supported", to_state="employed", at=date(2026, 5, 4))  # fmt: skip
    event = new_event(move, tenant="loir-et-cher", source="/t")
    for _ in range(2):  # a redelivery (or a rebuild) writes the same row again
        async with clauses.state.sessionmaker() as session, session.begin():
            await HANDLERS[move.ce_type](session, event, move)
    await apply(clauses, "indre", move)  # the same ids in another territory: another person's history
    async with clauses.state.sessionmaker() as session:
        known = await histories(session, "loir-et-cher", [pid])
        count = sa.select(sa.func.count()).select_from(participant_transitions)
        assert (await session.execute(count)).scalar_one() == 2
    (kept,) = known[pid].transitions
    assert (kept.at, kept.parcours, kept.from_state, kept.to_state) == (
        date(2026, 5, 4),
        parcours,
        "supported",
        "employed",
    )

    await apply(clauses, "loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))
    async with clauses.state.sessionmaker() as session:
        assert await histories(session, "loir-et-cher", [pid]) == {}
        assert pid in await histories(session, "indre", [pid])
