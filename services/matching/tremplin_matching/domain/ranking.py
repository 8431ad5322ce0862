"""Explainable ranking of candidates and offers — DOMAIN.md §Matching. Pure: no I/O, no framework.

Hard filters (a pair is never proposed when one fails): the offer is open; the candidate is active
and consenting; the great-circle distance is at most the candidate's max travel distance; the
candidate holds a driving licence when the offer requires one; the offer has no night / weekend /
early work the candidate excludes.

Score in [0, 1] = w_skills × skills + w_proximity × proximity + w_hours × hours, weights summing to 1
(default 0.5 / 0.3 / 0.2):
- skills: the offer's ROME code is one of the candidate's skills 1.0; one of their wishes 0.8; the
  same sub-domain (first 3 characters, "K22") as one of their codes, skills or wishes, 0.5; the same
  letter ("K") 0.25; else 0 — the best over the candidate's codes. An offer without ROME code: 0.
- proximity: 1 − distance / max travel distance (a max of 0 km admits only the same place: 1.0).
- hours: 1 − |wanted − offered| / max(wanted, offered); both 0: 1.0; either unknown: 0.5, neutral
  (an unknown is neither a match nor a mismatch, so it neither lifts nor sinks a pair).
Order: score descending, then distance ascending, then id (UUID order, which is the order of the
canonical text). Floats are compared unrounded; only the presented explanation is rounded.

Decisions the normative text leaves open:
- Distance: haversine on a sphere of radius 6371.0088 km, the IUGG mean Earth radius R1 = (2a + b) / 3
  of WGS 84 (error against the ellipsoid under 0.5 %, irrelevant for a commute).
- A candidate without max travel distance gets `RankingRules.default_max_travel_km` (30 km unless
  configured; None makes such candidates not matchable). The explanation says which limit was used.

Every floating-point step goes through the same NumPy ufuncs whether it evaluates one pair (the
scalar functions) or thousands (the `*_many` functions the spatial index uses), in the same order:
both give the same bits, so an indexed ranking equals a brute-force one exactly, ties included.
"""

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

EARTH_RADIUS_KM = 6371.0088
DEFAULT_MAX_TRAVEL_KM = 30.0
SCHEDULE_BITS = {"night": 1, "weekend": 2, "early": 4}
SKILL_EXACT, WISH_EXACT, SAME_SUBDOMAIN, SAME_LETTER = 1.0, 0.8, 0.5, 0.25
HOURS_UNKNOWN = 0.5


@dataclass(frozen=True)
class Weights:
    skills: float = 0.5
    proximity: float = 0.3
    hours: float = 0.2

    def __post_init__(self) -> None:
        values = (self.skills, self.proximity, self.hours)
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ValueError("ranking weights must be finite and non-negative")
        if abs(sum(values) - 1.0) > 1e-9:
            raise ValueError(f"ranking weights must sum to 1 (skills + proximity + hours = {sum(values)})")

    def as_dict(self) -> dict[str, float]:
        return {"skills": self.skills, "proximity": self.proximity, "hours": self.hours}


@dataclass(frozen=True)
class RankingRules:
    weights: Weights = field(default_factory=Weights)
    default_max_travel_km: float | None = DEFAULT_MAX_TRAVEL_KM


@dataclass(frozen=True)
class CandidateProfile:
    id: uuid.UUID
    latitude: float
    longitude: float
    skills: tuple[str, ...] = ()
    wishes: tuple[str, ...] = ()
    max_travel_km: float | None = None
    weekly_hours_wanted: float | None = None
    schedule_exclusions: frozenset[str] = frozenset()
    driving_licence: bool = False
    consent_matching: bool = False
    active: bool = False


@dataclass(frozen=True)
class OfferProfile:
    id: uuid.UUID
    latitude: float
    longitude: float
    rome_code: str | None = None
    weekly_hours: float | None = None
    requires_driving_licence: bool = False
    night: bool = False
    weekend: bool = False
    early: bool = False
    status: str = "open"

    @property
    def schedule(self) -> frozenset[str]:
        return frozenset(name for name in SCHEDULE_BITS if getattr(self, name))


