"""The optional calculator of a lot's required insertion hours (DOMAIN.md §Clauses):

required hours = amount excl. tax × labour share ÷ hourly labour cost × clause rate, rounded
(half-up, to the hour). Shares and rates are fractions (0.07 for 7 %).
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HOUR = Decimal("1")


@dataclass(frozen=True)
class Calculation:
    amount_excl_tax: Decimal
    labour_share: Decimal
    hourly_labour_cost: Decimal
    clause_rate: Decimal
    exact_hours: Decimal  # to the hundredth, before rounding to the hour
    required_hours: int

    @property
    def formula(self) -> str:
        return (
            "required hours = amount excl. tax × labour share ÷ hourly labour cost × clause rate, rounded = "
            f"{self.amount_excl_tax} × {self.labour_share} ÷ {self.hourly_labour_cost} × {self.clause_rate} "
            f"= {self.exact_hours} → {self.required_hours}"
        )


def required_hours(
    amount_excl_tax: Decimal, labour_share: Decimal, hourly_labour_cost: Decimal, clause_rate: Decimal
) -> Calculation:
    """Inputs must be positive (shares and rates at most 1): the API checks them before."""
    if hourly_labour_cost <= 0:
        raise ValueError("the hourly labour cost must be more than 0")
    exact = amount_excl_tax * labour_share / hourly_labour_cost * clause_rate
    return Calculation(
        amount_excl_tax,
        labour_share,
        hourly_labour_cost,
        clause_rate,
        exact.quantize(CENT, rounding=ROUND_HALF_UP),
        int(exact.quantize(HOUR, rounding=ROUND_HALF_UP)),
    )
