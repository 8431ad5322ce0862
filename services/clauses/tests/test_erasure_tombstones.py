"""An erased participant stays erased in clauses: registrations, profiles (flags, sex) and hires about
them applied after the erasure — a DLQ replay, a late event of another topic — are skipped."""

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from tests.consumed import consume, event
from tremplin_clauses.adapters.orm import known_participants, participant_flags, participant_hires
from tremplin_clauses.config import Settings
from tremplin_clauses.main import build_spec, create_app
from tremplin_shared.events import ParticipantErasedV1, ParticipantRegisteredV1, PlacementHiredV1
from tremplin_shared.messaging.tables import erasure_tombstones

from .test_participant_projection import profile

SPEC = build_spec(Settings())  # the consumer's handlers, as main.py wires them


@pytest.fixture(params=["sqlite", "postgres"])
async def clauses(request, tmp_path, postgres):
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db" if request.param == "sqlite" else await postgres.create("clauses")
    app = create_app(Settings(database_url=url, run_background_workers=False))
    async with app.router.lifespan_context(app):
        yield app


async def rows_of(app, tenant: str, pid: uuid.UUID) -> dict[str, int]:
    async with app.state.sessionmaker() as session:
        return {
            t.name: (
                await session.execute(
                    select(func.count()).select_from(t).where(t.c.tenant == tenant, t.c.participant_id == pid)
                )
            ).scalar_one()
            for t in (known_participants, participant_flags, participant_hires)
        }


async def test_events_replayed_after_an_erasure_bring_nothing_back(clauses):
    pid, tenant = uuid.uuid4(), "loir-et-cher"
    old_registration = event(tenant, ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC),
                                                             latitude=47.5, longitude=1.3))  # fmt: skip
    old_profile = event(tenant, profile(pid, True, date(2026, 11, 2)))
    await consume(clauses, SPEC, [old_registration, old_profile])
    assert await rows_of(clauses, tenant, pid) == {"known_participants": 1, "participant_flags": 1,
                                                   "participant_hires": 0}  # fmt: skip
    await consume(clauses, SPEC, [event(tenant, ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))])
    hire = PlacementHiredV1(application_id=uuid.uuid4(), participant_id=pid, offer_id=uuid.uuid4(),
                            employer_siret="73282932000074", contract_type="cdd", start_date=date(2026, 11, 3),
                            weekly_hours=35)  # fmt: skip
    await consume(clauses, SPEC, [old_registration])  # a DLQ replay
    await consume(clauses, SPEC, [old_profile, event(tenant, hire)])
    assert await rows_of(clauses, tenant, pid) == {"known_participants": 0, "participant_flags": 0,
                                                   "participant_hires": 0}  # fmt: skip
    await consume(clauses, SPEC, [event("indre", hire)])  # the same id in another territory: another person
    assert (await rows_of(clauses, "indre", pid))["participant_hires"] == 1
    async with clauses.state.sessionmaker() as session:
        tombstones = (await session.execute(select(erasure_tombstones.c.tenant))).scalars().all()
    assert tombstones == [tenant]
