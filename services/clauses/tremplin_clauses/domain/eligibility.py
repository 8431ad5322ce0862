"""Who may be placed on a lot (DOMAIN.md §Clauses): a participant who is clause-eligible at the start
of the placement, or — when not, or not known — one for whom a facilitator gives an override reason.

Eligibility comes from the `clause_eligible` flag participants computes and sends in
participant.profile_changed (long-term unemployed, RSA, low-qualified youth, RQTH, senior job
seeker, SIAE employee). Clauses uses the latest flags it has heard of.
"""

from dataclasses import dataclass


class NotEligible(Exception):
    """Not clause-eligible (or not known to be) and no override reason."""


class OverrideNeedsFacilitator(Exception):
    """An override reason given by someone who is not a facilitator."""


@dataclass(frozen=True)
class Decision:
    eligible: bool | None  # as known at the placement (None: no flags heard of yet)
    override_reason: str | None  # kept when the placement stands on it


def decide(clause_eligible: bool | None, override_reason: str | None, is_facilitator: bool) -> Decision:
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
