"""The contribution au développement de l'emploi (CDE) of one EBE worker for one month, DOMAIN.md §Funding:

    weekly hours × 52 ÷ 12 × SMIC hourly rate of that month × CDE rate × days present ÷ days in the month

rounded half-up to the cent. Days present are the calendar days of the month between the worker's
start and end (both included) that also lie in the convention's period.

A month *across a SMIC change* is a month in which a new SMIC value takes effect on a day other than
the 1st: its present days are counted separately at each rate in force on that day, and the month's
amount is Σ (weekly hours × 52 ÷ 12 × SMIC_i × CDE rate × days_i ÷ days in the month), computed
exactly and rounded once, at the end. A change on the 1st simply gives the month its new rate.

Weekly hours are dated the same way: a worker's hours history says from which day each value is in
force, and every present day counts at the hours in force on that day — a change mid-month prorates
the month by days, Σ (hours_i × 52 ÷ 12 × SMIC_i × CDE rate × days_i ÷ days in the month) over the
days of equal hours and SMIC, rounded once.
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from .money import to_cent

CDE_RATE_MIN = Decimal("0.53")
CDE_RATE_MAX = Decimal("1.02")
MAX_WEEKLY_HOURS = Decimal(35)
WEEKS_PER_YEAR = Decimal(52)
MONTHS_PER_YEAR = Decimal(12)


@dataclass(frozen=True)
class SmicRate:
    valid_from: date
    hourly: Decimal


# Shipped with the service (DOMAIN.md): later values are added through the API as they are published.
DEFAULT_SMIC = (SmicRate(date(2024, 1, 1), Decimal("11.65")), SmicRate(date(2024, 11, 1), Decimal("11.88")))


@dataclass(frozen=True)
class HoursFrom:
    """A worker's weekly hours in force from `valid_from` (until the next change)."""

    valid_from: date
    weekly_hours: Decimal


class NoSmicRate(Exception):
    """No SMIC value is known for a day the worker is present."""


@dataclass(frozen=True)
class Period:
    """A calendar month, "YYYY-MM"."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Period":
        year, sep, month = text.partition("-")
        if not sep or len(year) != 4 or len(month) != 2 or not (year.isdigit() and month.isdigit()):
            raise ValueError("expected YYYY-MM")
        if not 1 <= int(month) <= 12 or int(year) < 1:
            raise ValueError("expected YYYY-MM with a month from 01 to 12")
        return cls(int(year), int(month))

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def last(self) -> date:
        return date(self.year, self.month, self.days)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def check_cde_rate(rate: Decimal) -> None:
    if not CDE_RATE_MIN <= rate <= CDE_RATE_MAX:
        raise ValueError(f"the CDE rate must lie in [{CDE_RATE_MIN}, {CDE_RATE_MAX}]")


def present(period: Period, *spans: tuple[date | None, date | None]) -> tuple[date, date] | None:
    """The first and last day of the month inside every (start, end) span (None: open); None if empty."""
    first, last = period.first, period.last
    for start, end in spans:
        if start is not None and start > first:
            first = start
        if end is not None and end < last:
            last = end
    return (first, last) if first <= last else None


def days_by_rate(first: date, last: date, table: Sequence[SmicRate]) -> list[tuple[Decimal, int]]:
    """[(SMIC hourly rate, number of days)] over [first, last], in date order."""
    rates = sorted(table, key=lambda r: r.valid_from)
    if not rates or rates[0].valid_from > first:
        raise NoSmicRate(f"no SMIC value known on {first}")
    segments: list[tuple[Decimal, int]] = []
    for i, rate in enumerate(rates):
        upto = rates[i + 1].valid_from - timedelta(days=1) if i + 1 < len(rates) else last
        start, end = max(first, rate.valid_from), min(last, upto)
        if start <= end:
            segments.append((rate.hourly, (end - start).days + 1))
    return segments


def hours_in(first: date, last: date, weekly_hours: Decimal, history: Sequence[HoursFrom]) -> tuple[HoursFrom, ...]:
    """The hours in force over [first, last]: the value in force on `first` (dated `first`), then every
    change inside the span. `weekly_hours` is in force before the first change of the history (and
    throughout when there is none)."""
    changes = sorted(history, key=lambda h: h.valid_from)
    current = Decimal(weekly_hours)
    for change in changes:
        if change.valid_from <= first:
            current = Decimal(change.weekly_hours)
    result = [HoursFrom(first, current)]
    for change in changes:
        if first < change.valid_from <= last and Decimal(change.weekly_hours) != result[-1].weekly_hours:
            result.append(HoursFrom(change.valid_from, Decimal(change.weekly_hours)))
    return tuple(result)


def _merge(pairs: list[tuple[Decimal, int]]) -> tuple[tuple[Decimal, int], ...]:
    """Consecutive (value, days) of the same value as one."""
    merged: list[tuple[Decimal, int]] = []
    for value, days in pairs:
        if merged and merged[-1][0] == value:
            merged[-1] = (value, merged[-1][1] + days)
        else:
            merged.append((value, days))
    return tuple(merged)


@dataclass(frozen=True)
class CdeLine:
    amount: Decimal
    days_present: int
    segments: tuple[tuple[Decimal, int], ...]  # (SMIC hourly rate, days) the amount was computed from
    hours: tuple[tuple[Decimal, int], ...] = ()  # (weekly hours, days) the amount was computed from


def monthly_cde(
    period: Period,
    weekly_hours: Decimal,
    cde_rate: Decimal,
    table: Sequence[SmicRate],
    worker_span: tuple[date | None, date | None],
    convention_span: tuple[date | None, date | None] = (None, None),
    hours: Sequence[HoursFrom] = (),
) -> CdeLine:
    """The CDE of one worker for `period`; a zero line when the worker is not present that month.
    `hours`: the worker's dated hours (`weekly_hours` before the first of them, or throughout)."""
    span = present(period, worker_span, convention_span)
    if span is None:
        return CdeLine(Decimal("0.00"), 0, ())
    first, last = span
    by_rate = days_by_rate(first, last, table)
    changes = hours_in(first, last, weekly_hours, hours)
    # the days of equal SMIC and hours: walk both, in date order
    rate_spans, day = [], first
    for smic, days in by_rate:
        rate_spans.append((day, day + timedelta(days=days - 1), smic))
        day += timedelta(days=days)
    hour_spans = [
        (
            h.valid_from,
            (changes[i + 1].valid_from - timedelta(days=1)) if i + 1 < len(changes) else last,
            h.weekly_hours,
        )
        for i, h in enumerate(changes)
    ]
    pieces: list[tuple[Decimal, Decimal, int]] = []  # (SMIC, weekly hours, days)
    i = j = 0
    while i < len(rate_spans) and j < len(hour_spans):
        start, end = max(rate_spans[i][0], hour_spans[j][0]), min(rate_spans[i][1], hour_spans[j][1])
        if start <= end:
            pieces.append((rate_spans[i][2], hour_spans[j][2], (end - start).days + 1))
        if rate_spans[i][1] < hour_spans[j][1]:
            i += 1
        else:
            j += 1
    rate = Decimal(cde_rate)
    exact = sum(
        (h * WEEKS_PER_YEAR / MONTHS_PER_YEAR * smic * rate * days / period.days for smic, h, days in pieces),
        Decimal(0),
    )
    return CdeLine(
        to_cent(exact),
        sum(days for *_, days in pieces),
        _merge([(smic, days) for smic, _, days in pieces]),
        _merge([(h, days) for _, h, days in pieces]),
    )
