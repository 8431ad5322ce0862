"""The pure rules: calculator, elapsed share and `behind`, the 210-hour cap, the hours machine,
eligibility (and the flags in force at a start), months, outcomes."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tremplin_clauses.domain import calculator, eligibility, outcomes, progress
from tremplin_clauses.domain import hours as ledger

D = Decimal


@pytest.mark.parametrize(
    ("amount", "share", "cost", "rate", "exact", "rounded"),
    [
        ("1000000", "0.4", "30", "0.07", "933.33", 933),
        ("1200000", "0.4", "32", "0.07", "1050.00", 1050),
        ("250000", "0.35", "28.50", "0.05", "153.51", 154),  # 153.5087… → 154 (half-up on the exact value)
        ("100000", "0.5", "40", "0.05", "62.50", 63),  # exactly .5 rounds up
        ("10000", "0.3", "35", "0.05", "4.29", 4),
    ],
)
def test_calculator(amount, share, cost, rate, exact, rounded):
    result = calculator.required_hours(D(amount), D(share), D(cost), D(rate))
    assert result.exact_hours == D(exact) and result.required_hours == rounded
    assert result.formula.endswith(f"= {exact} → {rounded}")


def test_calculator_refuses_a_zero_cost():
    with pytest.raises(ValueError):
        calculator.required_hours(D(1), D("0.5"), D(0), D("0.1"))


def test_elapsed_share():
    start, end = date(2026, 1, 1), date(2026, 12, 31)  # 364 days
    assert progress.elapsed_share(start, end, date(2025, 12, 31)) == 0
    assert progress.elapsed_share(start, end, start) == 0
    assert progress.elapsed_share(start, end, date(2026, 7, 2)) == D(182) / D(364)
    assert progress.elapsed_share(start, end, end) == 1
    assert progress.elapsed_share(start, end, date(2027, 6, 1)) == 1
    assert progress.elapsed_share(start, start, start) == 1  # a one-day period is elapsed from its day


def test_behind_on_both_sides_of_the_threshold():
    start, end, on = date(2026, 1, 1), date(2026, 12, 31), date(2026, 7, 2)  # half the period elapsed
    # expected = 1000 × 0.5 = 500; threshold 80 % = 400.
    under = progress.lot_progress(D(1000), D("399.99"), D(0), start, end, on)
    at = progress.lot_progress(D(1000), D(400), D(50), start, end, on)
    assert under.behind is True and at.behind is False
    assert (at.expected, at.rate, at.declared_pending, at.elapsed_share) == (D("500.00"), D("0.4000"), D(50), D("0.5"))
    assert progress.lot_progress(D(1000), D(0), D(0), start, end, start).behind is False  # nothing expected yet
    assert progress.lot_progress(D(1000), D(799), D(0), start, end, end).behind is True  # at the end: 800 needed


def test_market_behind_sums_the_lots_expected_hours():
    on = date(2026, 7, 2)
    lots = [
        (D(1000), D(300), D(0), date(2026, 1, 1), date(2026, 12, 31)),  # expected 500
        (D(200), D(200), D(0), date(2026, 1, 1), date(2026, 3, 31)),  # expected 200 (over)
        (D(600), D(0), D(10), date(2026, 9, 1), date(2027, 8, 31)),  # expected 0 (not started)
    ]
    total = progress.market_progress(lots, on)
    assert (total.required, total.validated, total.declared_pending, total.expected) == (D(1800), D(500), D(10),
                                                                                         D("700.00"))  # fmt: skip
    assert total.behind is True  # 500 < 0.8 × 700 = 560
    lots[0] = (D(1000), D(361), D(0), date(2026, 1, 1), date(2026, 12, 31))
    assert progress.market_progress(lots, on).behind is False  # 561 ≥ 560
    assert total.rate == D("0.2778")


def entry(hours: str, status: str = "declared", lot: str = "L1") -> ledger.Entry:
    return ledger.Entry(id=f"e-{hours}-{status}", lot_id=lot, hours=D(hours), status=status)


def test_the_monthly_cap_counts_every_lot_but_not_rejected_entries():
    month = date(2026, 3, 1)
    others = [entry("100", "validated", "L1"), entry("60", "declared", "L2"), entry("150", "rejected", "L3")]
    ledger.check_monthly_cap(month, D(50), others)  # 100 + 60 + 50 = 210: allowed
    with pytest.raises(ledger.CapExceeded) as exc:
        ledger.check_monthly_cap(month, D("50.01"), others)
    assert exc.value.already == D(160) and [e.lot_id for e in exc.value.others] == ["L1", "L2"]
    assert "210.01 h" in exc.value.message and "2026-03" in exc.value.message
    with pytest.raises(ledger.CapExceeded):
        ledger.check_monthly_cap(month, D("210.01"), [])


@given(st.lists(st.decimals(min_value=0, max_value=210, places=2), max_size=6), st.decimals(min_value="0.01",
       max_value=210, places=2))  # fmt: skip
def test_the_cap_is_exactly_the_sum(existing, requested):
    others = [ledger.Entry(i, "L", h, "declared") for i, h in enumerate(existing)]
    try:
        ledger.check_monthly_cap(date(2026, 1, 1), requested, others)
        assert sum(existing, D(0)) + requested <= 210
    except ledger.CapExceeded:
        assert sum(existing, D(0)) + requested > 210


def test_hours_machine():
    ledger.check_transition("declared", "validated")
    ledger.check_transition("declared", "rejected")
    for final in ("validated", "rejected"):
        for target in ledger.STATUSES:
            with pytest.raises(ledger.IllegalTransition) as exc:
                ledger.check_transition(final, target)
            assert exc.value.allowed == []
    with pytest.raises(ledger.IllegalTransition):
        ledger.check_transition("declared", "declared")
    assert ledger.allowed_from("declared") == ["rejected", "validated"]


def test_months():
    assert ledger.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert ledger.add_months(date(2026, 11, 1), 14) == date(2028, 1, 1)
    assert ledger.end_of_month(date(2028, 2, 3)) == date(2028, 2, 29)
    assert ledger.months_between(date(2026, 11, 15), date(2027, 2, 1)) == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1),
    ]  # fmt: skip
    lot = (date(2026, 1, 15), date(2026, 6, 10))
    assert ledger.check_month_in_period(date(2026, 1, 1), *lot) is None
    assert ledger.check_month_in_period(date(2026, 6, 1), *lot) is None
    assert "outside" in ledger.check_month_in_period(date(2026, 7, 1), *lot)
    assert "outside" in ledger.check_month_in_period(date(2025, 12, 1), *lot)
    assert "before the placement" in ledger.check_month_in_period(date(2026, 2, 1), *lot, date(2026, 3, 2))


def test_eligibility():
    assert eligibility.decide(True, None, False) == eligibility.Decision(True, None)
    with pytest.raises(eligibility.NotEligible):
        eligibility.decide(False, None, True)
    with pytest.raises(eligibility.NotEligible):
        eligibility.decide(None, "   ", True)
    with pytest.raises(eligibility.OverrideNeedsFacilitator):
        eligibility.decide(False, "suivi PLIE depuis 2024", False)
    assert eligibility.decide(False, " suivi PLIE ", True) == eligibility.Decision(False, "suivi PLIE")
    assert eligibility.decide(None, "sortant de prison", True) == eligibility.Decision(None, "sortant de prison")


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def flags_on(day: int, eligible: bool, hour: int = 12) -> eligibility.Computation:
    return eligibility.Computation(date(2026, 3, day), at(day, hour), eligible)


def test_the_flags_in_force_at_the_start():
    history = [flags_on(10, True), flags_on(20, False), flags_on(20, True, hour=9)]  # on the 20th, 9:00 then 12:00
    assert eligibility.in_force(date(2026, 3, 15), history) == flags_on(10, True)  # eligible then, not now
    assert eligibility.in_force(date(2026, 3, 20), history) == flags_on(20, False)  # the day's last computation
    assert eligibility.in_force(date(2026, 12, 1), history) == flags_on(20, False)
    assert eligibility.in_force(date(2026, 3, 10), history) == flags_on(10, True)  # computed on the start itself
    # Before every computation: the earliest (on its day, the last sent), never a later one.
    assert eligibility.in_force(date(2026, 1, 5), history) == flags_on(10, True)
    early = [flags_on(20, True), flags_on(10, False, hour=8), flags_on(10, True, hour=17)]
    assert eligibility.in_force(date(2026, 3, 1), early) == flags_on(10, True, hour=17)
    assert eligibility.in_force(date(2026, 3, 1), []) is None
    assert eligibility.latest(history) == flags_on(20, False) and eligibility.latest([]) is None


computations = st.lists(
    st.builds(
        eligibility.Computation,
        st.dates(date(2025, 1, 1), date(2027, 12, 31)),
        st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
        st.booleans(),
    ),
    max_size=12,
)


@given(computations, st.dates(date(2024, 6, 1), date(2028, 6, 1)), st.randoms(use_true_random=False))
def test_in_force_is_the_latest_computation_on_or_before_the_start(history, start, rnd):
    chosen = eligibility.in_force(start, history)
    shuffled = history * 2  # redelivered…
    rnd.shuffle(shuffled)  # …and out of order: the same answer
    assert eligibility.in_force(start, shuffled) == chosen
    if not history:
        assert chosen is None
        return
    assert chosen in history
    before = [c for c in history if c.computed_on <= start]
    if before:
        assert chosen.computed_on == max(c.computed_on for c in before)
    else:  # the start precedes them all: the earliest computation
        assert chosen.computed_on == min(c.computed_on for c in history)
    # Of that day's computations, the last sent.
    assert chosen.changed_at == max(c.changed_at for c in history if c.computed_on == chosen.computed_on)
    # A computation after the start changes nothing once one on or before it is known.
    later = eligibility.Computation(
        max(start, chosen.computed_on) + timedelta(days=1), at(1), not chosen.clause_eligible
    )
    if before:
        assert eligibility.in_force(start, [*history, later]) == chosen


@given(st.one_of(st.none(), st.booleans()), st.one_of(st.none(), st.text(max_size=5)), st.booleans())
def test_decide_refuses_only_without_eligibility_or_a_facilitator_reason(eligible, reason, facilitator):
    given_reason = (reason or "").strip() or None
    try:
        decision = eligibility.decide(eligible, reason, facilitator)
    except eligibility.OverrideNeedsFacilitator:
        assert given_reason is not None and not facilitator
        return
    except eligibility.NotEligible:
        assert eligible is not True and given_reason is None
        return
    assert decision.eligible == eligible
    assert decision.override_reason == (None if eligible else given_reason)
    assert eligibility.stands(decision.eligible, decision.override_reason)


H, X, T = outcomes.Hire, outcomes.Exit, outcomes.Transition
D6 = date(2026, 9, 30)  # the 6-month measure date of clause hours ending in March 2026


def on(day: date, hires=(), exits=(), moves=()) -> bool:
    return outcomes.in_work_or_training_on(day, outcomes.History(tuple(hires), tuple(exits), tuple(moves)))


def test_measure_dates():
    assert outcomes.measure_date(date(2026, 3, 1), 6) == D6
    assert outcomes.measure_date(date(2026, 8, 1), 6) == date(2027, 2, 28)
    assert outcomes.measure_date(date(9999, 1, 1), 12) == date.max


def test_the_clause_hire_counts_only_as_a_cdi_with_no_end_known():
    clause_cdd, clause_cdi = H(date(2026, 1, 5), "cdd"), H(date(2026, 1, 5), "cdi")
    assert on(D6, [clause_cdd]) is False  # a CDD's end is not in the events: not known to hold
    assert on(D6, [H(date(2026, 1, 5), "interim")]) is False
    assert on(D6, [clause_cdi]) is True and on(D6, [H(date(2026, 1, 5), "ebe_cdi")]) is True
    assert on(date(2026, 1, 4), [clause_cdi]) is False  # not before it starts
    assert on(D6, [clause_cdi], [X(date(2026, 7, 15), "dropped_out", "p")]) is False
    assert on(D6, [clause_cdi], [X(date(2026, 7, 15), "temporary_employment", "p")]) is False  # another job
    assert on(D6, [clause_cdi], [X(date(2026, 7, 15), "durable_employment", "p")]) is True  # the same job
    assert on(D6, [clause_cdi], [X(date(2026, 1, 5), "other", "p")]) is True  # an end must come after the start
    assert on(D6, [clause_cdi], [X(date(2026, 10, 1), "dropped_out", "p")]) is True  # after the measure date
    assert on(D6, [clause_cdi], moves=[T(date(2026, 6, 1), "p", "employed", "supported")]) is False
    assert on(D6, [clause_cdi], moves=[T(date(2026, 6, 1), "p", "employed", "exited", "durable_employment")])
    assert on(D6, [clause_cdi, H(date(2026, 5, 1), "cdd")]) is False  # a later fixed-term hire supersedes it
    assert on(D6, [clause_cdd, H(date(2026, 5, 1), "cdi")]) is True


def test_exits_and_fixed_term_hires_after_the_clause_do_not_count_by_themselves():
    for kind in ("durable_employment", "temporary_employment", "qualifying_training", "business_creation"):
        assert on(D6, exits=[X(date(2026, 6, 10), kind, "p")]) is False
    assert on(D6, [H(date(2026, 9, 1), "cdd")]) is False
    assert on(D6, [H(date(2026, 10, 1), "cdi")]) is False  # after the measure date: not yet


def test_a_parcours_employed_or_in_training_on_the_measure_date():
    employed = T(date(2026, 5, 4), "p", "supported", "employed")
    assert on(D6, moves=[employed]) is True
    assert on(D6, moves=[T(date(2026, 8, 1), "p", "supported", "training")]) is True
    assert on(D6, moves=[employed, T(date(2026, 9, 1), "p", "employed", "supported")]) is False
    assert on(D6, moves=[employed, T(date(2026, 10, 1), "p", "employed", "supported")]) is True
    assert on(D6, moves=[employed], exits=[X(date(2026, 9, 30), "durable_employment", "p")]) is False  # closed
    assert on(D6, moves=[employed], exits=[X(date(2026, 9, 30), "moved", "q")]) is True  # another parcours
    # Two moves of one parcours on one day: the event time orders them; without it, nothing is assumed.
    later = datetime(2026, 9, 1, 10, tzinfo=UTC)
    out_first = T(date(2026, 9, 1), "p", "employed", "supported", seq=later - timedelta(hours=1))
    assert on(D6, moves=[employed, T(date(2026, 9, 1), "p", "supported", "employed", seq=later), out_first])
    unordered = [T(date(2026, 9, 1), "p", "employed", "supported"), T(date(2026, 9, 1), "p", "supported", "employed")]
    assert on(D6, moves=[employed, *unordered]) is False


def test_outcome_share():
    histories = {
        "a": outcomes.History(hires=(H(date(2026, 1, 5), "cdi"),)),
        "b": outcomes.History(hires=(H(date(2026, 1, 5), "cdd"),)),
    }
    share = outcomes.outcome_share(
        {"a": date(2026, 3, 1), "b": date(2026, 3, 1), "c": date(2026, 3, 1), "d": date(2026, 11, 1)},
        histories, 6, as_of=date(2026, 12, 31),
    )  # fmt: skip
    assert (share.measured, share.in_work_or_training, share.share) == (3, 1, D("0.3333"))
    assert outcomes.outcome_share({}, {}, 12, date(2026, 1, 1)).share is None


DAYS = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))
STATES = st.sampled_from(["supported", "immersion", "training", "employed", "exited"])
CONTRACTS = st.sampled_from(["cdi", "cdd", "interim", "apprenticeship", "subsidised", "ebe_cdi"])
EXIT_KINDS = st.sampled_from(["durable_employment", "temporary_employment", "qualifying_training", "moved", "other"])
PARCOURS = st.sampled_from(["p", "q"])
HIRES = st.builds(H, DAYS, CONTRACTS)
EXITS = st.builds(X, DAYS, EXIT_KINDS, PARCOURS)
SEQS = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC))
MOVES = st.builds(T, DAYS, PARCOURS, STATES, STATES, st.one_of(st.none(), st.just("durable_employment")), SEQS)


@given(DAYS, st.lists(HIRES, max_size=4), st.lists(EXITS, max_size=3), st.lists(MOVES, max_size=5), st.randoms())
def test_the_status_on_a_day_depends_only_on_what_is_dated_on_or_before_it(day, hires, exits, moves, rnd):
    before = on(day, [h for h in hires if h.start <= day], [e for e in exits if e.at <= day],
                [t for t in moves if t.at <= day])  # fmt: skip
    assert on(day, hires, exits, moves) == before  # what comes later does not change the past
    for facts in (hires, exits, moves):
        rnd.shuffle(facts)
    assert on(day, hires, exits, moves) == before  # nor does the order facts arrive in


@given(DAYS, st.lists(HIRES, max_size=4), st.lists(EXITS, max_size=3), st.lists(MOVES, max_size=5))
def test_only_an_open_ended_hire_or_a_current_work_or_training_state_can_count(day, hires, exits, moves):
    fixed_term = [h for h in hires if h.contract_type not in outcomes.OPEN_ENDED]
    idle = [t for t in moves if t.to_state not in outcomes.CURRENT_STATES]
    assert on(day, fixed_term, exits, idle) is False
    if on(day, hires, exits, moves):
        assert any(h.start <= day and h.contract_type in outcomes.OPEN_ENDED for h in hires) or any(
            t.at <= day and t.to_state in outcomes.CURRENT_STATES for t in moves
        )
