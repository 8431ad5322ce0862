"""PLIE and RSA indicators on fixed datasets; every expected value is worked out by hand below."""

from datetime import date

import pytest

from tremplin_participants.domain.indicators import (
    Cer,
    InvalidPeriod,
    ParcoursFacts,
    ReferentPeriod,
    plie_indicators,
    rsa_indicators,
)

START, END = date(2024, 1, 1), date(2024, 6, 30)


def d(text: str) -> date:
    return date.fromisoformat(text)


PLIE = [
    # 1: opened before, exited in the period, durable employment          → exit, positive, durable
    ParcoursFacts("plie", d("2023-11-10"), d("2024-02-15"), "durable_employment"),
    # 2: opened on the first day, exited on the last day, qualifying        → entry; exit, positive, qualifying
    ParcoursFacts("plie", d("2024-01-01"), d("2024-06-30"), "qualifying_training"),
    # 3: opened in the period, still open                                    → entry
    ParcoursFacts("plie", d("2024-03-05")),
    # 4: opened on the last day                                              → entry
    ParcoursFacts("plie", d("2024-06-30")),
    # 5: opened the day after the period                                     → nothing
    ParcoursFacts("plie", d("2024-07-01")),
    # 6: opened the day before, dropped out in the period                    → exit (not positive)
    ParcoursFacts("plie", d("2023-12-31"), d("2024-04-01"), "dropped_out"),
    # 7: opened and exited in the period, temporary employment               → entry; exit
    ParcoursFacts("plie", d("2024-02-01"), d("2024-05-20"), "temporary_employment"),
    # 8: opened and exited before the period                                 → nothing
    ParcoursFacts("plie", d("2023-06-01"), d("2023-12-31"), "durable_employment"),
    # 9: opened in the period, exited after it                               → entry only
    ParcoursFacts("plie", d("2024-02-10"), d("2024-07-01"), "durable_employment"),
    # 10: opened and exited (moved) in the period                            → entry; exit
    ParcoursFacts("plie", d("2024-01-15"), d("2024-03-15"), "moved"),
    # 11: an rsa parcours: not counted in PLIE indicators
    ParcoursFacts("rsa", d("2024-02-01"), d("2024-03-01"), "durable_employment"),
]


def test_plie_indicators_by_hand():
    result = plie_indicators(PLIE, START, END)
    # entries: #2, #3, #4, #7, #9, #10                    = 6
    assert result.entries == 6
    # exits: #1, #2, #6, #7, #10                          = 5
    assert result.exits == 5
    # positive: #1 (durable), #2 (qualifying)             = 2
    assert result.positive_exits == 2
    assert result.durable_employment_exits == 1
    assert result.qualifying_training_exits == 1
    assert result.exits_by_kind == {
        "dropped_out": 1,
        "durable_employment": 1,
        "moved": 1,
        "qualifying_training": 1,
        "temporary_employment": 1,
    }
    # positive/exits = 2/5 = 0.40 < 0.50 → not met
    assert result.positive_rate.as_dict() == {
        "numerator": 2,
        "denominator": 5,
        "rate": 0.4,
        "target": 0.5,
        "met": False,
    }
    # durable/exits = 1/5 = 0.20 < 0.42 → not met
    assert result.durable_employment_rate.as_dict() == {
        "numerator": 1,
        "denominator": 5,
        "rate": 0.2,
        "target": 0.42,
        "met": False,
    }
    # qualifying/exits = 1/5 = 0.20 ≥ 0.08 → met
    assert result.qualifying_training_rate.as_dict() == {
        "numerator": 1,
        "denominator": 5,
        "rate": 0.2,
        "target": 0.08,
        "met": True,
    }


def test_a_rate_exactly_on_its_target_is_met_and_no_exit_means_no_rate():
    two_exits = [
        ParcoursFacts("plie", d("2024-01-02"), d("2024-02-01"), "durable_employment"),
        ParcoursFacts("plie", d("2024-01-02"), d("2024-02-01"), "health"),
    ]
    result = plie_indicators(two_exits, START, END)
    # positive: 1/2 = 0.50 ≥ 0.50 → met; durable: 1/2 = 0.50 ≥ 0.42 → met; qualifying 0/2 = 0 < 0.08
    assert (result.positive_rate.met, result.durable_employment_rate.met, result.qualifying_training_rate.met) == (
        True,
        True,
        False,
    )
    empty = plie_indicators([ParcoursFacts("plie", d("2024-01-02"))], START, END)
    assert (empty.entries, empty.exits) == (1, 0)
    assert empty.positive_rate.as_dict() == {"numerator": 0, "denominator": 0, "rate": None, "target": 0.5, "met": None}


def ref(name: str, start: str, end: str | None = None) -> ReferentPeriod:
    return ReferentPeriod(name, d(start), d(end) if end else None)


def cer(signed: str, review: str) -> Cer:
    return Cer(d(signed), d(review))


