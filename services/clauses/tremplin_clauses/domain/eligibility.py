"""Who may be placed on a lot (DOMAIN.md §Clauses): a participant who is clause-eligible at the start
of the placement, or — when not, or not known — one for whom a facilitator gives an override reason.

Eligibility comes from the `clause_eligible` flag participants computes and sends in
participant.profile_changed (long-term unemployed, RSA, low-qualified youth, RQTH, senior job
seeker, SIAE employee), computed from the situation on `computed_on`. Clauses keeps every dated
computation it has heard of (one per day: the latest sent that day) and decides with the one in
force at the placement's start (`in_force`), not with the latest.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime


class NotEligible(Exception):
    """Not clause-eligible (or not known to be) and no override reason."""


class OverrideNeedsFacilitator(Exception):
    """An override reason given by someone who is not a facilitator."""


@dataclass(frozen=True, order=True)
class Computation:
    """The flags as participants computed them on `computed_on`; `changed_at` (the event's) orders two
    computations of one day (the later is the participant's situation at the end of that day)."""

    computed_on: date
    changed_at: datetime
    clause_eligible: bool


def in_force(start: date, computations: Iterable[Computation]) -> Computation | None:
    """The computation whose flags stand at `start`: the latest one computed on or before it (on one
    day, the last sent). None when nothing is known of the person.

    A start before every known computation takes the earliest one. Participants computes flags when a
    person is registered and when their situation changes, so a placement recorded after the fact
    (someone already working on the lot when their territory registers them, a placement keyed in
    late, the start a hire reports) often starts before the first computation. That computation, made
    from the situation recorded at registration, is the best evidence there is; treating the person as
    unknown would make the override — a facilitator's reason for someone *outside* the criteria —
    routine paperwork for people inside them. A later computation is used only when nothing earlier
    exists: a change is never evidence for the time before it once an earlier computation is known.
    Deterministic whatever the order of `computations`."""
    known = sorted(computations)
    if not known:
        return None
    before = [c for c in known if c.computed_on <= start]
    if before:
        return before[-1]
    first_day = known[0].computed_on
    return [c for c in known if c.computed_on == first_day][-1]


def latest(computations: Iterable[Computation]) -> Computation | None:
    """The most recent computation (the person's flags as last heard of)."""
    return max(computations, default=None)


@dataclass(frozen=True)
class Decision:
    eligible: bool | None  # at the placement's start (None: no flags heard of yet)
    override_reason: str | None  # kept when the placement stands on it


def decide(clause_eligible: bool | None, override_reason: str | None, is_facilitator: bool) -> Decision:
    """`clause_eligible`: the flag in force at the start of the placement (see `in_force`)."""
    reason = (override_reason or "").strip() or None
    if reason is not None and not is_facilitator:
        raise OverrideNeedsFacilitator
    if clause_eligible:
        return Decision(True, None)
    if reason is None:
        raise NotEligible
    return Decision(clause_eligible, reason)


def stands(eligible: bool | None, override_reason: str | None) -> bool:
    """May hours be entered on a placement: the person was eligible, or a facilitator overrode.
    (A hire places the person by itself, whatever is known of them; then a facilitator decides.)"""
    return eligible is True or override_reason is not None
