"""Publics computed from a participant's situation at a date (DOMAIN.md §Programmes and publics).

Pure functions, no I/O. Durations are counted in calendar anniversaries: "12 months since
unemployed_since" is reached on the same day and month one year later, "age 26" on the 26th
birthday. A 29 February anniversary falls on 1 March in a common year (on 28 February the full
period has not elapsed yet), which is also how `age_on` counts a leap-day birthday.

The list filter (`?flag=`) must agree with these rules inside SQL; `latest_start` gives it the
thresholds: a date d has reached its n-year anniversary at `at` exactly when d <= latest_start(at, n).
"""

from dataclasses import dataclass
from datetime import date

from tremplin_shared.calendar import today_in_france
from tremplin_shared.events.contracts import ParticipantFlags

EDUCATION_LEVELS = ("below_cap", "cap_bep", "bac", "bac_plus_2", "bac_plus_3_or_more")
BELOW_CAP = "below_cap"  # no qualification: below CAP/BEP
FLAG_NAMES = tuple(name for name in ParticipantFlags.model_fields if name != "computed_on")

YOUTH_BELOW_AGE = 26
SENIOR_FROM_AGE = 50
LONG_TERM_YEARS = 1  # 12 months
VERY_LONG_TERM_YEARS = 2  # 24 months


def today() -> date:
    """Today in metropolitan France: the date flags are computed for by default."""
    return today_in_france()


@dataclass(frozen=True)
class Situation:
    """What the flags are computed from, as declared by the participant or their référent."""

    rsa: bool = False
    unemployed_since: date | None = None
    job_seeker_registered: bool = False
    rqth: bool = False
    qpv: bool = False
    education_level: str | None = None
    siae_employee: bool = False


def anniversary(start: date, years: int) -> date:
    """The day `years` full years after `start` (29 February → 1 March in a common year)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February, target year is not a leap year
        return date(start.year + years, 3, 1)


def latest_start(at: date, years: int) -> date:
    """The latest date whose `years`-year anniversary is on or before `at`."""
    try:
        return at.replace(year=at.year - years)
    except ValueError:  # at is 29 February, the year `years` before is common
        return date(at.year - years, 2, 28)


def age_on(birth_date: date, at: date) -> int:
    """Age in full years at `at` (0 before the first birthday; negative before birth)."""
    age = at.year - birth_date.year
    return age if anniversary(birth_date, age) <= at else age - 1


def unemployed_for_years(unemployed_since: date | None, at: date, years: int) -> bool:
    return unemployed_since is not None and anniversary(unemployed_since, years) <= at


def compute_flags(situation: Situation, birth_date: date, at: date) -> ParticipantFlags:
    age = age_on(birth_date, at)
    long_term = unemployed_for_years(situation.unemployed_since, at, LONG_TERM_YEARS)
    youth = age < YOUTH_BELOW_AGE
    senior = age >= SENIOR_FROM_AGE
    clause_eligible = (
        long_term
        or situation.rsa
        or (youth and situation.education_level == BELOW_CAP)
        or situation.rqth
        or (senior and situation.job_seeker_registered)
        or situation.siae_employee
    )
    return ParticipantFlags(
        computed_on=at,
        long_term_unemployed=long_term,
        very_long_term_unemployed=unemployed_for_years(situation.unemployed_since, at, VERY_LONG_TERM_YEARS),
        youth=youth,
        senior=senior,
        rsa=situation.rsa,
        rqth=situation.rqth,
        qpv=situation.qpv,
        clause_eligible=clause_eligible,
    )
