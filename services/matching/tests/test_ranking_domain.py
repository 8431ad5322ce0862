"""The ranking rules of DOMAIN.md §Matching: each hard filter, each score component, the order, the
explanation. Every admissibility check goes through the one-pair rules AND the spatial index in both
directions, which must agree."""

import math
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tremplin_matching.adapters.spatial_index import SpatialIndex
from tremplin_matching.domain.ranking import (
    EARTH_RADIUS_KM,
    CandidateProfile,
    OfferProfile,
    RankingRules,
    Weights,
    evaluate,
    failed_filters,
    haversine_km,
    hours_component,
    proximity_component,
    rank_candidates,
    rank_offers,
    skills_component,
)

BLOIS = (47.5861, 1.3359)
VENDOME = (47.7929, 1.0656)  # about 30.5 km from Blois
RULES = RankingRules()


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


def candidate(**fields) -> CandidateProfile:
    base = {
        "id": uid(1),
        "latitude": BLOIS[0],
        "longitude": BLOIS[1],
        "skills": ("K2204",),
        "max_travel_km": 40.0,
        "weekly_hours_wanted": 35.0,
        "consent_matching": True,
        "active": True,
    }
    return CandidateProfile(**{**base, **fields})


def offer(**fields) -> OfferProfile:
    base = {
        "id": uid(1000),
        "latitude": VENDOME[0],
        "longitude": VENDOME[1],
        "rome_code": "K2204",
        "weekly_hours": 35.0,
    }
    return OfferProfile(**{**base, **fields})


def admitted(o: OfferProfile, c: CandidateProfile, rules: RankingRules = RULES) -> bool:
    """Whether the pair is admissible, asked three ways that must agree."""
    one = evaluate(o, c, rules) is not None
    assert one == (not failed_filters(o, c, rules))
    index = SpatialIndex(rules)
    index.upsert_candidate("t", c)
    index.upsert_offer("t", o)
    by_offer = [m.participant_id for m in index.candidates_for("t", o, 10)] == [c.id]
    by_candidate = [m.offer_id for m in index.offers_for("t", c, 10)] == [o.id]
    assert one == by_offer == by_candidate
    return one


def test_the_reference_pair_is_admissible():
    assert 30 < haversine_km(*BLOIS, *VENDOME) < 31
    assert admitted(offer(), candidate())


# ---------------------------------------------------------------------------------------------- hard filters


@pytest.mark.parametrize("status", ["filled", "closed"])
def test_an_offer_that_is_not_open_is_never_proposed(status):
    assert not admitted(offer(status=status), candidate())
    assert admitted(offer(status="open"), candidate())


def test_an_inactive_candidate_is_never_proposed():
    assert not admitted(offer(), candidate(active=False))
    assert admitted(offer(), candidate(active=True))


def test_a_candidate_who_does_not_consent_is_never_proposed():
    assert not admitted(offer(), candidate(consent_matching=False))
    assert admitted(offer(), candidate(consent_matching=True))


def test_an_offer_beyond_the_max_travel_distance_is_never_proposed():
    assert not admitted(offer(), candidate(max_travel_km=20.0))
    assert admitted(offer(), candidate(max_travel_km=31.0))


def test_without_max_travel_distance_the_configured_default_applies():
    d = haversine_km(*BLOIS, *VENDOME)
    assert admitted(offer(), candidate(max_travel_km=None), RankingRules(default_max_travel_km=31.0))
    assert not admitted(offer(), candidate(max_travel_km=None), RankingRules(default_max_travel_km=30.0))
    match = evaluate(offer(), candidate(max_travel_km=None), RankingRules(default_max_travel_km=62.0))
    assert (match.max_travel_km, match.max_travel_km_is_default) == (62.0, True)
    assert match.proximity == 1.0 - d / 62.0
    # No default: such candidates are not matchable at all.
    assert not admitted(
        offer(latitude=BLOIS[0], longitude=BLOIS[1]),
        candidate(max_travel_km=None),
        RankingRules(default_max_travel_km=None),
    )


def test_a_driving_licence_is_required_when_the_offer_requires_one():
    assert not admitted(offer(requires_driving_licence=True), candidate(driving_licence=False))
    assert admitted(offer(requires_driving_licence=True), candidate(driving_licence=True))
    assert admitted(offer(requires_driving_licence=False), candidate(driving_licence=False))


