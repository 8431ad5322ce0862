"""Eligibility at the start of the placement (DOMAIN.md §Clauses), on PostgreSQL: clauses keeps the
dated history of the flags participants computes and decides with the flags in force at the start —
for a placement through the API and for the one a hire creates — whatever the order and the number
of times the profile events arrive (also on SQLite). The history is scoped by tenant and erased with
the person."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from tremplin_clauses.adapters.orm import known_participants, participant_flags
from tremplin_clauses.adapters.projection import HANDLERS, get_known
from tremplin_clauses.config import Settings
from tremplin_clauses.main import build_spec
from tremplin_clauses.service_layer import MATCHING_HANDLERS
from tremplin_shared.events import (
    ParticipantErasedV1,
    ParticipantFlags,
    ParticipantProfileChangedV1,
    ParticipantRegisteredV1,
    PlacementHiredV1,
    new_event,
)
from tremplin_shared.migrations import alembic_config

from .conftest import CONTRACTOR_SIRET, OTHER, TENANT, lot_body, start
from .test_tenancy_and_hires import count

JAN_10, MAR_01 = date(2026, 1, 10), date(2026, 3, 1)


def profile(pid: uuid.UUID, eligible: bool, on: date, changed_at: datetime | None = None, sex: str | None = "F"):
    flags = ParticipantFlags(
        computed_on=on, long_term_unemployed=False, very_long_term_unemployed=False, youth=False, senior=False,
        rsa=eligible, rqth=False, qpv=False, clause_eligible=eligible,
    )  # fmt: skip
    at = changed_at or datetime(on.year, on.month, on.day, 10, tzinfo=UTC)
    return ParticipantProfileChangedV1(participant_id=pid, changed_at=at, latitude=47.58, longitude=1.33,
                                       flags=flags, active=True, sex=sex)  # fmt: skip


async def deliver(clauses, tenant: str, data, event=None):
    """Run the handler on one envelope (the same envelope again = a redelivery, the inbox bypassed)."""
    event = event or new_event(data, tenant=tenant, source="/tests")
    async with clauses.app.state.sessionmaker() as session, session.begin():
        await {**HANDLERS, **MATCHING_HANDLERS}[data.ce_type](session, event, data)
    return event


async def place(clauses, lot_id: str, pid, start_date: str, headers=None, **over):
    body = {"participant_id": str(pid), "mode": "direct_hire", "contract_type": "cdd", "start_date": start_date}
    return await clauses.client.post(f"/api/v1/clauses/lots/{lot_id}/placements", json=body | over,
                                     headers=headers or clauses.headers())  # fmt: skip


def hire(pid, lot_id: str, start_date: date) -> PlacementHiredV1:
    return PlacementHiredV1(
        application_id=uuid.uuid4(), participant_id=pid, offer_id=uuid.uuid4(), employer_siret=CONTRACTOR_SIRET,
        contract_type="cdi", start_date=start_date, weekly_hours=35, clause_lot_id=uuid.UUID(lot_id),
    )  # fmt: skip


async def lots(clauses, n: int = 4) -> list[str]:
    market = await clauses.market(lots=[lot_body(i) for i in range(1, n + 1)])
    return [lot["id"] for lot in market["lots"]]


async def test_eligible_at_the_start_but_not_now_is_accepted(clauses_pg):
    clauses = clauses_pg
    (lot, *_) = await lots(clauses, 1)
    pid = uuid.uuid4()
    await deliver(clauses, TENANT, profile(pid, True, JAN_10))  # RSA in January…
    await deliver(clauses, TENANT, profile(pid, False, MAR_01))  # …no longer since March
    async with clauses.app.state.sessionmaker() as session:
        assert (await get_known(session, TENANT, pid))["clause_eligible"] is False  # the latest, as before
    placed = await place(clauses, lot, pid, "2026-02-01")
    assert placed.status_code == 201, placed.text
    assert (placed.json()["eligible"], placed.json()["eligibility_computed_on"]) == (True, "2026-01-10")
    assert placed.json()["override_reason"] is None
    declared = await clauses.declare(lot, str(pid), "2026-03", 35)  # the placement stands
    assert declared.status_code == 201, declared.text


async def test_eligible_now_but_not_at_the_start_needs_a_facilitator(clauses_pg):
    clauses = clauses_pg
    lot, on_the_day, *_ = await lots(clauses, 2)
    pid = uuid.uuid4()
    await deliver(clauses, TENANT, profile(pid, False, JAN_10))
    await deliver(clauses, TENANT, profile(pid, True, MAR_01))  # eligible now
    refused = await place(clauses, lot, pid, "2026-02-01")
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["errors"][0]["field"] == "participant_id" and problem["flags_computed_on"] == "2026-01-10"
    assert "not clause-eligible at the start, 2026-02-01" in problem["errors"][0]["message"]
    reason = "Orientée par le PLIE en janvier, au RSA depuis mars : avis du comité de suivi"
    assert (await place(clauses, lot, pid, "2026-02-01", override_reason=reason)).status_code == 403
    overridden = await place(clauses, lot, pid, "2026-02-01", headers=clauses.facilitator(), override_reason=reason)
    assert overridden.status_code == 201, overridden.text
    kept = overridden.json()
    assert (kept["eligible"], kept["eligibility_computed_on"], kept["override_reason"], kept["override_by"]) == (
        False, "2026-01-10", reason, "facilitatrice",
    )  # fmt: skip
    # Starting on the day of the new computation: its flags are in force.
    same_day = await place(clauses, on_the_day, pid, "2026-03-01")
    assert same_day.status_code == 201 and same_day.json()["eligibility_computed_on"] == "2026-03-01"


async def test_a_start_before_every_computation_takes_the_earliest(clauses_pg):
    clauses = clauses_pg
    lot, second, *_ = await lots(clauses, 2)
    eligible, not_eligible = uuid.uuid4(), uuid.uuid4()
    for pid, first in ((eligible, True), (not_eligible, False)):
        await deliver(clauses, TENANT, profile(pid, first, JAN_10))
        await deliver(clauses, TENANT, profile(pid, not first, MAR_01))  # never used for a start before it
    placed = await place(clauses, lot, eligible, "2026-01-05")
    assert placed.status_code == 201, placed.text
    assert (placed.json()["eligible"], placed.json()["eligibility_computed_on"]) == (True, "2026-01-10")
    refused = await place(clauses, lot, not_eligible, "2026-01-05")
    assert refused.status_code == 422 and "the earliest known, after the start" in refused.text
    # Registered, no flags heard of: not known, an override is needed.
    unknown = uuid.uuid4()
    await deliver(clauses, TENANT, ParticipantRegisteredV1(participant_id=unknown, registered_at=datetime.now(UTC),
                                                           latitude=47.5, longitude=1.3))  # fmt: skip
    refused = await place(clauses, second, unknown, "2026-02-01")
    assert refused.status_code == 422 and "not known to be clause-eligible" in refused.text
    assert refused.json()["flags_computed_on"] is None


async def test_a_hire_is_placed_with_the_eligibility_at_its_start(clauses_pg):
    clauses = clauses_pg
    lot, *_ = await lots(clauses, 1)
    was, becomes, early = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for pid, before, after in ((was, True, False), (becomes, False, True), (early, True, False)):
        await deliver(clauses, TENANT, profile(pid, before, JAN_10))
        await deliver(clauses, TENANT, profile(pid, after, MAR_01))
    await deliver(clauses, TENANT, hire(was, lot, date(2026, 2, 2)))
    await deliver(clauses, TENANT, hire(becomes, lot, date(2026, 2, 2)))
    await deliver(clauses, TENANT, hire(early, lot, date(2025, 12, 1)))  # before every computation
    by_person = {p["participant_id"]: p for p in await placements(clauses, lot)}
    assert (by_person[str(was)]["eligible"], by_person[str(was)]["eligibility_computed_on"]) == (True, "2026-01-10")
    assert by_person[str(becomes)]["eligible"] is False
    assert by_person[str(early)]["eligible"] is True
    assert (await clauses.declare(lot, str(was), "2026-03", 35)).status_code == 201
    waiting = await clauses.declare(lot, str(becomes), "2026-03", 35)
    assert waiting.status_code == 409  # eligible now, not at the start: a facilitator decides
    url = f"/api/v1/clauses/placements/{by_person[str(becomes)]['id']}/override"
    overridden = await clauses.client.post(url, json={"reason": "avis du comité"}, headers=clauses.facilitator())
    assert overridden.status_code == 200, overridden.text
    assert (await clauses.declare(lot, str(becomes), "2026-03", 35)).status_code == 201
    # A later profile event changes nothing for a start before it, nor for an override.
    for pid in (was, becomes):
        await deliver(clauses, TENANT, profile(pid, False, date(2026, 4, 1)))
    after = {p["participant_id"]: p for p in await placements(clauses, lot)}
    assert after[str(was)]["eligible"] is True and after[str(becomes)]["override_reason"] == "avis du comité"


async def placements(clauses, lot: str) -> list[dict]:
    response = await clauses.client.get(f"/api/v1/clauses/lots/{lot}/placements", headers=clauses.headers())
    return response.json()["items"]


async def answers(clauses, lots_: list[str], pid, hire_lot: str) -> dict:
    """What clauses answers for the person: placements starting on several dates, the hire's placement,
    the latest flags and sex it keeps, its history rows."""
    out = {}
    for lot, start_date in zip(lots_, ("2025-12-01", "2026-01-31", "2026-02-15", "2026-03-20"), strict=True):
        response = await place(clauses, lot, pid, start_date)
        body = response.json()  # the flags used: on the placement, or named by the refusal
        out[start_date] = (response.status_code, body.get("eligibility_computed_on") or body.get("flags_computed_on"))
    (hired,) = [p for p in await placements(clauses, hire_lot) if p["participant_id"] == str(pid)]
    out["hire"] = (hired["eligible"], hired["eligibility_computed_on"])
    async with clauses.app.state.sessionmaker() as session:
        known = await get_known(session, TENANT, pid)
        rows = await session.execute(
            sa.select(participant_flags.c.computed_on, participant_flags.c.clause_eligible)
            .where(participant_flags.c.tenant == TENANT, participant_flags.c.participant_id == pid)
            .order_by(participant_flags.c.computed_on)
        )
        out["history"] = [tuple(r) for r in rows]
    out["latest"] = (known["clause_eligible"], known["flags_computed_on"], known["flags"]["rsa"], known["sex"])
    return out


@pytest.fixture(params=["postgresql", "sqlite"])
def either(request):
    """The service on PostgreSQL, and on SQLite (the embedded default: timestamps stored as text)."""
    return request.getfixturevalue("clauses_pg" if request.param == "postgresql" else "clauses")


async def test_redelivered_and_out_of_order_profile_events_give_the_same_answers(either):
    clauses = either
    pid_in_order, pid_shuffled = uuid.uuid4(), uuid.uuid4()
    # Two computations on 31 January (the later one, at 10:30 UTC — sent as 08:30 at UTC-2 —, corrects
    # the one of 09:00 UTC), then 1 March.
    events = [
        ("jan-10", True, JAN_10, None, "F"),
        ("jan-31 earlier", True, date(2026, 1, 31), datetime(2026, 1, 31, 9, tzinfo=UTC), "F"),
        (
            "jan-31 later",
            False,
            date(2026, 1, 31),
            datetime(2026, 1, 31, 8, 30, tzinfo=timezone(-timedelta(hours=2))),
            "M",
        ),
        ("mar-01", True, MAR_01, None, None),
    ]
    results = []
    for pid, order in ((pid_in_order, [0, 1, 2, 3]), (pid_shuffled, [3, 2, 0, 2, 1, 3, 0])):
        own_lots = await lots(clauses, 5)
        hire_lot = own_lots.pop()
        await deliver(clauses, TENANT, hire(pid, hire_lot, date(2026, 2, 2)))  # the hire before any flags
        envelopes = {}
        for i in order:  # a repeated index: the same envelope delivered again
            _, eligible, on, changed_at, sex = events[i]
            data = profile(pid, eligible, on, changed_at, sex)
            envelopes[i] = await deliver(clauses, TENANT, data, envelopes.get(i))
        results.append(await answers(clauses, own_lots, pid, hire_lot))
    in_order, shuffled = results
    assert in_order == shuffled
    assert in_order == {
        "2025-12-01": (201, "2026-01-10"),  # before every computation: the earliest
        "2026-01-31": (422, "2026-01-31"),  # that day's last computation (10:30 UTC) is not eligible
        "2026-02-15": (422, "2026-01-31"),
        "2026-03-20": (201, "2026-03-01"),
        "hire": (False, "2026-01-31"),
        "history": [(JAN_10, True), (date(2026, 1, 31), False), (MAR_01, True)],
        "latest": (True, MAR_01, True, "M"),  # sex from the last event that gave one
    }


async def test_the_history_is_per_tenant_and_erased_with_the_person(clauses_pg):
    clauses = clauses_pg
    pid = uuid.uuid4()
    (lot,) = await lots(clauses, 1)
    await deliver(clauses, TENANT, profile(pid, True, JAN_10))
    await deliver(clauses, TENANT, profile(pid, False, MAR_01))
    await deliver(clauses, OTHER, profile(pid, False, JAN_10))  # the same id in another territory
    (other_lot,) = [lot["id"] for lot in (await clauses.market(OTHER, lots=[lot_body(1)]))["lots"]]
    assert (await place(clauses, lot, pid, "2026-02-01")).status_code == 201
    assert (await place(clauses, other_lot, pid, "2026-02-01", headers=clauses.headers(OTHER))).status_code == 422
    assert await count(clauses.app, participant_flags) == 3
    await deliver(clauses, TENANT, ParticipantErasedV1(participant_id=pid, erased_at=datetime.now(UTC)))
    async with clauses.app.state.sessionmaker() as session:
        left = (await session.execute(sa.select(participant_flags.c.tenant))).scalars().all()
    assert left == [OTHER]  # the person's history is gone here; the other territory's stays
    assert await count(clauses.app, known_participants) == 1


async def test_the_migration_starts_each_history_with_the_flags_known_so_far(postgres):
    url = await postgres.create("clauses")
    spec = build_spec()
    config = alembic_config(spec.migrations, url)
    await asyncio.to_thread(command.upgrade, config, "0004")
    pid, registered_at = uuid.uuid4(), datetime(2026, 1, 2, 8, tzinfo=UTC)
    engine = create_async_engine(url)
    flags = profile(pid, True, JAN_10).flags.model_dump(mode="json")
    async with engine.begin() as conn:
        await conn.execute(
            known_participants.insert(),
            [
                {"tenant": TENANT, "participant_id": pid, "registered_at": registered_at, "clause_eligible": True,
                 "flags_computed_on": JAN_10, "flags": flags, "sex": "F"},
                {"tenant": TENANT, "participant_id": uuid.uuid4(), "registered_at": registered_at,  # no flags yet
                 "clause_eligible": None, "flags_computed_on": None, "flags": None, "sex": None},
            ],
        )  # fmt: skip
    await asyncio.to_thread(command.upgrade, config, "head")
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(participant_flags))).all()
    await engine.dispose()
    assert [(r.tenant, r.participant_id, r.computed_on, r.clause_eligible, r.flags, r.changed_at) for r in rows] == [
        (TENANT, pid, JAN_10, True, flags, registered_at)
    ]
    # The service then runs on that database as on any other.
    clauses, ctx = await start(Settings(database_url=url, run_background_workers=False))
    try:
        (lot,) = await lots(clauses, 1)
        await deliver(clauses, TENANT, profile(pid, False, MAR_01))
        placed = await place(clauses, lot, pid, "2026-02-01")
        assert placed.status_code == 201 and placed.json()["eligibility_computed_on"] == "2026-01-10"
    finally:
        await clauses.client.aclose()
        await ctx.__aexit__(None, None, None)