@dataclass(slots=True)
class Match:
    """One admissible (offer, candidate) pair with what its score is made of."""

    offer_id: uuid.UUID
    participant_id: uuid.UUID
    distance_km: float
    max_travel_km: float
    max_travel_km_is_default: bool
    skills: float
    proximity: float
    hours: float
    score: float

    def explanation(self, weights: Weights, digits: int = 4) -> dict:
        components = {}
        for name, weight in weights.as_dict().items():
            value = getattr(self, name)
            components[name] = {
                "value": round(value, digits),
                "weight": weight,
                "contribution": round(weight * value, digits),
            }
        return {
            "distance_km": round(self.distance_km, 3),
            "max_travel_km": self.max_travel_km,
            "max_travel_km_is_default": self.max_travel_km_is_default,
            "components": components,
            "score": round(self.score, digits),
        }


# ---------------------------------------------------------------------------------------------- distance


def radians(degrees):
    return np.radians(degrees)


def haversine_from_radians(lat1, cos_lat1, lon1, lat2, cos_lat2, lon2):
    """Great-circle distance in km between points given in radians (with the cosine of their latitude,
    which the index keeps per row). Scalars or arrays, broadcast."""
    s_lat = np.sin((lat2 - lat1) / 2.0)
    s_lon = np.sin((lon2 - lon1) / 2.0)
    h = s_lat * s_lat + cos_lat1 * cos_lat2 * (s_lon * s_lon)
    return (2.0 * EARTH_RADIUS_KM) * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    return float(haversine_from_radians(p1, np.cos(p1), radians(lon1), p2, np.cos(p2), radians(lon2)))


# ---------------------------------------------------------------------------------------------- components


def subdomain(code: str) -> str:
    return code[:3]


def skills_component(rome_code: str | None, skills: Iterable[str], wishes: Iterable[str]) -> float:
    if not rome_code:
        return 0.0
    skills, wishes = tuple(skills), tuple(wishes)
    if rome_code in skills:
        return SKILL_EXACT
    if rome_code in wishes:
        return WISH_EXACT
    codes = skills + wishes
    if any(subdomain(code) == subdomain(rome_code) for code in codes):
        return SAME_SUBDOMAIN
    if any(code[:1] == rome_code[:1] for code in codes):
        return SAME_LETTER
    return 0.0


def proximity_component(distance_km: float, max_travel_km: float) -> float:
    if max_travel_km <= 0:
        return 1.0
    return 1.0 - distance_km / max_travel_km


def hours_component(wanted: float | None, offered: float | None) -> float:
    if wanted is None or offered is None:
        return HOURS_UNKNOWN
    top = max(wanted, offered)
    if top <= 0:
        return 1.0
    return 1.0 - abs(wanted - offered) / top


def combine(weights: Weights, skills, proximity, hours):
    """The score; the same expression, in the same order, for one pair or many."""
    return weights.skills * skills + weights.proximity * proximity + weights.hours * hours


# ---------------------------------------------------------------------------------------------- one pair


def effective_max_travel_km(candidate: CandidateProfile, rules: RankingRules) -> float | None:
    return candidate.max_travel_km if candidate.max_travel_km is not None else rules.default_max_travel_km


def candidate_is_matchable(candidate: CandidateProfile, rules: RankingRules) -> bool:
    """The filters that depend on the candidate alone."""
    return candidate.active and candidate.consent_matching and effective_max_travel_km(candidate, rules) is not None


def failed_filters(offer: OfferProfile, candidate: CandidateProfile, rules: RankingRules) -> list[str]:
    """The hard filters the pair fails (empty: admissible)."""
    failed = []
    if offer.status != "open":
        failed.append("offer_not_open")
    if not candidate.active:
        failed.append("candidate_not_active")
    if not candidate.consent_matching:
        failed.append("candidate_not_consenting")
    limit = effective_max_travel_km(candidate, rules)
    if limit is None:
        failed.append("no_max_travel_distance")
    elif not haversine_km(candidate.latitude, candidate.longitude, offer.latitude, offer.longitude) <= limit:
        failed.append("too_far")
    if offer.requires_driving_licence and not candidate.driving_licence:
        failed.append("driving_licence_required")
    for name in sorted(offer.schedule & candidate.schedule_exclusions):
        failed.append(f"excluded_schedule_{name}")
    return failed


