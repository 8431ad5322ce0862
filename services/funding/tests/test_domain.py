"""The funding rules without I/O: the CDE to the cent on cases computed by hand, the largest-remainder
split (hypothesis), the disbursement lifecycle over every pair, the budget check, the aid cap."""

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tremplin_funding.domain import aids, disbursements
from tremplin_funding.domain.cde import (
    DEFAULT_SMIC,
    HoursFrom,
    NoSmicRate,
    Period,
    SmicRate,
    check_cde_rate,
    hours_in,
    monthly_cde,
)
from tremplin_funding.domain.money import CENT, split, to_cent

JAN = Period(2024, 1)


def cde(period, hours, rate, start=None, end=None, table=DEFAULT_SMIC, convention=(None, None)):
    return monthly_cde(period, D(hours), D(rate), table, (start, end), convention)


# ------------------------------------------------------------------------------------- CDE, by hand
def test_a_full_month():
    # 35 × 52 ÷ 12 = 151.666…h; × 11.65 = 1 766.9166…; × 0.95 = 1 678.5708… → 1 678.57
    line = cde(JAN, "35", "0.95")
    assert (line.amount, line.days_present) == (D("1678.57"), 31)


def test_an_entry_on_the_17th():
    # present 17 → 31 January: 15 of 31 days; 1 678.5708… × 15 ÷ 31 = 812.2116… → 812.21
    line = cde(JAN, "35", "0.95", start=date(2024, 1, 17))
    assert (line.amount, line.days_present) == (D("812.21"), 15)


def test_24_hours_a_week():
    # 24 × 52 ÷ 12 = 104h; × 11.65 = 1 211.60; × 0.95 = 1 151.02
    assert cde(JAN, "24", "0.95").amount == D("1151.02")


def test_an_exit_ends_the_presence():
    # present 1 → 10 January: 1 678.5708… × 10 ÷ 31 = 541.4744… → 541.47
    assert cde(JAN, "35", "0.95", end=date(2024, 1, 10)).amount == D("541.47")


def test_the_shipped_smic_table_changes_on_1_november_2024():
    # October at 11.65: 151.666… × 11.65 = 1 766.9166… → 1 766.92; November at 11.88: 151.666… × 11.88 = 1 801.80
    assert cde(Period(2024, 10), "35", "1").amount == D("1766.92")
    line = cde(Period(2024, 11), "35", "1")
    assert (line.amount, line.segments) == (D("1801.80"), ((D("11.88"), 30),))


def test_a_month_across_a_smic_change():
    # A value of 12.00 from 16 March 2024: 15 days at 11.65 and 16 days at 12.00, of 31.
    # 1820 ÷ 12 × (11.65 × 15 + 12.00 × 16) ÷ 31 = 151.666… × 366.75 ÷ 31 = 55 623.75 ÷ 31 = 1 794.3145… → 1 794.31
    table = (*DEFAULT_SMIC, SmicRate(date(2024, 3, 16), D("12.00")))
    line = cde(Period(2024, 3), "35", "1", table=table)
    assert line.amount == D("1794.31")
    assert line.segments == ((D("11.65"), 15), (D("12.00"), 16))


def test_the_rate_at_each_bound_and_outside():
    # 1 766.9166… × 0.53 = 936.4658… → 936.47; × 1.02 = 1 802.255 exactly → 1 802.26 (half-up)
    check_cde_rate(D("0.53"))
    check_cde_rate(D("1.02"))
    assert cde(JAN, "35", "0.53").amount == D("936.47")
    assert cde(JAN, "35", "1.02").amount == D("1802.26")
    for outside in ("0.52", "1.03", "0.5299"):
        with pytest.raises(ValueError):
            check_cde_rate(D(outside))


def test_absent_all_month_and_the_convention_period():
    assert cde(JAN, "35", "1", start=date(2024, 2, 1)).amount == D("0.00")
    # the convention starts on 17 January: same as an entry on the 17th
    assert cde(JAN, "35", "0.95", convention=(date(2024, 1, 17), None)).amount == D("812.21")


