"""The parcours d'insertion: one participant's supported path in one programme. Pure rules, no I/O.

The state machine is an explicit transition table (DOMAIN.md §Parcours state machine, the way
les-emplois writes its workflows): `TRANSITIONS[from]` is the set of states a parcours may move to.
Every move is a `Transition` appended to the parcours' log; the log replays to the current state.

Dates are business dates (`datetime.date`): the day something happened, as the référent says.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

PROGRAMMES = ("rsa", "plie", "tzcld", "clause", "iae")

ORIENTED = "oriented"
WELCOMED = "welcomed"
DIAGNOSED = "diagnosed"
SUPPORTED = "supported"
IMMERSION = "immersion"
TRAINING = "training"
EMPLOYED = "employed"
EXITED = "exited"

STATES = (ORIENTED, WELCOMED, DIAGNOSED, SUPPORTED, IMMERSION, TRAINING, EMPLOYED, EXITED)

# from → allowed targets. "Any but exited → exited (with an exit kind)"; `exited` is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    ORIENTED: frozenset({WELCOMED, EXITED}),
    WELCOMED: frozenset({DIAGNOSED, EXITED}),
    DIAGNOSED: frozenset({SUPPORTED, EXITED}),
    SUPPORTED: frozenset({IMMERSION, TRAINING, EMPLOYED, EXITED}),
    IMMERSION: frozenset({SUPPORTED, TRAINING, EMPLOYED, EXITED}),
    TRAINING: frozenset({SUPPORTED, EMPLOYED, EXITED}),
    EMPLOYED: frozenset({SUPPORTED, EXITED}),
    EXITED: frozenset(),
}

EXIT_KINDS = (
    "durable_employment",  # CDI, or CDD/interim of 6 months or more
    "temporary_employment",
    "subsidised_contract",
    "qualifying_training",
    "business_creation",
    "moved",
    "health",
    "dropped_out",
    "other",
)
POSITIVE_EXITS = frozenset({"durable_employment", "qualifying_training"})

# The PLIE's six months of follow-up in work: a parcours `employed` for this many days in a row exits.
DURABLE_EMPLOYMENT_DAYS = 183
DURABLE_EXIT_KIND = "durable_employment"
SYSTEM_ACTOR = "system"


class IllegalTransition(Exception):
    """A move the machine does not allow (409). Carries the targets that are allowed from here."""

    def __init__(self, from_state: str, to_state: str) -> None:
        self.from_state = from_state
        self.to_state = to_state
        self.allowed = allowed_targets(from_state)
        allowed = ", ".join(self.allowed) or "none: the parcours is closed"
        super().__init__(f"a parcours cannot go from {from_state} to {to_state} (allowed: {allowed})")


class InvalidTransitionRequest(ValueError):
    """A request that is wrong whatever the state (422), about one field of it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class CorruptLog(ValueError):
    """A transition log that does not follow the machine (never written by this code)."""


def allowed_targets(state: str) -> list[str]:
    """The states a parcours in `state` may move to, in the machine's order (for 409 bodies)."""
    targets = TRANSITIONS.get(state, frozenset())
    return [s for s in STATES if s in targets]


