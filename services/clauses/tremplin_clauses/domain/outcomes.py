"""Where participants are 6 and 12 months after their last clause hours (DOMAIN.md §Clauses report).

The last clause hours of a participant are the last month with validated hours (up to the report's
end); the measure date is the last day of the month 6 (or 12) months later. The participant's status
on that date is given by the latest of their hires (from matching, by start date) and parcours exits
(from participants, by date) on or before it: a hire, or an exit to work or qualifying training
(durable or temporary employment, subsidised contract, business creation, qualifying training),
counts as "in work or qualifying training"; any other exit, or nothing at all, does not. Participants
whose measure date is after `as_of` are not measured yet and are left out of that share.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .hours import add_months, end_of_month

WORK_OR_TRAINING = frozenset(
    {"durable_employment", "temporary_employment", "subsidised_contract", "business_creation", "qualifying_training"}
)
SHARE = Decimal("0.0001")


@dataclass(frozen=True)
class Milestone:
    at: date
    in_work_or_training: bool


def measure_date(last_month: date, months: int) -> date:
    try:
        return end_of_month(add_months(last_month.replace(day=1), months))
    except ValueError:  # past year 9999: never measurable
        return date.max


def status_on(day: date, milestones: list[Milestone]) -> bool:
    """In work or qualifying training on `day`: the latest milestone on or before it decides."""
    known = [m for m in milestones if m.at <= day]
    if not known:
        return False
    return max(known, key=lambda m: m.at).in_work_or_training


@dataclass(frozen=True)
class Share:
    measured: int
    in_work_or_training: int

    @property
    def share(self) -> Decimal | None:
        if not self.measured:
            return None
        return (Decimal(self.in_work_or_training) / Decimal(self.measured)).quantize(SHARE, rounding=ROUND_HALF_UP)


def outcome_share(last_months: dict, milestones: dict, months: int, as_of: date) -> Share:
    """last_months: {participant: last month with validated hours}; milestones: {participant: [Milestone]}."""
    measured = positive = 0
    for participant, last in last_months.items():
        day = measure_date(last, months)
        if day > as_of:
            continue
        measured += 1
        positive += status_on(day, milestones.get(participant, []))
    return Share(measured, positive)
