"""The disbursement lifecycle, DOMAIN.md §Funding — an explicit transition table — and the budget check.

prepared → approved → paid, or prepared → rejected. A disbursement that would exceed its fund's
envelope for the year is born `blocked_budget`: it is never approved nor paid, only rejected (which
lets a later run prepare it again once the envelope allows). A *prepared* disbursement rejected is a
funder refusing those amounts: a later run prepares a worker of it again only once their CDE comes
out different. The approver (or rejecter) must be another person than the preparer (four-eyes rule).
"""

from decimal import Decimal
from typing import Literal, get_args

DisbursementStatus = Literal["prepared", "blocked_budget", "approved", "rejected", "paid"]
STATUSES: tuple[str, ...] = get_args(DisbursementStatus)

TRANSITIONS: dict[str, frozenset[str]] = {
    "prepared": frozenset({"approved", "rejected"}),
    "blocked_budget": frozenset({"rejected"}),
    "approved": frozenset({"paid"}),
    "rejected": frozenset(),
    "paid": frozenset(),
}
# The statuses whose amounts count against the envelope (committed) and as already computed by runs.
COMMITTED: frozenset[str] = frozenset({"prepared", "approved", "paid"})
COUNTED_BY_RUNS: frozenset[str] = frozenset({"prepared", "blocked_budget", "approved", "paid"})


class IllegalTransition(Exception):
    def __init__(self, from_state: str, to_state: str) -> None:
        super().__init__(f"a disbursement cannot go from {from_state} to {to_state}")
        self.from_state, self.to_state = from_state, to_state
        self.allowed = allowed_from(from_state)


class SamePerson(Exception):
    """The four-eyes rule: who prepared a disbursement may not approve or reject it."""


def allowed_from(state: str) -> list[str]:
    return sorted(TRANSITIONS.get(state, ()))


def check_transition(from_state: str, to_state: str) -> None:
    if to_state not in TRANSITIONS.get(from_state, ()):
        raise IllegalTransition(from_state, to_state)


def check_four_eyes(preparer: str, decider: str) -> None:
    if preparer == decider:
        raise SamePerson("the person who prepared a disbursement may not approve or reject it")


def within_budget(envelope: Decimal, committed: Decimal, amount: Decimal) -> bool:
    """May `amount` be committed on top of `committed` without exceeding `envelope`? A negative or zero
    amount (an adjustment down) always may."""
    return amount <= 0 or committed + amount <= envelope
