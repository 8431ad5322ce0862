"""When the relay looks at the outbox: at once after a commit that staged events (whoever wrote them),
and, while nothing comes, less and less often — down to `idle_poll_max` — so an idle service costs
next to nothing. No broker needed: the relay's pass is replaced where it would publish."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.events import ParticipantRegisteredV1
from tremplin_shared.messaging.outbox import add_event
from tremplin_shared.messaging.relay import OutboxRelay
from tremplin_shared.messaging.tables import messaging_metadata


@pytest.fixture(params=["sqlite", "postgres"])
async def sessionmaker(request, tmp_path, postgres):
    url = f"sqlite+aiosqlite:///{tmp_path}/o.db" if request.param == "sqlite" else await postgres.create("wake")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


def registration() -> ParticipantRegisteredV1:
    return ParticipantRegisteredV1(participant_id=uuid.uuid4(), registered_at=datetime.now(UTC), latitude=47.6,
                                   longitude=1.3)  # fmt: skip


async def test_a_commit_that_staged_events_wakes_the_relay_and_nothing_else_does(sessionmaker):
    relay = OutboxRelay("wake-test", sessionmaker, "127.0.0.1:1", ["participants.events"])
    other = OutboxRelay("elsewhere", make_sessionmaker(make_engine("sqlite+aiosqlite://")), "127.0.0.1:1", ["t"])
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))  # a commit without events
    assert not relay._wake.is_set()
    with pytest.raises(RuntimeError):
        async with sessionmaker() as session, session.begin():
            await add_event(session, registration(), tenant="cher", source="/t")
            raise RuntimeError("the request fails after staging its event")
    assert not relay._wake.is_set()  # rolled back: nothing to publish
    async with sessionmaker() as session:
        await add_event(session, registration(), tenant="cher", source="/t")
        assert not relay._wake.is_set()  # not before the commit
        await session.commit()
    assert relay._wake.is_set()
    assert not other._wake.is_set()  # another database's relay is not concerned


class CountingRelay(OutboxRelay):
    """Its passes find `found[i]` rows; records how long it sleeps between passes and stops after the script."""

    def __init__(self, found: list[int], woken_at: set[int]) -> None:
        super().__init__("idle-test", None, "127.0.0.1:1", ["t"], poll_interval=0.05, idle_poll_max=0.4)
        self.found, self.woken_at, self.sleeps = found, woken_at, []

    async def publish_pending(self) -> int:
        if not self.found:
            raise asyncio.CancelledError
        return self.found.pop(0)

    async def _sleep(self, seconds: float) -> bool:
        self.sleeps.append(seconds)
        return len(self.sleeps) in self.woken_at


async def test_an_empty_outbox_is_polled_less_and_less_often_until_work_comes_back():
    # passes: 6 empty, one woken sleep, 2 empty, 1000 rows (straight to the next pass), 2 empty
    relay = CountingRelay([0, 0, 0, 0, 0, 0, 0, 0, 1000, 0, 0], woken_at={6})
    with pytest.raises(asyncio.CancelledError):
        await relay.run()
    assert relay.sleeps == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.05, 0.1, 0.05, 0.1]