def test_no_smic_value_known():
    with pytest.raises(NoSmicRate):
        cde(Period(2023, 12), "35", "1")


def test_hours_changing_mid_month_prorate_the_month_by_days():
    # 35 h from the start, 24 h from 16 January: 15 days at 35 h and 16 at 24 h, of 31.
    # (35 × 15 + 24 × 16) × 52 ÷ 12 × 11.65 × 0.95 ÷ 31 = 909 × 52 ÷ 12 × 11.0675 ÷ 31 = 43 594.8825 ÷ 31
    # = 1 406.2865… → 1 406.29
    history = [HoursFrom(date(2024, 1, 1), D(35)), HoursFrom(date(2024, 1, 16), D(24))]
    line = monthly_cde(JAN, D(35), D("0.95"), DEFAULT_SMIC, (date(2024, 1, 1), None), hours=history)
    assert (line.amount, line.hours, line.segments) == (D("1406.29"), ((D(35), 15), (D(24), 16)), ((D("11.65"), 31),))
    # the month before the change is all at 35 h; the month after all at 24 h (1 151.02)
    assert monthly_cde(Period(2024, 2), D(35), D("0.95"), DEFAULT_SMIC, (date(2024, 1, 1), None),
                       hours=[HoursFrom(date(2024, 3, 1), D(24))]).amount == D("1678.57")  # fmt: skip
    assert monthly_cde(Period(2024, 2), D(24), D("0.95"), DEFAULT_SMIC, (date(2024, 1, 1), None),
                       hours=history).hours == ((D(24), 29),)  # fmt: skip


def test_hours_and_smic_both_changing_in_one_month():
    # March 2024, rate 1.00: SMIC 12.00 from the 16th, 24 h from the 10th (35 h before):
    # 9 days 35 h × 11.65, 6 days 24 h × 11.65, 16 days 24 h × 12.00:
    # (3 669.75 + 1 677.60 + 4 608) × 52 ÷ 12 ÷ 31 = 43 139.85 ÷ 31 = 1 391.608… → 1 391.61
    table = (*DEFAULT_SMIC, SmicRate(date(2024, 3, 16), D("12.00")))
    history = [HoursFrom(date(2024, 1, 1), D(35)), HoursFrom(date(2024, 3, 10), D(24))]
    line = monthly_cde(Period(2024, 3), D(35), D(1), table, (None, None), hours=history)
    assert line.amount == D("1391.61")
    assert line.segments == ((D("11.65"), 15), (D("12.00"), 16)) and line.hours == ((D(35), 9), (D(24), 22))


def test_the_hours_in_force_over_a_span():
    history = [
        HoursFrom(date(2024, 1, 1), D(35)),
        HoursFrom(date(2024, 1, 20), D(35)),
        HoursFrom(date(2024, 2, 5), D(20)),
    ]
    assert hours_in(date(2024, 1, 10), date(2024, 2, 29), D(1), history) == (
        HoursFrom(date(2024, 1, 10), D(35)), HoursFrom(date(2024, 2, 5), D(20)))  # fmt: skip
    assert hours_in(date(2023, 12, 1), date(2023, 12, 31), D(30), history) == (HoursFrom(date(2023, 12, 1), D(30)),)


@given(
    hours=st.integers(min_value=1, max_value=35),
    change_day=st.integers(min_value=1, max_value=31),
    start_day=st.integers(min_value=1, max_value=31),
)
def test_dated_hours_of_one_value_change_nothing(hours, change_day, start_day):
    start = date(2024, 1, start_day)
    history = [HoursFrom(start, D(hours)), HoursFrom(date(2024, 1, change_day), D(hours))]
    dated = monthly_cde(JAN, D(hours), D("0.95"), DEFAULT_SMIC, (start, None), hours=history)
    plain = monthly_cde(JAN, D(hours), D("0.95"), DEFAULT_SMIC, (start, None))
    assert (dated.amount, dated.days_present, dated.segments) == (plain.amount, plain.days_present, plain.segments)
    assert dated.hours == ((D(hours), 32 - start_day),)


