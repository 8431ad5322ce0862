"""Orientations: the job seekers France Travail reports as registered in the territory, waiting for a
référent to take them on (accept: a participant is created) or to set them aside (dismiss). Pure
rules, no I/O.

An explicit transition table, as the parcours has: `TRANSITIONS[from]` is the set of statuses an
orientation may move to; every move is logged (who, when, from, to, reason).

A registration carries no name, no NIR, no birth date: the France Travail identifier, the
registration date and category, where the person lives, the jobs sought (ROME), RSA when known.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

PENDING = "pending"
ACCEPTED = "accepted"
DISMISSED = "dismissed"
STATUSES = (PENDING, ACCEPTED, DISMISSED)

# from → allowed targets. `accepted` and `dismissed` are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({ACCEPTED, DISMISSED}),
    ACCEPTED: frozenset(),
    DISMISSED: frozenset(),
}

FRANCE_TRAVAIL_ACTOR = "france-travail"  # the log's actor for an orientation created by an event


def allowed_targets(status: str) -> list[str]:
    return sorted(TRANSITIONS.get(status, frozenset()))


def is_allowed(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


class IllegalOrientationTransition(Exception):
    """A move the table does not allow (409). Carries the targets allowed from here."""

    def __init__(self, from_status: str, to_status: str) -> None:
        self.from_status = from_status
        self.to_status = to_status
        self.allowed = allowed_targets(from_status)
        allowed = ", ".join(self.allowed) or "none: the orientation is closed"
        super().__init__(f"an orientation cannot go from {from_status} to {to_status} (allowed: {allowed})")


@dataclass(frozen=True)
class Registration:
    """What a `fr.francetravail.demandeur.registered.v1` event says (already checked by its contract)."""

    france_travail_id: str
    registered_on: date
    category: str
    commune_insee: str
    latitude: float | None
    longitude: float | None
    rome_codes: tuple[str, ...]
    rsa: bool | None


@dataclass(frozen=True)
class OrientationTransition:
    from_status: str | None  # None for the creation
    to_status: str
    actor: str
    reason: str | None
    recorded_at: datetime


@dataclass
class Orientation:
    tenant: str
    france_travail_id: str | None  # None once an accepted person was erased
    registered_on: date
    category: str
    commune_insee: str
    latitude: float | None
    longitude: float | None
    rome_codes: list[str]
    rsa: bool | None
    status: str = PENDING
    participant_id: uuid.UUID | None = None
    dismissal_reason: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime | None = None

    @classmethod
    def from_registration(
        cls, tenant: str, reg: Registration, at: datetime
    ) -> tuple["Orientation", OrientationTransition]:
        item = cls(
            tenant=tenant,
            france_travail_id=reg.france_travail_id,
            registered_on=reg.registered_on,
            category=reg.category,
            commune_insee=reg.commune_insee,
            latitude=reg.latitude,
            longitude=reg.longitude,
            rome_codes=list(dict.fromkeys(reg.rome_codes)),
            rsa=reg.rsa,
            received_at=at,
        )
        return item, OrientationTransition(None, PENDING, FRANCE_TRAVAIL_ACTOR, None, at)

    def supersedes(self, reg: Registration) -> bool:
        """Does this registration replace what the pending entry holds? The later dateInscription wins;
        on the same date the latest report does (a correction); an older one never overwrites."""
        return self.status == PENDING and reg.registered_on >= self.registered_on

    def refresh(self, reg: Registration, at: datetime) -> bool:
        """Take a re-registration's data if it supersedes; returns whether anything changed."""
        if not self.supersedes(reg):
            return False
        values = {
            "registered_on": reg.registered_on,
            "category": reg.category,
            "commune_insee": reg.commune_insee,
            "latitude": reg.latitude,
            "longitude": reg.longitude,
            "rome_codes": list(dict.fromkeys(reg.rome_codes)),
            "rsa": reg.rsa,
        }
        changed = {k: v for k, v in values.items() if getattr(self, k) != v}
        for name, value in changed.items():
            setattr(self, name, value)
        if changed:
            self.updated_at = at
        return bool(changed)

    def move(self, to_status: str, actor: str, at: datetime, reason: str | None = None) -> OrientationTransition:
        if not is_allowed(self.status, to_status):
            raise IllegalOrientationTransition(self.status, to_status)
        step = OrientationTransition(self.status, to_status, actor, reason, at)
        self.status = to_status
        self.updated_at = at
        return step

    def accept(self, participant_id: uuid.UUID, actor: str, at: datetime) -> OrientationTransition:
        step = self.move(ACCEPTED, actor, at)
        self.participant_id = participant_id
        return step

    def dismiss(self, reason: str, actor: str, at: datetime) -> OrientationTransition:
        step = self.move(DISMISSED, actor, at, reason)
        self.dismissal_reason = reason
        return step
