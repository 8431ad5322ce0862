"""Flags that time alone changes (12/24 months unemployed, 26th/50th birthday) reach the other services:
the pure plan (domain.flag_changes) and the scheduled pass (jobs.refresh_flags) with an injected date,
in-process on SQLite and PostgreSQL (no broker: the outbox rows are what is checked)."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
import sqlalchemy as sa

from tremplin_participants import jobs
from tremplin_participants.adapters.orm import participants
from tremplin_participants.config import Settings
from tremplin_participants.domain.flag_changes import next_change, plan, thresholds
from tremplin_participants.domain.flags import Situation, anniversary, compute_flags, latest_start, today
from tremplin_participants.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity
from tremplin_shared.messaging.tables import outbox

PROFILE = "fr.tremplin.participants.participant.profile_changed.v1"
TODAY = today()
PERSON = {
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1984-03-12",  # 40-odd: no age threshold near today
    "sex": "F",
    "latitude": 47.5861,
    "longitude": 1.3359,
    "skills": ["K2204"],
}


def unemployed_since_for(crossing: date, years: int = 1) -> date:
    """The unemployment start whose `years`-th anniversary is `crossing`."""
    return latest_start(crossing, years)


# ---------------------------------------------------------------------------------------- pure plan
def test_the_plan_sends_each_crossing_on_its_day_then_nothing():
    born, since = date(2000, 6, 15), date(2025, 3, 10)
    situation = Situation(unemployed_since=since, education_level="below_cap")
    held = compute_flags(situation, born, date(2025, 4, 1))
    assert thresholds(situation, born) == [date(2026, 3, 10), date(2026, 6, 15), date(2027, 3, 10), date(2050, 6, 15)]
    assert next_change(situation, born, held) == date(2026, 3, 10)
    assert plan(situation, born, held, date(2026, 3, 9)).send == []
    result = plan(situation, born, held, date(2026, 7, 1))  # two thresholds in the gap
    assert [(f.computed_on, f.long_term_unemployed, f.youth) for f in result.send] == [
        (date(2026, 3, 10), True, True),
        (date(2026, 6, 15), True, False),
    ]
    assert result.standing == result.send[-1] and result.due_on == date(2027, 3, 10)
    again = plan(situation, born, result.standing, date(2026, 7, 1))
    assert again.send == [] and again.due_on == date(2027, 3, 10)


def test_a_leap_day_crossing_falls_on_1_march_and_no_unemployment_date_means_ages_only():
    situation = Situation(unemployed_since=date(2024, 2, 29))
    born = date(1984, 3, 12)
    held = compute_flags(situation, born, date(2024, 3, 1))
    assert next_change(situation, born, held) == date(2025, 3, 1) == anniversary(date(2024, 2, 29), 1)
    assert thresholds(Situation(), born) == [date(2010, 3, 12), date(2034, 3, 12)]
    old = compute_flags(Situation(), date(1950, 1, 1), date(2026, 1, 1))  # senior already: nothing ahead
    assert next_change(Situation(), date(1950, 1, 1), old) is None


def test_held_flags_that_do_not_match_the_situation_are_corrected_on_the_day_planned():
    born = date(1984, 3, 12)
    wrong = compute_flags(Situation(rsa=True), born, date(2026, 1, 1))
    result = plan(Situation(), born, wrong, date(2026, 1, 5))
    assert [(f.computed_on, f.rsa) for f in result.send] == [(date(2026, 1, 5), False)]


# ------------------------------------------------------------------------------------------ the pass
class Api:
    def __init__(self, app, client: httpx.AsyncClient, settings: Settings) -> None:
        self.app, self.client, self.settings = app, client, settings

    def headers(self) -> dict:
        identity = Identity("loir-et-cher", "referente-1", ("referent",))
        return {IDENTITY_HEADER: sign_identity(identity, self.settings.identity_secret)}

    async def person(self, **changes) -> str:
        body = {**PERSON, **{k: v.isoformat() if isinstance(v, date) else v for k, v in changes.items()}}
        response = await self.client.post("/api/v1/participants", json=body, headers=self.headers())
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def profiles(self, participant_id: str) -> list[dict]:
        async with self.app.state.sessionmaker() as session:
            rows = await session.execute(
                sa.select(outbox.c.value).where(outbox.c.event_type == PROFILE).order_by(outbox.c.seq)
            )
            values = [json.loads(value) for (value,) in rows]
        return [v for v in values if v["participant_id"] == participant_id]

    async def refresh(self, on: date) -> int:
        return await jobs.refresh_flags(self.app.state.sessionmaker, on)

    async def execute(self, statement):
        async with self.app.state.sessionmaker() as session, session.begin():
            result = await session.execute(statement)
            return result.all() if statement.is_select else None

    async def row(self, participant_id: str):
        return (await self.execute(sa.select(participants).where(participants.c.id == uuid.UUID(participant_id))))[0]

    async def pretend_known_since(self, participant_id: str, day: date, **situation) -> None:
        """As if the person's last profile event was computed on `day` and the job has not run since."""
        row = await self.row(participant_id)
        held = compute_flags(Situation(**situation), row.birth_date, day)
        await self.execute(
            sa.update(participants)
            .where(participants.c.id == row.id)
            .values(flags_sent=held.model_dump(mode="json"), flags_due_on=day + timedelta(days=1))
        )