@pytest.mark.parametrize("schedule", ["night", "weekend", "early"])
def test_no_excluded_schedule(schedule):
    others = {"night", "weekend", "early"} - {schedule}
    assert not admitted(offer(**{schedule: True}), candidate(schedule_exclusions=frozenset({schedule})))
    assert admitted(offer(**{schedule: True}), candidate(schedule_exclusions=frozenset(others)))
    assert admitted(offer(**{schedule: False}), candidate(schedule_exclusions=frozenset({schedule})))


# ---------------------------------------------------------------------------------------------- components


@pytest.mark.parametrize(
    ("skills", "wishes", "expected"),
    [
        (("K2204",), (), 1.0),
        (("A1101",), ("K2204",), 0.8),
        (("K2204",), ("K2204",), 1.0),
        (("K2201",), (), 0.5),  # same sub-domain K22
        ((), ("K2201",), 0.5),  # a wish counts for the sub-domain too
        (("K1302",), (), 0.25),  # same letter K
        (("A1101",), (), 0.0),
        ((), (), 0.0),
        (("A1101", "K1302", "K2201"), ("N1103",), 0.5),  # the best over the codes
    ],
)
def test_skills_component(skills, wishes, expected):
    assert skills_component("K2204", skills, wishes) == expected
    match = evaluate(offer(), candidate(skills=skills, wishes=wishes), RULES)
    assert match.skills == expected
    index = SpatialIndex()
    index.upsert_candidate("t", candidate(skills=skills, wishes=wishes))
    index.upsert_offer("t", offer())
    assert index.candidates_for("t", offer(), 1)[0].skills == expected
    assert index.offers_for("t", candidate(skills=skills, wishes=wishes), 1)[0].skills == expected


def test_an_offer_without_rome_code_scores_zero_on_skills():
    assert skills_component(None, ("K2204",), ()) == 0.0
    assert evaluate(offer(rome_code=None), candidate(), RULES).skills == 0.0


def test_proximity_is_one_at_zero_km_and_zero_at_the_limit():
    here = evaluate(offer(latitude=BLOIS[0], longitude=BLOIS[1]), candidate(), RULES)
    assert (here.distance_km, here.proximity) == (0.0, 1.0)
    d = haversine_km(*BLOIS, *VENDOME)
    at_limit = evaluate(offer(), candidate(max_travel_km=d), RULES)  # d ≤ d: admitted, at the very limit
    assert at_limit.proximity == 0.0
    assert proximity_component(15.0, 60.0) == 0.75
    assert proximity_component(0.0, 0.0) == 1.0  # a 0 km limit admits only the same place


@pytest.mark.parametrize(
    ("wanted", "offered", "expected"),
    [
        (35.0, 35.0, 1.0),
        (20.0, 35.0, 1 - 15 / 35),
        (35.0, 20.0, 1 - 15 / 35),
        (None, 35.0, 0.5),  # unknown: neutral
        (35.0, None, 0.5),
        (None, None, 0.5),
        (0.0, 0.0, 1.0),
    ],
)
def test_hours_component(wanted, offered, expected):
    assert hours_component(wanted, offered) == pytest.approx(expected, abs=1e-15)
    c, o = candidate(weekly_hours_wanted=wanted), offer(weekly_hours=offered)
    assert evaluate(o, c, RULES).hours == hours_component(wanted, offered)
    index = SpatialIndex()
    index.upsert_candidate("t", c)
    index.upsert_offer("t", o)
    assert index.candidates_for("t", o, 1)[0].hours == hours_component(wanted, offered)
    assert index.offers_for("t", c, 1)[0].hours == hours_component(wanted, offered)


def test_the_score_combines_the_components_with_the_weights():
    match = evaluate(offer(), candidate(weekly_hours_wanted=20.0), RULES)
    expected = 0.5 * 1.0 + 0.3 * (1 - match.distance_km / 40.0) + 0.2 * (1 - 15 / 35)
    assert match.score == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("weights", [(0.5, 0.3, 0.3), (0.5, 0.5, -0.0001), (math.nan, 0.5, 0.5)])
def test_weights_must_sum_to_one(weights):
    with pytest.raises(ValueError):
        Weights(*weights)


def test_the_haversine_uses_the_mean_earth_radius():
    # A quarter of a meridian: π/2 · R.
    assert haversine_km(0.0, 0.0, 90.0, 0.0) == pytest.approx(math.pi / 2 * EARTH_RADIUS_KM, rel=1e-12)


# ---------------------------------------------------------------------------------------------- order


