"""A participant's registered and profile_changed events of one consumer batch are folded into one row
write (projection.fold): the candidate that results — row and ranking index — must be the one that
writing them one event per transaction gives, whatever the mix, the order and what existed before."""

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.consumed import consume, event
from tremplin_matching.adapters.orm import candidates
from tremplin_matching.adapters.projection import fold
from tremplin_matching.config import Settings
from tremplin_matching.main import build_spec
from tremplin_shared.events import ParticipantErasedV1, ParticipantRegisteredV1

from .test_candidate_profile import profile

SPEC = build_spec(Settings())
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def make(kind: str, pid: uuid.UUID, n: int):
    """Event number n of the scenario: its values differ from every other's, so an order mistake shows."""
    at = T0 + timedelta(hours=n)
    if kind == "registered":
        return ParticipantRegisteredV1(participant_id=pid, registered_at=at, latitude=45 + n / 10, longitude=1 + n / 10,
                                       skills=[f"K{2200 + n}"])  # fmt: skip
    if kind == "profile":
        return profile(pid, changed_at=at, latitude=46 + n / 10, longitude=2 + n / 10, skills=[f"F{1700 + n}"],
                       wishes=[f"F{1800 + n}"], max_travel_km=float(n), weekly_hours_wanted=float(10 + n % 30),
                       consent_matching=n % 2 == 0, active=n % 3 != 0)  # fmt: skip
    return ParticipantErasedV1(participant_id=pid, erased_at=at)


KINDS = st.sampled_from(["registered", "profile", "registered", "profile", "erased"])
SCENARIO = st.tuples(
    st.lists(st.tuples(st.integers(0, 2), KINDS.filter(lambda k: k != "erased")), max_size=4),  # before the batch
    st.lists(st.tuples(st.integers(0, 2), KINDS), min_size=1, max_size=10),  # the batch
)


async def rows_of(app, tenant: str) -> dict:
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(candidates).where(candidates.c.tenant == tenant))).mappings().all()
    indexed = app.state.ranking_index.contains_candidate
    kept = [{k: v for k, v in r.items() if k not in ("tenant", "updated_at")} for r in rows]
    return {r["participant_id"]: (r, indexed(tenant, r["participant_id"])) for r in kept}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=SCENARIO)
async def test_a_folded_batch_writes_what_one_event_at_a_time_writes(matching_app, scenario):
    before, batch = scenario
    pids = [uuid.uuid4() for _ in range(3)]
    one_by_one, folded = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"  # same people, two territories
    for tenant in (one_by_one, folded):
        for n, (who, kind) in enumerate(before):
            await consume(matching_app, SPEC, [event(tenant, make(kind, pids[who], n))])
    events = [make(kind, pids[who], 100 + n) for n, (who, kind) in enumerate(batch)]
    for data in events:
        await consume(matching_app, SPEC, [event(one_by_one, data)])
    await consume(matching_app, SPEC, [event(folded, data) for data in events])
    assert await rows_of(matching_app, folded) == await rows_of(matching_app, one_by_one)


def test_a_registration_and_its_profile_fold_into_one_row():
    pid = uuid.uuid4()
    reg, prof = event("indre", make("registered", pid, 1)), event("indre", make("profile", pid, 2))
    [(tenant, row, fields)] = fold([reg, prof])
    assert tenant == "indre"
    assert row["registered_at"] == T0 + timedelta(hours=1)  # the registration's; the profile's only inserts
    assert (row["latitude"], row["skills"], row["max_travel_km"]) == (46.2, ["F1702"], 2.0)  # the profile's
    assert "registered_at" in fields and "max_travel_km" in fields
