"""Netting an overpayment against what the same beneficiary is next owed (DOMAIN.md §Funding).

A credit transfer cannot be negative: an approved negative adjustment (a convention's disbursement
whose total is below zero — the beneficiary was overpaid) is deducted from the next payments of the
same convention. For one creditor (one convention), with its payments (approved positive totals) and
its outstanding negatives (signed, below zero), both in the order they are settled:

- each negative is absorbed, oldest first, by the payments, oldest first, as far as they go;
- each payment is transferred for what is left of it after the deductions, never below zero;
- what is not absorbed stays outstanding for the next batch.

So, per creditor, Σ transfers + Σ remaining outstanding = Σ payments + Σ negatives, to the cent, with
no transfer below zero and no remaining balance above zero; and either nothing is left outstanding or
nothing is transferred. Netting is per convention — the transfer's creditor and the unit whose total
the funder parts are derived from — and `offset_parts` derives the funder parts of each deduction.
"""

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .money import split, to_cent

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Offset:
    """`amount` (> 0) of the negative adjustment `negative` deducted from the payment `payment`."""

    negative: Hashable
    payment: Hashable
    amount: Decimal


@dataclass(frozen=True)
class Netting:
    transfers: dict  # payment -> amount transferred (>= 0), for every payment, in order
    offsets: tuple[Offset, ...]  # in the order they were made
    outstanding: dict  # negative -> what remains of it (<= 0), for every negative, in order


def net(payments: Sequence[tuple[Hashable, Decimal]], negatives: Sequence[tuple[Hashable, Decimal]]) -> Netting:
    """The netting of ONE creditor: `payments` [(id, amount > 0)], `negatives` [(id, outstanding < 0)]."""
    left = {key: to_cent(amount) for key, amount in payments}
    if any(amount <= 0 for amount in left.values()):
        raise ValueError("a payment is positive")
    owed = {key: to_cent(amount) for key, amount in negatives}
    if any(amount >= 0 for amount in owed.values()):
        raise ValueError("an outstanding negative adjustment is below zero")
    offsets: list[Offset] = []
    order = [key for key, _ in payments]
    at = 0
    for negative in owed:
        while owed[negative] < 0 and at < len(order):
            payment = order[at]
            taken = min(-owed[negative], left[payment])
            if taken > 0:
                offsets.append(Offset(negative, payment, taken))
                owed[negative] += taken
                left[payment] -= taken
            if left[payment] == 0:
                at += 1
    return Netting(left, tuple(offsets), owed)


def net_by_creditor(
    payments: Sequence[tuple[Hashable, Hashable, Decimal]], negatives: Sequence[tuple[Hashable, Hashable, Decimal]]
) -> dict[Hashable, Netting]:
    """`net` for each creditor: payments and negatives as (creditor, id, amount). A creditor with only
    negatives keeps them all outstanding."""
    creditors = list(dict.fromkeys([c for c, _, _ in payments] + [c for c, _, _ in negatives]))
    return {
        creditor: net(
            [(k, a) for c, k, a in payments if c == creditor], [(k, a) for c, k, a in negatives if c == creditor]
        )
        for creditor in creditors
    }


def offset_parts(total: Decimal, shares: Sequence[Decimal], absorbed_before: Decimal, amount: Decimal) -> list[Decimal]:
    """The funder parts (negative) of deducting `amount` more of a negative adjustment of `total` (< 0)
    of which `absorbed_before` (>= 0) was already deducted: split(−after) − split(−before), each by
    the largest remainder like the adjustment itself. The parts sum to −amount, and the parts of all
    the deductions of the adjustment, once it is wholly absorbed, sum per funder to its own parts."""
    before, after = to_cent(absorbed_before), to_cent(absorbed_before) + to_cent(amount)
    if before < 0 or amount <= 0 or after > -to_cent(total):
        raise ValueError("a deduction is positive and at most what is left of the adjustment")
    return [a - b for a, b in zip(split(-after, shares), split(-before, shares), strict=True)]