def test_equal_scores_go_by_distance_then_id():
    rules = RankingRules(Weights(skills=0.5, proximity=0.0, hours=0.5))  # distance no longer changes the score
    near = candidate(id=uid(9), latitude=VENDOME[0] + 0.01)
    far_a = candidate(id=uid(3))
    far_b = candidate(id=uid(2))
    o = offer()
    ranked = rank_candidates(o, [near, far_a, far_b], rules, 10)
    assert [m.participant_id for m in ranked] == [uid(9), uid(2), uid(3)]
    assert len({m.score for m in ranked}) == 1
    index = SpatialIndex(rules)
    for c in (far_a, near, far_b):
        index.upsert_candidate("t", c)
    assert index.candidates_for("t", o, 10) == ranked
    # Offers: same place and score, ordered by offer id.
    offers = [offer(id=uid(n)) for n in (7, 5, 6)]
    ranked_offers = rank_offers(far_a, offers, rules, 10)
    assert [m.offer_id for m in ranked_offers] == [uid(5), uid(6), uid(7)]
    for each in offers:
        index.upsert_offer("t", each)
    assert index.offers_for("t", far_a, 10) == ranked_offers


def test_a_better_score_comes_first_whatever_the_distance():
    skilled_far = candidate(id=uid(1))
    unskilled_near = candidate(id=uid(2), latitude=VENDOME[0], longitude=VENDOME[1], skills=("A1101",))
    ranked = rank_candidates(offer(), [unskilled_near, skilled_far], RULES, 10)
    assert [m.participant_id for m in ranked] == [uid(1), uid(2)]
    assert ranked[0].distance_km > ranked[1].distance_km


def test_the_order_is_deterministic():
    cs = [candidate(id=uid(n), latitude=BLOIS[0] + (n % 3) * 0.01) for n in range(20)]
    first = rank_candidates(offer(), cs, RULES, 20)
    assert rank_candidates(offer(), list(reversed(cs)), RULES, 20) == first
    assert [m.participant_id for m in rank_candidates(offer(), cs, RULES, 5)] == [m.participant_id for m in first[:5]]


# ---------------------------------------------------------------------------------------------- explanation

weights_strategy = (
    st.tuples(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=100))
    .filter(lambda ab: ab[0] + ab[1] <= 100)
    .map(lambda ab: Weights(ab[0] / 100, ab[1] / 100, (100 - ab[0] - ab[1]) / 100))
)
codes = st.sampled_from(["K2204", "K2201", "K1302", "A1101", "N1103", "N4101", "K2204"])


@settings(max_examples=300, deadline=None)
@given(
    weights=weights_strategy,
    dlat=st.floats(-0.4, 0.4),
    dlon=st.floats(-0.4, 0.4),
    skills=st.lists(codes, max_size=3),
    wishes=st.lists(codes, max_size=2),
    rome=st.one_of(st.none(), codes),
    limit=st.one_of(st.none(), st.floats(0, 80)),
    wanted=st.one_of(st.none(), st.floats(0, 48)),
    offered=st.one_of(st.none(), st.floats(1, 48)),
)
def test_the_explanation_adds_up_to_the_score(weights, dlat, dlon, skills, wishes, rome, limit, wanted, offered):
    rules = RankingRules(weights)
    c = candidate(skills=tuple(skills), wishes=tuple(wishes), max_travel_km=limit, weekly_hours_wanted=wanted)
    o = offer(latitude=BLOIS[0] + dlat, longitude=BLOIS[1] + dlon, rome_code=rome, weekly_hours=offered)
    match = evaluate(o, c, rules)
    if match is None:
        assert failed_filters(o, c, rules) == ["too_far"]
        return
    exact = weights.skills * match.skills + weights.proximity * match.proximity + weights.hours * match.hours
    assert match.score == exact
    assert 0.0 <= match.score <= 1.0 + 1e-12
    for value in (match.skills, match.proximity, match.hours):
        assert 0.0 <= value <= 1.0
    explanation = match.explanation(weights)
    parts = explanation["components"]
    assert set(parts) == {"skills", "proximity", "hours"}
    assert {name: part["weight"] for name, part in parts.items()} == weights.as_dict()
    for name, part in parts.items():
        assert part["contribution"] == round(part["weight"] * getattr(match, name), 4)
    assert sum(part["contribution"] for part in parts.values()) == pytest.approx(explanation["score"], abs=2e-4)
    assert explanation["distance_km"] == round(match.distance_km, 3)


def test_the_explanation_says_what_each_component_is_worth():
    match = evaluate(offer(), candidate(skills=("K2201",), weekly_hours_wanted=None), RULES)
    parts = match.explanation(RULES.weights)["components"]
    assert parts["skills"] == {"value": 0.5, "weight": 0.5, "contribution": 0.25}
    assert parts["hours"] == {"value": 0.5, "weight": 0.2, "contribution": 0.1}