@pytest.fixture(params=["sqlite", "postgres"])
async def api(request, tmp_path, postgres):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/participants.db"
    else:
        url = await postgres.create("flags")
    settings = Settings(database_url=url, run_background_workers=False)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://participants") as client:
            yield Api(app, client, settings)
    # (the lifespan disposes of the engine)


async def test_twelve_months_of_unemployment_reached_after_registering_is_sent_on_that_day_once(api):
    crossing = TODAY + timedelta(days=30)  # registered 11 months after becoming unemployed
    pid = await api.person(unemployed_since=unemployed_since_for(crossing), job_seeker_registered=True)
    other = await api.person()  # no unemployment date, no age threshold near: never a candidate
    [registered] = await api.profiles(pid)
    assert registered["flags"]["long_term_unemployed"] is False and registered["flags"]["clause_eligible"] is False

    assert await api.refresh(TODAY) == 0
    assert await api.refresh(crossing - timedelta(days=1)) == 0
    assert len(await api.profiles(pid)) == 1

    assert await api.refresh(crossing) == 1
    profiles = await api.profiles(pid)
    assert len(profiles) == 2
    flags = profiles[-1]["flags"]
    assert flags["computed_on"] == crossing.isoformat()
    assert (flags["long_term_unemployed"], flags["very_long_term_unemployed"], flags["clause_eligible"]) == (
        True, False, True,
    )  # fmt: skip
    # the usual profile: everything else as it is now
    assert {k: v for k, v in profiles[-1].items() if k not in ("flags", "changed_at")} == {
        k: v for k, v in profiles[0].items() if k not in ("flags", "changed_at")
    }
    assert not {"first_name", "last_name", "birth_date", "nir"} & set(profiles[-1])

    assert await api.refresh(crossing) == 0  # a second pass on the same day
    assert await api.refresh(crossing + timedelta(days=10)) == 0
    assert len(await api.profiles(pid)) == 2
    assert len(await api.profiles(other)) == 1
    row = await api.row(pid)
    assert row.flags_due_on == anniversary(unemployed_since_for(crossing), 2)  # the next one: 24 months


async def test_a_25_year_old_turning_26_is_no_longer_youth_nor_eligible_through_it(api):
    birthday = TODAY + timedelta(days=20)
    born = latest_start(birthday, 26)
    pid = await api.person(birth_date=born, education_level="below_cap")
    [registered] = await api.profiles(pid)
    assert registered["flags"]["youth"] is True and registered["flags"]["clause_eligible"] is True

    assert await api.refresh(birthday - timedelta(days=1)) == 0
    assert await api.refresh(birthday) == 1
    flags = (await api.profiles(pid))[-1]["flags"]
    assert (flags["computed_on"], flags["youth"], flags["senior"], flags["clause_eligible"]) == (
        birthday.isoformat(), False, False, False,
    )  # fmt: skip
    assert await api.refresh(birthday) == 0
    assert (await api.row(pid)).flags_due_on == anniversary(born, 50)


async def test_after_days_without_a_pass_every_crossing_is_sent_with_its_own_date(api):
    long_term, birthday = TODAY + timedelta(days=5), TODAY + timedelta(days=12)
    pid = await api.person(
        birth_date=latest_start(birthday, 26), unemployed_since=unemployed_since_for(long_term), rsa=False
    )
    assert await api.refresh(TODAY + timedelta(days=30)) == 2  # the first pass for a month
    flags = [p["flags"] for p in (await api.profiles(pid))[1:]]
    assert [(f["computed_on"], f["long_term_unemployed"], f["youth"]) for f in flags] == [
        (long_term.isoformat(), True, True),
        (birthday.isoformat(), True, False),
    ]
    assert await api.refresh(TODAY + timedelta(days=30)) == 0
    assert await api.refresh(TODAY + timedelta(days=31)) == 0