def test_periods():
    assert str(Period.parse("2024-02")) == "2024-02" and Period.parse("2024-02").days == 29
    for bad in ("2024-13", "2024-1", "24-01", "2024/01", "2024-00", "abcd-ef"):
        with pytest.raises(ValueError):
            Period.parse(bad)


# ------------------------------------------------------------------------------------------ the split
def test_split_by_hand():
    # 100.00 in thirds: 33.333… each, 33.33 × 3 = 99.99, the cent left goes to the first (ties: earlier)
    assert split(D("100.00"), [D("33.34"), D("33.33"), D("33.33")]) == [D("33.34"), D("33.33"), D("33.33")]
    assert split(D("0.05"), [D(50), D(50)]) == [D("0.03"), D("0.02")]
    assert split(D("1000.01"), [D(60), D(40)]) == [D("600.01"), D("400.00")]
    assert split(D("-0.05"), [D(50), D(50)]) == [D("-0.03"), D("-0.02")]
    with pytest.raises(ValueError):
        split(D(10), [D(50), D(49)])


shares_strategy = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=8).map(
    lambda weights: _percentages(weights)
)


def _percentages(weights: list[int]) -> list[D]:
    """Shares to the hundredth of a percent, summing exactly to 100."""
    total = sum(weights)
    shares = [D(w * 10_000 // total) / 100 for w in weights]
    shares[0] += D(100) - sum(shares)
    return shares


@given(
    total=st.decimals(min_value=D("-100000000"), max_value=D("100000000"), places=2, allow_nan=False),
    shares=shares_strategy,
)
def test_split_sums_to_the_total_and_stays_within_a_cent(total, shares):
    parts = split(total, shares)
    assert sum(parts) == total
    for part, share in zip(parts, shares, strict=True):
        assert part == to_cent(part)
        assert abs(part - total * share / 100) < CENT


# ----------------------------------------------------------------------------------------- lifecycle
STATES = ["prepared", "blocked_budget", "approved", "rejected", "paid"]
# DOMAIN.md: prepared → approved → paid, or rejected; blocked_budget is never paid (only rejected).
LEGAL = {("prepared", "approved"), ("prepared", "rejected"), ("approved", "paid"), ("blocked_budget", "rejected")}


@pytest.mark.parametrize("from_state", STATES)
@pytest.mark.parametrize("to_state", STATES)
def test_every_transition_pair(from_state, to_state):
    if (from_state, to_state) in LEGAL:
        disbursements.check_transition(from_state, to_state)
    else:
        with pytest.raises(disbursements.IllegalTransition) as raised:
            disbursements.check_transition(from_state, to_state)
        assert raised.value.allowed == sorted(t for f, t in LEGAL if f == from_state)


def test_four_eyes():
    disbursements.check_four_eyes("apikey:1", "apikey:2")
    with pytest.raises(disbursements.SamePerson):
        disbursements.check_four_eyes("apikey:1", "apikey:1")


def test_budget_check():
    assert disbursements.within_budget(D("1000.00"), D("400.00"), D("600.00"))
    assert not disbursements.within_budget(D("1000.00"), D("400.00"), D("600.01"))
    assert disbursements.within_budget(D("0"), D("5"), D("-3"))


def test_aid_cap():
    aids.check_aid_payment(["2024-01", "2024-02", "2024-03"], "2024-04", 4)
    with pytest.raises(aids.AidCapReached):
        aids.check_aid_payment(["2024-01", "2024-02", "2024-03", "2024-04"], "2024-05", 4)
    with pytest.raises(aids.AlreadyPaidThatMonth):
        aids.check_aid_payment(["2024-01"], "2024-01", 4)
