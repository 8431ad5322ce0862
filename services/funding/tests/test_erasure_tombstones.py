"""An erased participant stays erased in funding: a registration about them applied after the erasure
(a DLQ replay) is skipped — the tombstone recorded with the erasure says so."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.consumed import consume, event
from tremplin_funding.adapters.projection import is_known
from tremplin_funding.config import Settings
from tremplin_funding.main import build_spec, create_app
from tremplin_shared.events import ParticipantErasedV1, ParticipantRegisteredV1
from tremplin_shared.messaging.tables import erasure_tombstones

SPEC = build_spec(Settings())  # the consumer's handlers, as main.py wires them


@pytest.fixture(params=["sqlite", "postgres"])
async def funding(request, tmp_path, postgres):
    url = f"sqlite+aiosqlite:///{tmp_path}/f.db" if request.param == "sqlite" else await postgres.create("funding")
    app = create_app(Settings(database_url=url, run_background_workers=False))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_registration_replayed_after_an_erasure_brings_nothing_back(funding):
    pid = uuid.uuid4()
    registered = ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC), latitude=47.5,
                                         longitude=1.3)  # fmt: skip
    old = {tenant: event(tenant, registered) for tenant in ("loir-et-cher", "indre")}
    await consume(funding, SPEC, list(old.values()))
    erased_at = datetime.now(UTC)
    await consume(funding, SPEC, [event("loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=erased_at))])
    await consume(funding, SPEC, [old["loir-et-cher"]])  # a DLQ replay
    await consume(funding, SPEC, [event("loir-et-cher", registered)])  # the same data under a new event id
    async with funding.state.sessionmaker() as session:
        assert not await is_known(session, "loir-et-cher", pid)
        assert await is_known(session, "indre", pid)  # another territory's person
        rows = (await session.execute(select(erasure_tombstones))).all()
    assert [(r.tenant, r.participant_id) for r in rows] == [("loir-et-cher", pid)]
    assert rows[0].erased_at == erased_at
