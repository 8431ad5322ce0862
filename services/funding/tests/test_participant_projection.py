"""Known participants in funding: purged on participant.erased, in the event's tenant only."""

import uuid
from datetime import UTC, datetime

import pytest

from tremplin_funding.adapters.projection import HANDLERS, count_known, is_known
from tremplin_funding.config import Settings
from tremplin_funding.main import create_app
from tremplin_shared.events import ParticipantErasedV1, ParticipantRegisteredV1, new_event


@pytest.fixture
async def funding(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/funding.db", run_background_workers=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def apply(app, tenant: str, data) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await HANDLERS[data.ce_type](session, new_event(data, tenant=tenant, source="/t"), data)


async def test_erasure_purges_the_known_participant_of_that_tenant(funding):
    pid = uuid.uuid4()
    for tenant in ("loir-et-cher", "indre"):
        await apply(funding, tenant, ParticipantRegisteredV1(participant_id=pid, registered_at=datetime.now(UTC),
                                                             latitude=47.5, longitude=1.3))  # fmt: skip
    await apply(funding, "loir-et-cher", ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))
    async with funding.state.sessionmaker() as session:
        assert not await is_known(session, "loir-et-cher", pid)
        assert await is_known(session, "indre", pid)
        assert await count_known(session, "loir-et-cher") == 0
