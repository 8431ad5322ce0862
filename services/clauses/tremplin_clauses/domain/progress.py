"""Progress of a lot and of a market (DOMAIN.md §Clauses): required, validated, declared-pending,
rate, and `behind` when validated hours are under 80 % of required × the elapsed share of the period.

The elapsed share on day `on` of a period [start, end] is (on − start) ÷ (end − start) in days,
0 before the start and 1 from the end on (a one-day period is elapsed from its day). A market is
behind when its validated hours are under 80 % of the sum of its lots' expected hours.
"""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

BEHIND_THRESHOLD = Decimal("0.8")
RATE = Decimal("0.0001")
CENT = Decimal("0.01")


def elapsed_share(start: date, end: date, on: date) -> Decimal:
    if on < start:
        return Decimal(0)
    if on >= end:
        return Decimal(1)
    return Decimal((on - start).days) / Decimal((end - start).days)


@dataclass(frozen=True)
class Progress:
    required: Decimal
    validated: Decimal
    declared_pending: Decimal
    expected: Decimal  # required × elapsed share (summed over the lots for a market), to the hundredth
    rate: Decimal  # validated ÷ required, to 4 places (0 when nothing is required)
    behind: bool
    elapsed_share: Decimal | None = None  # for a lot


def _rate(validated: Decimal, required: Decimal) -> Decimal:
    return (validated / required).quantize(RATE, rounding=ROUND_HALF_UP) if required > 0 else Decimal(0)


def lot_progress(
    required: Decimal, validated: Decimal, declared_pending: Decimal, start: date, end: date, on: date
) -> Progress:
    share = elapsed_share(start, end, on)
    expected = required * share
    return Progress(
        required,
        validated,
        declared_pending,
        expected.quantize(CENT, rounding=ROUND_HALF_UP),
        _rate(validated, required),
        validated < BEHIND_THRESHOLD * expected,
        share.quantize(RATE, rounding=ROUND_HALF_UP),
    )


def market_progress(lots: list[tuple[Decimal, Decimal, Decimal, date, date]], on: date) -> Progress:
    """lots: (required, validated, declared_pending, start, end) each."""
    required = sum((lot[0] for lot in lots), Decimal(0))
    validated = sum((lot[1] for lot in lots), Decimal(0))
    pending = sum((lot[2] for lot in lots), Decimal(0))
    expected = sum((lot[0] * elapsed_share(lot[3], lot[4], on) for lot in lots), Decimal(0))
    return Progress(
        required,
        validated,
        pending,
        expected.quantize(CENT, rounding=ROUND_HALF_UP),
        _rate(validated, required),
        validated < BEHIND_THRESHOLD * expected,
    )


def completed(validated: Decimal, required: Decimal) -> bool:
    """A lot is completed once its validated hours reach what is required."""
    return validated >= required