async def test_an_erased_participant_is_never_touched(api):
    crossing = TODAY + timedelta(days=3)
    pid = await api.person(unemployed_since=unemployed_since_for(crossing))
    response = await api.client.delete(f"/api/v1/participants/{pid}", headers=api.headers())
    assert response.status_code == 204
    before = (await api.row(pid))._asdict()
    assert await api.refresh(crossing + timedelta(days=400)) == 0
    assert (await api.row(pid))._asdict() == before
    assert await api.profiles(pid) == []  # the erasure forgot its events; the pass staged none


async def test_a_participant_not_tracked_yet_is_taken_up_from_its_last_change(api):
    """A bulk import or a row older than the tracking: held flags are those of its registration day."""
    crossing = TODAY - timedelta(days=10)
    since = unemployed_since_for(crossing)
    pid = await api.person(unemployed_since=since)
    registered_at = datetime.combine(TODAY - timedelta(days=40), datetime.min.time(), UTC) + timedelta(hours=10)
    await api.execute(
        sa.update(participants)
        .where(participants.c.id == uuid.UUID(pid))
        .values(flags_sent=sa.null(), flags_due_on=None, registered_at=registered_at)  # SQL NULL, not JSON null
    )
    assert await api.refresh(TODAY) == 1
    flags = (await api.profiles(pid))[-1]["flags"]
    assert (flags["computed_on"], flags["long_term_unemployed"]) == (crossing.isoformat(), True)
    assert await api.refresh(TODAY) == 0
    assert (await api.row(pid)).flags_sent is not None


async def test_a_change_while_the_job_is_late_sends_the_pending_crossing_first(api):
    crossing = TODAY - timedelta(days=10)
    since = unemployed_since_for(crossing)
    pid = await api.person(unemployed_since=since, job_seeker_registered=True)
    await api.pretend_known_since(pid, TODAY - timedelta(days=40), unemployed_since=since, job_seeker_registered=True)
    response = await api.client.patch(f"/api/v1/participants/{pid}", json={"rsa": True}, headers=api.headers())
    assert response.status_code == 200, response.text
    crossing_event, change_event = (await api.profiles(pid))[-2:]
    assert (crossing_event["flags"]["computed_on"], crossing_event["flags"]["long_term_unemployed"]) == (
        crossing.isoformat(), True,
    )  # fmt: skip
    assert crossing_event["flags"]["rsa"] is False  # the situation before the change
    assert (change_event["flags"]["computed_on"], change_event["flags"]["rsa"]) == (TODAY.isoformat(), True)
    assert await api.refresh(TODAY) == 0


async def test_a_change_that_sends_no_event_still_moves_the_next_day(api):
    pid = await api.person(unemployed_since=unemployed_since_for(TODAY + timedelta(days=30)))
    sooner = TODAY + timedelta(days=10)
    response = await api.client.patch(
        f"/api/v1/participants/{pid}", json={"unemployed_since": unemployed_since_for(sooner).isoformat()},
        headers=api.headers(),
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert len(await api.profiles(pid)) == 1  # nothing other services see changed today
    assert (await api.row(pid)).flags_due_on == sooner
    assert await api.refresh(sooner) == 1
    assert (await api.profiles(pid))[-1]["flags"]["computed_on"] == sooner.isoformat()


async def test_two_passes_at_once_send_each_crossing_once(api):
    crossing = TODAY + timedelta(days=7)
    people = [await api.person(unemployed_since=unemployed_since_for(crossing)) for _ in range(5)]
    results = await asyncio.gather(api.refresh(crossing), api.refresh(crossing), return_exceptions=True)
    assert sum(results) == 5, results  # neither failed; each participant went out once
    for pid in people:
        assert [p["flags"]["computed_on"] for p in await api.profiles(pid)][1:] == [crossing.isoformat()]


async def test_the_background_loop_runs_a_pass_with_its_clock(api):
    crossing = TODAY + timedelta(days=2)
    pid = await api.person(unemployed_since=unemployed_since_for(crossing))
    state = SimpleNamespace(settings=api.settings, sessionmaker=api.app.state.sessionmaker)
    task = asyncio.create_task(jobs.flags_refresh_loop(SimpleNamespace(state=state), clock=lambda: crossing))
    try:
        for _ in range(200):
            if len(await api.profiles(pid)) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (await api.profiles(pid))[-1]["flags"]["computed_on"] == crossing.isoformat()


def test_the_interval_is_a_setting():
    assert Settings().flags_refresh_interval_seconds == 3600.0
    assert Settings(flags_refresh_interval_seconds=60).flags_refresh_interval_seconds == 60
    with pytest.raises(ValueError):
        Settings(flags_refresh_interval_seconds=0)
