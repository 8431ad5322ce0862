"""Indicators for a period, from plain records. Pure: the repository gathers the facts, this counts.

A period is `[start, end]`, both days included.

PLIE (DOMAIN.md §Parcours state machine, last paragraph), over the tenant's `plie` parcours:
- entries: parcours opened (`oriented_at`) in the period;
- exits: parcours that exited (`exited_at`) in the period, whatever their opening date;
- positive exits: those exits whose kind is durable_employment or qualifying_training;
- rates over the exits, each against its target (met when rate ≥ target):
  positive/exits 50 %, durable_employment/exits 42 %, qualifying_training/exits 8 %.
  With no exit in the period a rate is undefined: `rate` and `met` are None.

RSA, over the tenant's `rsa` parcours *followed during the period*: opened on or before the end and
not exited before the start (`oriented_at ≤ end` and (`exited_at` is None or `exited_at ≥ start`)).
Each one is looked at on its reference day: the end of the period, or its exit day if it exited
within the period (what its situation was when its follow-up in the period ended).
- with_referent: it has an active référent on its reference day (an assignment covers
  `[started_at, ended_at)`: a référent replaced on day D is no longer active on D, the new one is);
- with_signed_cer: a CER signed on or before its reference day;
- median days from `oriented` to `welcomed`: over the parcours of the programme whose first move to
  `welcomed` happened in the period, `welcomed_at − oriented_at` in days (None if there is none);
- cer_reviews_overdue: parcours still open at the end whose latest CER (by signature date) has a
  review date before the end.
Shares are over the followed parcours (None when there is none).
"""

import statistics
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from .parcours import POSITIVE_EXITS

PLIE_TARGETS = {"positive": Fraction(50, 100), "durable_employment": Fraction(42, 100),
                "qualifying_training": Fraction(8, 100)}  # fmt: skip


class InvalidPeriod(ValueError):
    pass


@dataclass(frozen=True)
class ReferentPeriod:
    referent: str
    started_at: date
    ended_at: date | None = None  # None: still active

    def active_on(self, day: date) -> bool:
        return self.started_at <= day and (self.ended_at is None or day < self.ended_at)


@dataclass(frozen=True)
class Cer:
    signed_at: date
    review_at: date


@dataclass(frozen=True)
class ParcoursFacts:
    """What the indicators need of one parcours."""

    programme: str
    oriented_at: date
    exited_at: date | None = None
    exit_kind: str | None = None
    welcomed_at: date | None = None  # the first move to `welcomed`, if any
    referents: tuple[ReferentPeriod, ...] = ()
    cers: tuple[Cer, ...] = ()


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int
    target: Fraction | None = None

    @property
    def value(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target

    def as_dict(self) -> dict:
        value = self.value
        out: dict = {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "rate": None if value is None else round(float(value), 4),
        }
        if self.target is not None:
            out["target"] = float(self.target)
            out["met"] = self.met
        return out


@dataclass(frozen=True)
class PlieIndicators:
    start: date
    end: date
    entries: int
    exits: int
    positive_exits: int
    durable_employment_exits: int
    qualifying_training_exits: int
    positive_rate: Rate
    durable_employment_rate: Rate
    qualifying_training_rate: Rate
    exits_by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RsaIndicators:
    start: date
    end: date
    followed: int
    with_referent: Rate
    with_signed_cer: Rate
    welcomed: int  # parcours first welcomed in the period (the median's sample size)
    median_days_oriented_to_welcomed: float | None
    cer_reviews_overdue: int


def check_period(start: date, end: date) -> None:
    if start > end:
        raise InvalidPeriod("the period's start is after its end")


def _in(day: date | None, start: date, end: date) -> bool:
    return day is not None and start <= day <= end


def plie_indicators(records: list[ParcoursFacts], start: date, end: date) -> PlieIndicators:
    check_period(start, end)
    plie = [r for r in records if r.programme == "plie"]
    entries = sum(1 for r in plie if _in(r.oriented_at, start, end))
    exited = [r for r in plie if _in(r.exited_at, start, end)]
    by_kind: dict[str, int] = {}
    for r in exited:
        by_kind[r.exit_kind or "unknown"] = by_kind.get(r.exit_kind or "unknown", 0) + 1
    exits = len(exited)
    positive = sum(1 for r in exited if r.exit_kind in POSITIVE_EXITS)
    durable = by_kind.get("durable_employment", 0)
    qualifying = by_kind.get("qualifying_training", 0)
    return PlieIndicators(
        start=start,
        end=end,
        entries=entries,
        exits=exits,
        positive_exits=positive,
        durable_employment_exits=durable,
        qualifying_training_exits=qualifying,
        positive_rate=Rate(positive, exits, PLIE_TARGETS["positive"]),
        durable_employment_rate=Rate(durable, exits, PLIE_TARGETS["durable_employment"]),
        qualifying_training_rate=Rate(qualifying, exits, PLIE_TARGETS["qualifying_training"]),
        exits_by_kind=dict(sorted(by_kind.items())),
    )


def _followed(r: ParcoursFacts, start: date, end: date) -> bool:
    return r.oriented_at <= end and (r.exited_at is None or r.exited_at >= start)


def _reference_day(r: ParcoursFacts, end: date) -> date:
    return r.exited_at if r.exited_at is not None and r.exited_at <= end else end


def rsa_indicators(records: list[ParcoursFacts], start: date, end: date) -> RsaIndicators:
    check_period(start, end)
    rsa = [r for r in records if r.programme == "rsa"]
    followed = [r for r in rsa if _followed(r, start, end)]
    with_referent = sum(1 for r in followed if any(p.active_on(_reference_day(r, end)) for p in r.referents))
    with_cer = sum(1 for r in followed if any(c.signed_at <= _reference_day(r, end) for c in r.cers))
    delays = [(r.welcomed_at - r.oriented_at).days for r in rsa if _in(r.welcomed_at, start, end)]
    overdue = 0
    for r in rsa:
        open_at_end = r.oriented_at <= end and (r.exited_at is None or r.exited_at > end)
        signed = [c for c in r.cers if c.signed_at <= end]
        if open_at_end and signed:
            latest = max(signed, key=lambda c: c.signed_at)
            overdue += latest.review_at < end
    return RsaIndicators(
        start=start,
        end=end,
        followed=len(followed),
        with_referent=Rate(with_referent, len(followed)),
        with_signed_cer=Rate(with_cer, len(followed)),
        welcomed=len(delays),
        median_days_oriented_to_welcomed=float(statistics.median(delays)) if delays else None,
        cer_reviews_overdue=overdue,
    )