def evaluate(offer: OfferProfile, candidate: CandidateProfile, rules: RankingRules) -> Match | None:
    """The pair's match, or None when a hard filter fails."""
    if failed_filters(offer, candidate, rules):
        return None
    limit = effective_max_travel_km(candidate, rules)
    distance = haversine_km(candidate.latitude, candidate.longitude, offer.latitude, offer.longitude)
    skills = skills_component(offer.rome_code, candidate.skills, candidate.wishes)
    proximity = proximity_component(distance, limit)
    hours = hours_component(candidate.weekly_hours_wanted, offer.weekly_hours)
    return Match(
        offer_id=offer.id,
        participant_id=candidate.id,
        distance_km=distance,
        max_travel_km=limit,
        max_travel_km_is_default=candidate.max_travel_km is None,
        skills=skills,
        proximity=proximity,
        hours=hours,
        score=float(combine(rules.weights, skills, proximity, hours)),
    )


def order_key(match: Match, by: str) -> tuple:
    """score desc, distance asc, then the id of what is ranked (`participant` or `offer`)."""
    return (-match.score, match.distance_km, match.participant_id if by == "participant" else match.offer_id)


def rank_candidates(
    offer: OfferProfile, candidates: Iterable[CandidateProfile], rules: RankingRules, limit: int
) -> list[Match]:
    """Brute force, one pair at a time: the reference the index must equal."""
    matches = [m for c in candidates if (m := evaluate(offer, c, rules)) is not None]
    return sorted(matches, key=lambda m: order_key(m, "participant"))[:limit]


def rank_offers(
    candidate: CandidateProfile, offers: Iterable[OfferProfile], rules: RankingRules, limit: int
) -> list[Match]:
    matches = [m for o in offers if (m := evaluate(o, candidate, rules)) is not None]
    return sorted(matches, key=lambda m: order_key(m, "offer"))[:limit]


# ---------------------------------------------------------------------------------------------- many pairs


def proximity_many(distance_km: np.ndarray, max_travel_km: np.ndarray) -> np.ndarray:
    ratio = np.divide(distance_km, max_travel_km, out=np.zeros(np.shape(distance_km)), where=max_travel_km > 0)
    return 1.0 - ratio  # a limit of 0: ratio 0, proximity 1


def hours_many(wanted: np.ndarray, offered: np.ndarray) -> np.ndarray:
    """NaN stands for unknown."""
    top = np.maximum(wanted, offered)
    gap = np.divide(np.abs(wanted - offered), top, out=np.zeros(top.shape), where=top > 0)
    value = 1.0 - gap  # both 0: gap 0, hours 1
    value[np.isnan(top)] = HOURS_UNKNOWN
    return value


def schedule_mask(names: Iterable[str]) -> int:
    return sum(SCHEDULE_BITS[name] for name in set(names) if name in SCHEDULE_BITS)


def top_k(score: np.ndarray, distance: np.ndarray, id_hi: np.ndarray, id_lo: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best by (score desc, distance asc, id asc), exactly, ties included: the
    k-th best score is found by partition, every row at least that good is sorted."""
    n = score.shape[0]
    if n > k:
        kth = np.partition(score, n - k)[n - k]
        keep = np.flatnonzero(score >= kth)
    else:
        keep = np.arange(n)
    order = np.lexsort((id_lo[keep], id_hi[keep], distance[keep], -score[keep]))
    return keep[order[:k]]


def uuid_halves(ids: Sequence[uuid.UUID]) -> tuple[np.ndarray, np.ndarray]:
    """A UUID's 128 bits as two uint64: (hi, lo) order is the UUID order."""
    ints = [u.int for u in ids]
    hi = np.fromiter((i >> 64 for i in ints), dtype=np.uint64, count=len(ints))
    lo = np.fromiter((i & 0xFFFFFFFFFFFFFFFF for i in ints), dtype=np.uint64, count=len(ints))
    return hi, lo