def is_allowed(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


def is_positive(exit_kind: str | None) -> bool:
    return exit_kind in POSITIVE_EXITS


def durable_exit_date(state_since: date) -> date:
    """Day 183 of employment: the parcours entered `employed` on `state_since` (day 0, the first day
    in work); on `state_since + 183 days` it has been employed for 183 full days in a row, and it
    exits that day. E.g. employed from 2024-01-01 → still employed on 2024-07-01 (day 182), exits
    on 2024-07-02 (day 183)."""
    return state_since + timedelta(days=DURABLE_EMPLOYMENT_DAYS)


def due_for_durable_exit(state: str, state_since: date, today: date) -> bool:
    """True when a parcours in `state` since `state_since` must exit as durable_employment by `today`.

    `state_since` is the date of the last transition, so "in a row" holds by construction: going
    back to `supported` and then to `employed` again restarts the count.
    """
    return state == EMPLOYED and today >= durable_exit_date(state_since)


@dataclass(frozen=True)
class Transition:
    """One row of the log: who moved the parcours, when, from what, to what, and why."""

    from_state: str | None  # None for the opening
    to_state: str
    at: date
    actor: str
    reason: str | None = None
    exit_kind: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class _Move(Protocol):
    from_state: str | None
    to_state: str


def replay(transitions: Iterable[_Move]) -> str:
    """The state a log leads to, checking every step against the machine. Raises CorruptLog."""
    state: str | None = None
    for step in transitions:
        if step.from_state != state:
            raise CorruptLog(f"step {step.from_state} → {step.to_state} does not start from {state}")
        if state is None:
            if step.to_state != ORIENTED:
                raise CorruptLog(f"a parcours opens in {ORIENTED}, not {step.to_state}")
        elif not is_allowed(state, step.to_state):
            raise CorruptLog(f"{state} → {step.to_state} is not allowed")
        state = step.to_state
    if state is None:
        raise CorruptLog("an empty log")
    return state


@dataclass
class Parcours:
    tenant: str
    participant_id: uuid.UUID
    programme: str
    oriented_at: date
    state: str = ORIENTED
    state_since: date | None = None
    exit_kind: str | None = None
    exited_at: date | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    opened_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Transitions made on this object and not yet stored (the repository writes and clears them).
    new_transitions: list[Transition] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.programme not in PROGRAMMES:
            raise ValueError(f"unknown programme {self.programme}")
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state}")
        if self.state_since is None:
            self.state_since = self.oriented_at

    @classmethod
    def open(cls, tenant: str, participant_id: uuid.UUID, programme: str, oriented_at: date, actor: str) -> "Parcours":
        """A new parcours starts `oriented`; its log starts with the move from nothing to `oriented`."""
        parcours = cls(tenant=tenant, participant_id=participant_id, programme=programme, oriented_at=oriented_at)
        parcours.new_transitions.append(
            Transition(from_state=None, to_state=ORIENTED, at=oriented_at, actor=actor, reason="parcours opened")
        )
        return parcours

    @property
    def is_open(self) -> bool:
        return self.state != EXITED

    @property
    def positive_exit(self) -> bool | None:
        return is_positive(self.exit_kind) if self.state == EXITED else None

    def allowed_targets(self) -> list[str]:
        return allowed_targets(self.state)

    def transition(
        self, to: str, at: date, exit_kind: str | None = None, *, actor: str, reason: str | None = None
    ) -> Transition:
        """Move to `to` on `at`, or raise. Checks, in this order:

        1. `exit_kind` is given iff `to` is `exited`, and is a known kind (InvalidTransitionRequest, 422);
        2. the machine allows `state → to` (IllegalTransition, 409, with the allowed targets);
        3. `at` is not before the last transition's date (InvalidTransitionRequest on `at`, 422).
        """
        if to == EXITED and exit_kind is None:
            raise InvalidTransitionRequest("exit_kind", "an exit needs an exit kind")
        if to != EXITED and exit_kind is not None:
            raise InvalidTransitionRequest("exit_kind", "an exit kind is only given when the parcours exits")
        if exit_kind is not None and exit_kind not in EXIT_KINDS:
            raise InvalidTransitionRequest("exit_kind", f"unknown exit kind {exit_kind}")
        if not is_allowed(self.state, to):
            raise IllegalTransition(self.state, to)
        if at < self.state_since:
            raise InvalidTransitionRequest(
                "at", f"{at.isoformat()} is before the last transition ({self.state_since.isoformat()})"
            )
        step = Transition(from_state=self.state, to_state=to, at=at, actor=actor, reason=reason, exit_kind=exit_kind)
        self.state = to
        self.state_since = at
        if to == EXITED:
            self.exit_kind = exit_kind
            self.exited_at = at
        self.new_transitions.append(step)
        return step

    def exit_if_durably_employed(self, today: date) -> Transition | None:
        """The 183-day rule: exits as durable_employment, dated day 183 (even if noticed later)."""
        if not due_for_durable_exit(self.state, self.state_since, today):
            return None
        return self.transition(
            EXITED,
            durable_exit_date(self.state_since),
            DURABLE_EXIT_KIND,
            actor=SYSTEM_ACTOR,
            reason=f"{DURABLE_EMPLOYMENT_DAYS} days in employment",
        )
