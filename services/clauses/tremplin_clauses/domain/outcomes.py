"""Where participants are 6 and 12 months after their last clause hours (DOMAIN.md §Clauses report).

Measure date: the last day of the month 6 (12) months after the last month with validated hours; not
measured while it is after `as_of`. In work or training on it only from a situation known to hold then:
a parcours in `employed` or `training` (its latest transition on or before it, no exit since), or a
latest hire on or before it that is open-ended (CDI, EBE CDI) with no end known after its start (an exit
other than `durable_employment`, a move from `employed` to `supported`). Fixed-term hires and exits never count by
themselves: the events carry no contract end or duration, so nothing says they still hold on that date.
"""

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from .hours import add_months, end_of_month

OPEN_ENDED = frozenset({"cdi", "ebe_cdi"})  # contracts that run until an end is known
CURRENT_STATES = frozenset({"employed", "training"})  # parcours states that are work or training
KEEPS_THE_JOB = "durable_employment"  # the one exit kind that does not end an open-ended contract
SHARE = Decimal("0.0001")
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Hire:
    start: date
    contract_type: str


@dataclass(frozen=True)
class Exit:
    at: date
    kind: str
    parcours: Hashable = None


@dataclass(frozen=True)
class Transition:
    """A parcours move; `seq` (the event's time) orders the moves of one parcours on one day."""

    at: date
    parcours: Hashable
    from_state: str
    to_state: str
    exit_kind: str | None = None
    seq: datetime = _NEVER


@dataclass(frozen=True)
class History:
    """What the service knows of one participant's situation over time."""

    hires: tuple[Hire, ...] = ()
    exits: tuple[Exit, ...] = ()
    transitions: tuple[Transition, ...] = ()


def measure_date(last_month: date, months: int) -> date:
    try:
        return end_of_month(add_months(last_month.replace(day=1), months))
    except ValueError:  # past year 9999: never measurable
        return date.max


def _parcours_current(day: date, history: History) -> bool:
    """Some parcours is in `employed` or `training` on `day` (two moves of one parcours on one day with
    the same `seq` cannot be ordered: the one out of work or training is taken, nothing is assumed)."""
    latest: dict[Hashable, Transition] = {}
    for t in sorted(history.transitions, key=lambda t: (t.at, t.seq, t.to_state not in CURRENT_STATES)):
        if t.at <= day:
            latest[t.parcours] = t
    for parcours, t in latest.items():
        exited = any(e.parcours == parcours and t.at <= e.at <= day for e in history.exits)
        if t.to_state in CURRENT_STATES and not exited:
            return True
    return False


def _ends_a_job(start: date, day: date, history: History) -> bool:
    """Something dated after `start` and on or before `day` says an open-ended contract has ended."""
    if any(start < e.at <= day and e.kind != KEEPS_THE_JOB for e in history.exits):
        return True
    return any(
        start < t.at <= day
        and t.from_state == "employed"
        and not (t.to_state == "exited" and t.exit_kind == KEEPS_THE_JOB)
        for t in history.transitions
    )


def _open_ended_hire_runs(day: date, history: History) -> bool:
    """The latest hire on or before `day` is a CDI (or EBE CDI) with no end known since its start."""
    known = [h for h in history.hires if h.start <= day]
    if not known:
        return False
    start = max(h.start for h in known)
    latest = [h for h in known if h.start == start]
    return any(h.contract_type in OPEN_ENDED for h in latest) and not _ends_a_job(start, day, history)


def in_work_or_training_on(day: date, history: History) -> bool:
    return _parcours_current(day, history) or _open_ended_hire_runs(day, history)


@dataclass(frozen=True)
class Share:
    measured: int
    in_work_or_training: int

    @property
    def share(self) -> Decimal | None:
        if not self.measured:
            return None
        return (Decimal(self.in_work_or_training) / Decimal(self.measured)).quantize(SHARE, rounding=ROUND_HALF_UP)


def outcome_share(last_months: dict, histories: dict, months: int, as_of: date) -> Share:
    """last_months: {participant: last month with validated hours}; histories: {participant: History}."""
    measured = positive = 0
    for participant, last in last_months.items():
        day = measure_date(last, months)
        if day > as_of:
            continue
        measured += 1
        positive += in_work_or_training_on(day, histories.get(participant, History()))
    return Share(measured, positive)
