"""Netting negative adjustments against the next payments of the same convention, without I/O: cases
by hand, the per-creditor property (hypothesis), the funder parts of the deductions."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tremplin_funding.domain.money import split
from tremplin_funding.domain.netting import net, net_by_creditor, offset_parts

from .test_domain import shares_strategy


def test_a_payment_larger_than_the_overpayment():
    result = net([("p1", D("1678.57"))], [("n1", D("-1137.10"))])
    assert result.transfers == {"p1": D("541.47")}
    assert [(o.negative, o.payment, o.amount) for o in result.offsets] == [("n1", "p1", D("1137.10"))]
    assert result.outstanding == {"n1": D("0.00")}


def test_what_is_not_absorbed_stays_outstanding():
    result = net([("p1", D("100.00")), ("p2", D("50.00"))], [("n1", D("-120.00")), ("n2", D("-80.00"))])
    assert result.transfers == {"p1": D("0.00"), "p2": D("0.00")}
    assert [(o.negative, o.payment, o.amount) for o in result.offsets] == [
        ("n1", "p1", D("100.00")), ("n1", "p2", D("20.00")), ("n2", "p2", D("30.00"))]  # fmt: skip
    assert result.outstanding == {"n1": D("0.00"), "n2": D("-50.00")}


def test_oldest_negative_first_oldest_payment_first():
    result = net([("p1", D("10.00")), ("p2", D("10.00"))], [("n1", D("-0.01")), ("n2", D("-10.00"))])
    assert result.transfers == {"p1": D("0.00"), "p2": D("9.99")}
    assert [(o.negative, o.payment, o.amount) for o in result.offsets] == [
        ("n1", "p1", D("0.01")), ("n2", "p1", D("9.99")), ("n2", "p2", D("0.01"))]  # fmt: skip


def test_nothing_to_net():
    assert net([("p1", D("5"))], []).transfers == {"p1": D("5.00")}
    only_negative = net([], [("n1", D("-5"))])
    assert only_negative.outstanding == {"n1": D("-5.00")} and only_negative.offsets == ()


def test_creditors_are_netted_apart():
    results = net_by_creditor(
        [("a", "p1", D("100")), ("b", "p2", D("100"))], [("b", "n1", D("-30")), ("c", "n2", D("-1"))]
    )
    assert results["a"].transfers == {"p1": D("100.00")}
    assert results["b"].transfers == {"p2": D("70.00")}
    assert results["c"].outstanding == {"n2": D("-1.00")}


def test_bad_signs_are_refused():
    with pytest.raises(ValueError):
        net([("p1", D("0"))], [])
    with pytest.raises(ValueError):
        net([("p1", D("1"))], [("n1", D("1"))])


cents = st.integers(min_value=1, max_value=10_000_000).map(lambda c: D(c) / 100)


@given(
    payments=st.lists(st.tuples(st.sampled_from("abc"), cents), max_size=8),
    negatives=st.lists(st.tuples(st.sampled_from("abcd"), cents), max_size=8),
)
def test_per_creditor_transfers_plus_outstanding_equal_positives_minus_negatives(payments, negatives):
    pays = [(c, f"p{i}", a) for i, (c, a) in enumerate(payments)]
    owes = [(c, f"n{i}", -a) for i, (c, a) in enumerate(negatives)]
    results = net_by_creditor(pays, owes)
    for creditor, result in results.items():
        positives = sum((a for c, _, a in pays if c == creditor), D(0))
        negative = sum((a for c, _, a in owes if c == creditor), D(0))
        transferred = sum(result.transfers.values(), D(0))
        left = sum(result.outstanding.values(), D(0))
        assert transferred + left == positives + negative
        assert all(t >= 0 and t == t.quantize(D("0.01")) for t in result.transfers.values())
        assert all(o <= 0 and o == o.quantize(D("0.01")) for o in result.outstanding.values())
        assert transferred == 0 or left == 0  # either every overpayment is absorbed, or nothing is paid
        assert all(o.amount > 0 for o in result.offsets)
        # each offset is recorded once: the payments' deductions and the negatives' absorptions agree
        for key, amount in ((k, a) for c, k, a in pays if c == creditor):
            assert result.transfers[key] + sum((o.amount for o in result.offsets if o.payment == key), D(0)) == amount
        for key, amount in ((k, a) for c, k, a in owes if c == creditor):
            absorbed = sum((o.amount for o in result.offsets if o.negative == key), D(0))
            assert result.outstanding[key] == amount + absorbed
        assert transferred == max(D(0), positives + negative)


def test_offset_parts_by_hand():
    # −1137.10 at 70/30 is −795.97 / −341.13; deducted as 541.47 then 595.63
    shares = [D(70), D(30)]
    first = offset_parts(D("-1137.10"), shares, D(0), D("541.47"))
    second = offset_parts(D("-1137.10"), shares, D("541.47"), D("595.63"))
    assert first == [D("-379.03"), D("-162.44")] and sum(first) == D("-541.47")
    assert [a + b for a, b in zip(first, second, strict=True)] == split(D("-1137.10"), shares)
    with pytest.raises(ValueError):
        offset_parts(D("-10.00"), shares, D("5.00"), D("5.01"))


@given(
    total=st.integers(min_value=1, max_value=10_000_000),
    cuts=st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=6),
    shares=shares_strategy,
)
def test_offset_parts_add_up_to_the_adjustment_parts(total, cuts, shares):
    total = -D(total) / 100
    weights = sum(cuts)
    amounts = [(-total * c / weights).quantize(D("0.01"), rounding="ROUND_DOWN") for c in cuts]
    amounts[-1] = -total - sum(amounts[:-1])
    amounts = [a for a in amounts if a > 0]
    absorbed, per_funder = D(0), [D(0)] * len(shares)
    for amount in amounts:
        parts = offset_parts(total, shares, absorbed, amount)
        assert sum(parts) == -amount
        per_funder = [a + b for a, b in zip(per_funder, parts, strict=True)]
        absorbed += amount
    assert per_funder == split(total, shares)
