"""Clause hours entries (DOMAIN.md §Clauses): the validation machine and the monthly cap.

An entry is hours of one participant on one lot for one month. It starts `declared`; a facilitator
moves it to `validated` or `rejected` (with a reason), both final. Only validated hours count.
More than 210 hours for one participant in one month, all lots together, is refused: the entries
that count against the cap are every entry of that person and month that is not rejected
(declared ones too, since they may be validated).
"""

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal, get_args

HoursStatus = Literal["declared", "validated", "rejected"]
STATUSES: tuple[str, ...] = get_args(HoursStatus)
INITIAL: HoursStatus = "declared"
TRANSITIONS: dict[str, frozenset[str]] = {
    "declared": frozenset({"validated", "rejected"}),
    "validated": frozenset(),
    "rejected": frozenset(),
}
MONTHLY_CAP = Decimal(210)

FulfilmentMode = Literal[
    "direct_hire",
    "temp_work_etti",
    "temp_work_ett",
    "secondment_ai",
    "secondment_geiq",
    "siae_subcontracting",
    "training",
]
MODES: tuple[str, ...] = get_args(FulfilmentMode)


class IllegalTransition(Exception):
    def __init__(self, from_status: str, to_status: str) -> None:
        super().__init__(f"an hours entry cannot go from {from_status} to {to_status}")
        self.from_status, self.to_status = from_status, to_status
        self.allowed = allowed_from(from_status)


def allowed_from(status: str) -> list[str]:
    return sorted(TRANSITIONS.get(status, ()))


def check_transition(from_status: str, to_status: str) -> None:
    if to_status not in TRANSITIONS.get(from_status, ()):
        raise IllegalTransition(from_status, to_status)


def counts_against_cap(status: str) -> bool:
    return status != "rejected"


@dataclass(frozen=True)
class Entry:
    """What the cap looks at of another entry of the same person and month."""

    id: object
    lot_id: object
    hours: Decimal
    status: str


@dataclass(frozen=True)
class CapExceeded(Exception):
    month: date
    requested: Decimal
    already: Decimal
    others: tuple[Entry, ...]

    @property
    def message(self) -> str:
        return (
            f"{self.requested} h would make {self.already + self.requested} h for this participant in "
            f"{self.month:%Y-%m} across all lots, more than {MONTHLY_CAP} h"
        )


def check_monthly_cap(month: date, requested: Decimal, others: list[Entry]) -> None:
    """Raise CapExceeded when `requested` plus the other entries that count exceed the cap."""
    counted = tuple(e for e in others if counts_against_cap(e.status))
    already = sum((e.hours for e in counted), Decimal(0))
    if already + requested > MONTHLY_CAP:
        raise CapExceeded(month, requested, already, counted)


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def months_between(start: date, end: date) -> list[date]:
    """The first days of every month from start's to end's, both included."""
    months, current = [], first_of_month(start)
    while current <= end:
        months.append(current)
        current = add_months(current, 1)
    return months


def add_months(day: date, months: int) -> date:
    """The same day `months` later, on the last day of the month when it has fewer days."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, days_in_month(year, month + 1)))


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def end_of_month(day: date) -> date:
    return day.replace(day=days_in_month(day.year, day.month))


def check_month_in_period(month: date, start: date, end: date, placement_start: date | None = None) -> str | None:
    """Why hours may not be entered for `month` on a lot of [start, end] (None when they may)."""
    if month < first_of_month(start) or month > end:
        return f"{month:%Y-%m} is outside the lot's period ({start} to {end})"
    if placement_start is not None and month < first_of_month(placement_start):
        return f"{month:%Y-%m} is before the placement's start ({placement_start})"
    return None
