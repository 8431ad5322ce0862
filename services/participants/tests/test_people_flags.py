"""Computed flags (DOMAIN.md §Programmes and publics) at their boundaries, and the SQL twin used by
the list filter agreeing with the pure rules."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tremplin_participants.adapters.orm import participants
from tremplin_participants.adapters.repository import flag_condition
from tremplin_participants.domain.flags import (
    EDUCATION_LEVELS,
    FLAG_NAMES,
    Situation,
    age_on,
    anniversary,
    compute_flags,
    latest_start,
)
from tremplin_participants.domain.participant import Participant, search_key

BORN = date(1990, 6, 15)


def flags(at: date, birth_date: date = BORN, **situation):
    return compute_flags(Situation(**situation), birth_date, at)


# ------------------------------------------------------------------------------- unemployment length
@pytest.mark.parametrize(
    ("since", "at", "long_term", "very_long"),
    [
        (date(2025, 3, 10), date(2026, 3, 9), False, False),  # the day before 12 months
        (date(2025, 3, 10), date(2026, 3, 10), True, False),  # exactly 12 months
        (date(2024, 3, 10), date(2026, 3, 9), True, False),  # the day before 24 months
        (date(2024, 3, 10), date(2026, 3, 10), True, True),  # exactly 24 months
        (date(2025, 1, 31), date(2026, 1, 31), True, False),  # end of month, same day a year later
        (date(2024, 2, 29), date(2025, 2, 28), False, False),  # leap day: not yet on 28 Feb
        (date(2024, 2, 29), date(2025, 3, 1), True, False),  # leap day: 1 March in a common year
        (date(2024, 2, 29), date(2026, 2, 28), True, False),
        (date(2024, 2, 29), date(2026, 3, 1), True, True),
        (date(2024, 2, 29), date(2028, 2, 29), True, True),
        (date(2026, 5, 1), date(2026, 3, 1), False, False),  # unemployed after the date asked
    ],
)
def test_long_and_very_long_term_unemployment(since, at, long_term, very_long):
    result = flags(at, unemployed_since=since)
    assert (result.long_term_unemployed, result.very_long_term_unemployed) == (long_term, very_long)
    assert result.clause_eligible is long_term  # nothing else makes this person eligible
    assert result.computed_on == at


def test_no_unemployment_date_is_not_long_term():
    result = flags(date(2026, 1, 1), unemployed_since=None)
    assert not result.long_term_unemployed and not result.very_long_term_unemployed


# -------------------------------------------------------------------------------------------- ages
@pytest.mark.parametrize(
    ("born", "at", "youth", "senior"),
    [
        (date(2000, 6, 15), date(2026, 6, 14), True, False),  # 25, the day before the 26th birthday
        (date(2000, 6, 15), date(2026, 6, 15), False, False),  # 26 on the birthday: no longer youth
        (date(1976, 6, 15), date(2026, 6, 14), False, False),  # 49
        (date(1976, 6, 15), date(2026, 6, 15), False, True),  # 50 on the birthday
        (date(2000, 2, 29), date(2026, 2, 28), True, False),  # born on a leap day: 25 on 28 Feb
        (date(2000, 2, 29), date(2026, 3, 1), False, False),  # 26 on 1 March of a common year
        (date(2004, 2, 29), date(2030, 2, 28), True, False),
        (date(1976, 2, 29), date(2026, 2, 28), False, False),  # 49
        (date(1976, 2, 29), date(2026, 3, 1), False, True),  # 50
        (date(1976, 2, 29), date(2028, 2, 29), False, True),
    ],
)
def test_youth_and_senior_at_the_exact_birthday(born, at, youth, senior):
    result = flags(at, birth_date=born)
    assert (result.youth, result.senior) == (youth, senior)


def test_age_on_counts_full_years():
    assert age_on(date(2000, 2, 29), date(2001, 2, 28)) == 0
    assert age_on(date(2000, 2, 29), date(2001, 3, 1)) == 1
    assert age_on(date(2000, 2, 29), date(2004, 2, 29)) == 4
    assert age_on(date(1984, 3, 12), date(2026, 3, 11)) == 41
    assert age_on(date(1984, 3, 12), date(2026, 3, 12)) == 42


# --------------------------------------------------------------------------------- clause eligibility
AT = date(2026, 6, 1)
YOUNG = date(2004, 1, 1)  # 22
MIDDLE = date(1990, 1, 1)  # 36
OLD = date(1970, 1, 1)  # 56


@pytest.mark.parametrize(
    ("birth_date", "situation", "eligible"),
    [
        (MIDDLE, {}, False),
        (MIDDLE, {"unemployed_since": date(2025, 6, 1)}, True),  # long-term unemployed
        (MIDDLE, {"unemployed_since": date(2025, 6, 2)}, False),
        (MIDDLE, {"rsa": True}, True),
        (MIDDLE, {"rqth": True}, True),
        (MIDDLE, {"siae_employee": True}, True),
        (MIDDLE, {"qpv": True}, False),  # QPV alone is not a clause public
        (YOUNG, {"education_level": "below_cap"}, True),  # youth without qualification
        (YOUNG, {"education_level": "cap_bep"}, False),
        (YOUNG, {"education_level": None}, False),
        (MIDDLE, {"education_level": "below_cap"}, False),  # no qualification but not youth
        (OLD, {"job_seeker_registered": True}, True),  # senior registered as job seeker
        (OLD, {}, False),
        (MIDDLE, {"job_seeker_registered": True}, False),
        (date(1976, 6, 2), {"job_seeker_registered": True}, False),  # 49 the day before their 50th
        (date(1976, 6, 1), {"job_seeker_registered": True}, True),  # 50 that day
    ],
)
def test_clause_eligibility(birth_date, situation, eligible):
    assert flags(AT, birth_date=birth_date, **situation).clause_eligible is eligible


def test_declared_flags_are_passed_through():
    result = flags(AT, rsa=True, rqth=False, qpv=True)
    assert (result.rsa, result.rqth, result.qpv) == (True, False, True)


# ------------------------------------------------------------------------------------------ properties
dates = st.dates(min_value=date(1920, 1, 1), max_value=date(2090, 12, 31))


@given(at=dates, years=st.integers(min_value=1, max_value=60))
def test_latest_start_is_the_exact_threshold_of_the_anniversary_rule(at, years):
    threshold = latest_start(at, years)
    assert anniversary(threshold, years) <= at
    assert anniversary(threshold + timedelta(days=1), years) > at


@given(born=dates, at=dates)
def test_age_changes_only_on_birthdays_and_by_one(born, at):
    age = age_on(born, at)
    assert anniversary(born, age) <= at < anniversary(born, age + 1)
    tomorrow = at + timedelta(days=1)
    assert age_on(born, tomorrow) - age in (0, 1)


situations = st.builds(
    Situation,
    rsa=st.booleans(),
    unemployed_since=st.none() | dates,
    job_seeker_registered=st.booleans(),
    rqth=st.booleans(),
    qpv=st.booleans(),
    education_level=st.none() | st.sampled_from(EDUCATION_LEVELS),
    siae_employee=st.booleans(),
)


@given(situation=situations, born=dates, at=dates)
def test_flags_are_consistent(situation, born, at):
    result = compute_flags(situation, born, at)
    assert not (result.youth and result.senior)
    assert not result.very_long_term_unemployed or result.long_term_unemployed
    assert not result.long_term_unemployed or result.clause_eligible
    assert not (situation.rsa or situation.rqth or situation.siae_employee) or result.clause_eligible


# The list filter computes the flags in SQL: on random people and dates it must select exactly those
# compute_flags says have the flag.
@pytest.fixture(scope="module")
def sqlite_people():
    engine = sa.create_engine("sqlite://")
    participants.metadata.create_all(engine, tables=[participants])
    yield engine
    engine.dispose()


@settings(max_examples=40, deadline=None)
@given(
    people=st.lists(st.tuples(situations, st.dates(date(1940, 1, 1), date(2010, 12, 31))), min_size=1, max_size=15),
    at=st.dates(date(2020, 1, 1), date(2040, 12, 31)),
)
def test_the_sql_flag_filter_agrees_with_compute_flags(sqlite_people, people, at):
    rows, expected = [], {}
    for situation, born in people:
        pid = uuid.uuid4()
        rows.append(
            {"id": pid, "tenant": "t", "first_name": "A", "last_name": "B", "birth_date": born, "sex": "F",
             "latitude": 47.0, "longitude": 1.0, "skills": [], "registered_at": datetime(2019, 1, 1, tzinfo=UTC),
             **situation.__dict__}
        )  # fmt: skip
        expected[pid] = compute_flags(situation, born, at)
    with sqlite_people.begin() as conn:
        conn.execute(sa.delete(participants))
        conn.execute(sa.insert(participants), rows)
        for flag in FLAG_NAMES:
            selected = set(conn.execute(sa.select(participants.c.id).where(flag_condition(flag, at))).scalars())
            assert selected == {pid for pid, f in expected.items() if getattr(f, flag)}, flag


def test_search_key_folds_case_accents_and_spaces_and_fits_its_column():
    assert search_key("Dupré", "  Hélène ") == "dupre helene"
    assert search_key("ŒUVRE", "Ōtsuka") == "œuvre otsuka"
    long = Participant(tenant="t", first_name="ﬁ" * 100, last_name="ﬂ" * 100, birth_date=date(1990, 1, 1), sex="F",
                       latitude=47.0, longitude=1.0, skills=[])  # fmt: skip
    assert len(long.search_name) == 201
