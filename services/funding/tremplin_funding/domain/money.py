"""Money: Decimal, rounded half-up to the cent (DOMAIN.md). The largest-remainder split."""

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def to_cent(value: Decimal) -> Decimal:
    """Half-up to the cent: 0.005 → 0.01, −0.005 → −0.01 (away from zero, like half-up on the magnitude)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def shares_sum_to_100(shares: Sequence[Decimal]) -> bool:
    return sum(shares, Decimal(0)) == HUNDRED


def split(total: Decimal, shares: Sequence[Decimal]) -> list[Decimal]:
    """Split `total` (to the cent) by `shares` (percentages summing to 100) with the largest remainder
    method: every part is first cut down to the cent of its exact share, then the cents left over go,
    one each, to the parts with the largest cut-off remainders (ties: the earlier share). The parts
    always sum exactly to the total and none is a cent or more away from its exact share.
    A negative total (an adjustment) is split like its magnitude, then negated."""
    if not shares:
        raise ValueError("at least one share")
    if not shares_sum_to_100(shares):
        raise ValueError("shares must sum to 100")
    total = to_cent(total)
    if total < 0:
        return [-part for part in split(-total, shares)]
    exact = [total * Decimal(share) / HUNDRED for share in shares]
    parts = [value.quantize(CENT, rounding=ROUND_DOWN) for value in exact]
    left = int((total - sum(parts, Decimal(0))) / CENT)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += CENT
    return parts
