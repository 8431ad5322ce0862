"""Individual aids (DOMAIN.md §Funding): a monthly amount for at most N months, one payment per month.

A monthly payment follows the disbursement lifecycle, an explicit table: prepared (by a fund manager,
committed against the envelope) → approved (by a funder who did not prepare it: four-eyes) → paid
(the payer's treasury made the transfer), or prepared → rejected (released; the month may be prepared
again). Rejected payments do not count against the cap."""

from typing import Literal, get_args

AidPaymentStatus = Literal["prepared", "approved", "paid", "rejected"]
AID_PAYMENT_STATUSES: tuple[str, ...] = get_args(AidPaymentStatus)
TRANSITIONS: dict[str, frozenset[str]] = {
    "prepared": frozenset({"approved", "rejected"}),
    "approved": frozenset({"paid"}),
    "paid": frozenset(),
    "rejected": frozenset(),
}
COUNTED: frozenset[str] = frozenset({"prepared", "approved", "paid"})  # months used against the cap


class AidCapReached(Exception):
    pass


class AlreadyPaidThatMonth(Exception):
    pass


class IllegalAidTransition(Exception):
    def __init__(self, from_state: str, to_state: str) -> None:
        super().__init__(f"an aid payment cannot go from {from_state} to {to_state}")
        self.from_state, self.to_state = from_state, to_state
        self.allowed = allowed_from(from_state)


def allowed_from(state: str) -> list[str]:
    return sorted(TRANSITIONS.get(state, ()))


def check_transition(from_state: str, to_state: str) -> None:
    if to_state not in TRANSITIONS.get(from_state, ()):
        raise IllegalAidTransition(from_state, to_state)


def check_aid_payment(counted_months: list[str], month: str, max_months: int) -> None:
    """`counted_months`: the months of the beneficiary's payments that are not rejected."""
    if month in counted_months:
        raise AlreadyPaidThatMonth(f"the aid of {month} is already prepared or paid")
    if len(counted_months) >= max_months:
        raise AidCapReached(f"the aid is capped at {max_months} monthly payments, all prepared or paid")
