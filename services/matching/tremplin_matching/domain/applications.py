"""The application (positionnement) machine, DOMAIN.md §Matching — an explicit transition table.

proposed → sent → interview → hired | refused; proposed, sent and interview may go to withdrawn;
hired, refused and withdrawn are final. `hired` records start date, contract type and weekly hours
given with the transition, and the employer SIRET and clause lot the offer has at that moment.
"""

from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

ApplicationState = Literal["proposed", "sent", "interview", "hired", "refused", "withdrawn"]
STATES: tuple[str, ...] = get_args(ApplicationState)
INITIAL: ApplicationState = "proposed"

TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"sent", "withdrawn"}),
    "sent": frozenset({"interview", "withdrawn"}),
    "interview": frozenset({"hired", "refused", "withdrawn"}),
    "hired": frozenset(),
    "refused": frozenset(),
    "withdrawn": frozenset(),
}
ACTIVE: frozenset[str] = frozenset(s for s, targets in TRANSITIONS.items() if targets)
FINAL: frozenset[str] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
MAX_WEEKLY_HOURS = 48


class IllegalTransition(Exception):
    def __init__(self, from_state: str, to_state: str) -> None:
        super().__init__(f"an application cannot go from {from_state} to {to_state}")
        self.from_state, self.to_state = from_state, to_state
        self.allowed = allowed_from(from_state)


@dataclass(frozen=True)
class MissingHireFields(Exception):
    """`hired` without what the hire must record: the field paths of what is missing or wrong."""

    errors: tuple[tuple[str, str], ...]  # (field, message)


def allowed_from(state: str) -> list[str]:
    return sorted(TRANSITIONS.get(state, ()))


def check_transition(from_state: str, to_state: str) -> None:
    if to_state not in TRANSITIONS.get(from_state, ()):
        raise IllegalTransition(from_state, to_state)


def check_hire_fields(start_date: date | None, contract_type: str | None, weekly_hours: float | None) -> None:
    errors = []
    if start_date is None:
        errors.append(("start_date", "required when the application goes to hired"))
    if contract_type is None:
        errors.append(("contract_type", "required when the application goes to hired"))
    if weekly_hours is None:
        errors.append(("weekly_hours", "required when the application goes to hired"))
    elif not 0 < weekly_hours <= MAX_WEEKLY_HOURS:
        errors.append(("weekly_hours", f"must be more than 0 and at most {MAX_WEEKLY_HOURS}"))
    if errors:
        raise MissingHireFields(tuple(errors))
