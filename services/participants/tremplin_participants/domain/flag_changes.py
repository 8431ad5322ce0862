"""When time alone changes a participant's flags (pure rules, no I/O).

The flags of `flags.compute_flags` depend on the date through four thresholds only: the 26th and
50th birthdays (`youth` ends, `senior` starts) and the first and second anniversaries of
`unemployed_since` (`long_term_unemployed`, `very_long_term_unemployed`; `clause_eligible` may
follow). Between two thresholds the flags of an unchanged situation stay the same, so the days on
which they change are among those four dates.

`plan` walks those dates from the day the flags other services hold were computed up to a given
day, and says which computations to send (one per day a flag changed, dated that day, oldest
first), what stands afterwards, and the next day the flags will change (`due_on`, None: never).
"""

from dataclasses import dataclass, field
from datetime import date

from tremplin_shared.events.contracts import ParticipantFlags

from .flags import (
    LONG_TERM_YEARS,
    SENIOR_FROM_AGE,
    VERY_LONG_TERM_YEARS,
    YOUTH_BELOW_AGE,
    Situation,
    anniversary,
    compute_flags,
)


def thresholds(situation: Situation, birth_date: date) -> list[date]:
    """The days on which the flags of this situation may change, in order."""
    days = {anniversary(birth_date, YOUTH_BELOW_AGE), anniversary(birth_date, SENIOR_FROM_AGE)}
    if situation.unemployed_since is not None:
        days |= {anniversary(situation.unemployed_since, n) for n in (LONG_TERM_YEARS, VERY_LONG_TERM_YEARS)}
    return sorted(days)


def same_flags(a: ParticipantFlags, b: ParticipantFlags) -> bool:
    """The same publics, whatever the day each was computed on."""
    return a.model_dump(exclude={"computed_on"}) == b.model_dump(exclude={"computed_on"})


@dataclass(frozen=True)
class Plan:
    send: list[ParticipantFlags] = field(default_factory=list)  # oldest first, each dated its day
    standing: ParticipantFlags | None = None  # what other services hold once `send` is sent
    due_on: date | None = None  # the next day (after `until`) the flags change; None: never


def plan(situation: Situation, birth_date: date, held: ParticipantFlags, until: date) -> Plan:
    """What to send so that other services, holding `held` (computed on `held.computed_on`, the
    situation unchanged since), learn every change of the flags up to `until`, each on its day.

    Idempotent: planning again from the resulting `standing` up to the same day sends nothing."""
    since, current, send = held.computed_on, held, []
    days = thresholds(situation, birth_date)
    for day in days:
        if since < day <= until and not same_flags(computed := compute_flags(situation, birth_date, day), current):
            send.append(computed)
            current = computed
    if since <= until and not same_flags(now := compute_flags(situation, birth_date, until), current):
        # `held` did not match the situation (never so when every write records what it sent): the
        # flags of `until` are sent, dated that day, rather than left wrong.
        send.append(now)
        current = now
    after = max(since, until)
    due_on = next(
        (d for d in days if d > after and not same_flags(compute_flags(situation, birth_date, d), current)), None
    )
    return Plan(send, current, due_on)


def next_change(situation: Situation, birth_date: date, held: ParticipantFlags) -> date | None:
    """The next day after `held.computed_on` on which the flags of this situation differ from `held`."""
    return plan(situation, birth_date, held, held.computed_on).due_on
