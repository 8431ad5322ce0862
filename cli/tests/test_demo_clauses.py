"""The clauses part of the demo territory, against the clauses service over real HTTP (as behind the
gateway, with an admin identity): markets, placements (one on an override), hours, a report."""

import asyncio
import threading
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
import uvicorn

from tremplin_clauses.adapters.projection import HANDLERS
from tremplin_clauses.config import Settings
from tremplin_clauses.main import create_app
from tremplin_cli import demo_clauses
from tremplin_cli.demo import demo_people
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.embedded_broker import free_port
from tremplin_shared.events import ParticipantFlags, ParticipantProfileChangedV1, new_event
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

TENANT = "loir-et-cher"


@pytest.fixture
def service(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'clauses.db'}"
    settings = Settings(database_url=url, run_background_workers=False)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield url, f"http://127.0.0.1:{server.config.port}", settings.identity_secret
    server.should_exit = True
    thread.join(10)


async def make_known(url: str, people: list[tuple[str, dict]], today: date) -> None:
    engine = make_engine(url)
    try:
        sessionmaker = make_sessionmaker(engine)
        for pid, person in people:
            eligible = demo_clauses.looks_eligible(person, today)
            flags = ParticipantFlags(computed_on=today, long_term_unemployed=eligible, very_long_term_unemployed=False,
                                     youth=False, senior=False, rsa=False, rqth=False, qpv=False,
                                     clause_eligible=eligible)  # fmt: skip
            data = ParticipantProfileChangedV1(participant_id=uuid.UUID(pid), changed_at=datetime.now(UTC),
                                               latitude=person["latitude"], longitude=person["longitude"],
                                               flags=flags, active=True, sex=person["sex"])  # fmt: skip
            async with sessionmaker() as session, session.begin():
                await HANDLERS[data.ce_type](session, new_event(data, tenant=TENANT, source="/t"), data)
    finally:
        await engine.dispose()


def run_seed(base_url: str, secret: str, people, today: date) -> None:
    def sign(request: httpx.Request) -> None:
        request.headers[IDENTITY_HEADER] = sign_identity(Identity(TENANT, "demo", ("admin",)), secret)

    with httpx.Client(base_url=base_url, timeout=10, event_hooks={"request": [sign]}) as client:
        demo_clauses.seed(client, people, today)
        demo_clauses.seed(client, people, today)  # a second run changes nothing


async def test_the_demo_loads_markets_placements_and_hours(service):
    url, base_url, secret = service
    today = date(2026, 12, 1)
    people = [(str(uuid.uuid4()), person) for person in demo_people(60, today)]
    await make_known(url, people, today)
    await asyncio.to_thread(run_seed, base_url, secret, people, today)
    headers = {IDENTITY_HEADER: sign_identity(Identity(TENANT, "check", ("viewer",)), secret)}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
        markets = (await client.get("/api/v1/clauses/markets")).json()["items"]
        assert len(markets) == len(demo_clauses.OPERATIONS) == 7
        assert {m["buyer"]["kind"] for m in markets} == {"public", "private"}
        lots = [lot for m in markets for lot in m["lots"]]
        placed = []
        for lot in lots:
            placed += (await client.get(f"/api/v1/clauses/lots/{lot['id']}/placements")).json()["items"]
        assert len(placed) >= 15
        assert sum(p["override_reason"] is not None for p in placed) == 1
        report = (await client.get("/api/v1/clauses/reports", params={"from": "2026-01-01", "to": "2026-12-31"})).json()
        assert Decimal(report["validated_hours"]) > 1000 and report["operations"] >= 5 and report["buyers"] >= 5
        assert report["participants_by_sex"]["F"] > 0 and report["participants_by_sex"]["M"] > 0
        pending = 0
        for lot in lots:
            pending += len((await client.get(f"/api/v1/clauses/lots/{lot['id']}/hours",
                                             params={"status": "declared"})).json()["items"])  # fmt: skip
        assert pending >= 10  # this month's hours wait for the facilitator