RSA = [
    # A: followed; référent active on 06-30 ✓; CER ✓; welcomed before the period; latest CER review
    #    2024-05-01 < 06-30 and still open → overdue
    ParcoursFacts(
        "rsa",
        d("2023-10-01"),
        welcomed_at=d("2023-10-20"),
        referents=(ref("r1", "2023-10-20"),),
        cers=(cer("2023-11-01", "2024-05-01"),),
    ),
    # B: followed; r2 replaced by r3 on 03-01, r3 active on 06-30 ✓; no CER ✗; welcomed after 10 days
    ParcoursFacts(
        "rsa",
        d("2024-01-10"),
        welcomed_at=d("2024-01-20"),
        referents=(ref("r2", "2024-01-20", "2024-03-01"), ref("r3", "2024-03-01")),
    ),
    # C: exited 04-15 (reference day); its référent ended 04-01 → ✗; CER signed 02-20 ≤ 04-15 → ✓;
    #    welcomed after 7 days; not open at the end → not overdue
    ParcoursFacts(
        "rsa",
        d("2024-02-01"),
        d("2024-04-15"),
        "moved",
        welcomed_at=d("2024-02-08"),
        referents=(ref("r4", "2024-02-08", "2024-04-01"),),
        cers=(cer("2024-02-20", "2024-08-20"),),
    ),
    # D: no référent ✗; CER signed after the period ✗; welcomed after 40 days
    ParcoursFacts("rsa", d("2024-05-01"), welcomed_at=d("2024-06-10"), cers=(cer("2024-07-05", "2024-12-05"),)),
    # E: exited before the period → not followed (its welcome is outside the period too)
    ParcoursFacts(
        "rsa",
        d("2023-01-01"),
        d("2023-12-15"),
        "other",
        welcomed_at=d("2023-01-05"),
        referents=(ref("r5", "2023-01-05"),),
    ),
    # F: opened after the period → not followed
    ParcoursFacts("rsa", d("2024-07-02"), referents=(ref("r6", "2024-07-02"),)),
    # G: référent starts after the end ✗; CER ✓ whose review is ON the end day → not overdue; 3 days
    ParcoursFacts(
        "rsa",
        d("2024-03-01"),
        welcomed_at=d("2024-03-04"),
        referents=(ref("r7", "2024-07-01"),),
        cers=(cer("2024-03-10", "2024-06-30"),),
    ),
    # H: exited on the first day → followed; reference day 01-01, référent active ✓; no CER ✗
    ParcoursFacts(
        "rsa",
        d("2023-12-01"),
        d("2024-01-01"),
        "health",
        welcomed_at=d("2023-12-28"),
        referents=(ref("r8", "2023-12-05"),),
    ),
    # I: a plie parcours → ignored
    ParcoursFacts("plie", d("2024-02-01"), welcomed_at=d("2024-02-02"), referents=(ref("r9", "2024-02-02"),)),
    # J: référent starting on the end day ✓; two CERs, the latest (review 09-01) is not overdue ✓; 20 days
    ParcoursFacts(
        "rsa",
        d("2024-01-05"),
        welcomed_at=d("2024-01-25"),
        referents=(ref("r10", "2024-06-30"),),
        cers=(cer("2024-01-30", "2024-03-30"), cer("2024-04-01", "2024-09-01")),
    ),
]


def test_rsa_indicators_by_hand():
    result = rsa_indicators(RSA, START, END)
    # followed: A, B, C, D, G, H, J (not E, F; I is plie)          = 7
    assert result.followed == 7
    # with référent: A, B, H, J                                     = 4 / 7 = 0.5714
    assert result.with_referent.as_dict() == {"numerator": 4, "denominator": 7, "rate": 0.5714}
    # with a signed CER: A, C, G, J                                 = 4 / 7
    assert result.with_signed_cer.as_dict() == {"numerator": 4, "denominator": 7, "rate": 0.5714}
    # welcomed in the period: B 10, C 7, D 40, G 3, J 20 → sorted 3, 7, 10, 20, 40 → median 10
    assert result.welcomed == 5
    assert result.median_days_oriented_to_welcomed == 10
    # overdue at the end: A only
    assert result.cer_reviews_overdue == 1


def test_the_median_of_an_even_sample_is_the_mean_of_the_middle_two_and_none_without_sample():
    facts = [
        ParcoursFacts("rsa", d("2024-02-01"), welcomed_at=d("2024-02-04")),  # 3 days
        ParcoursFacts("rsa", d("2024-02-01"), welcomed_at=d("2024-02-09")),  # 8 days → (3 + 8) / 2 = 5.5
    ]
    assert rsa_indicators(facts, START, END).median_days_oriented_to_welcomed == 5.5
    nothing = rsa_indicators([], START, END)
    assert (nothing.followed, nothing.median_days_oriented_to_welcomed, nothing.with_referent.value) == (0, None, None)


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(InvalidPeriod):
        plie_indicators(PLIE, END, START)
    with pytest.raises(InvalidPeriod):
        rsa_indicators(RSA, END, START)
