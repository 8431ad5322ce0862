"""The parcours state machine (DOMAIN.md §Parcours state machine), pure: the table, exhaustively; the
exit rules; the 183-day rule; and a hypothesis state machine over arbitrary requests."""

import itertools
import uuid
from datetime import date, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tremplin_participants.domain.parcours import (
    EXIT_KINDS,
    STATES,
    TRANSITIONS,
    CorruptLog,
    IllegalTransition,
    InvalidTransitionRequest,
    Parcours,
    Transition,
    allowed_targets,
    due_for_durable_exit,
    durable_exit_date,
    is_allowed,
    is_positive,
    replay,
)

# Written by hand from DOMAIN.md's table, independently of the code's TRANSITIONS:
#   oriented → welcomed; welcomed → diagnosed; diagnosed → supported;
#   supported → immersion, training, employed; immersion → supported, training, employed;
#   training → supported, employed; employed → supported; any but exited → exited; exited is final.
EXPECTED = {
    ("oriented", "welcomed"),
    ("welcomed", "diagnosed"),
    ("diagnosed", "supported"),
    ("supported", "immersion"),
    ("supported", "training"),
    ("supported", "employed"),
    ("immersion", "supported"),
    ("immersion", "training"),
    ("immersion", "employed"),
    ("training", "supported"),
    ("training", "employed"),
    ("employed", "supported"),
    ("oriented", "exited"),
    ("welcomed", "exited"),
    ("diagnosed", "exited"),
    ("supported", "exited"),
    ("immersion", "exited"),
    ("training", "exited"),
    ("employed", "exited"),
}
ALL_STATES = ["oriented", "welcomed", "diagnosed", "supported", "immersion", "training", "employed", "exited"]
DAY = date(2024, 3, 1)


def test_the_states_are_the_eight_of_the_domain():
    assert list(STATES) == ALL_STATES
    assert set(TRANSITIONS) == set(ALL_STATES)


def parcours_in(state: str, since: date = DAY) -> Parcours:
    return Parcours(
        tenant="t", participant_id=uuid.uuid4(), programme="plie", oriented_at=since, state=state, state_since=since
    )


@pytest.mark.parametrize(("from_state", "to_state"), list(itertools.product(ALL_STATES, ALL_STATES)))
def test_every_pair_is_allowed_iff_the_table_says_so(from_state, to_state):
    expected = (from_state, to_state) in EXPECTED
    assert is_allowed(from_state, to_state) is expected
    assert (to_state in allowed_targets(from_state)) is expected
    parcours = parcours_in(from_state)
    exit_kind = "moved" if to_state == "exited" else None
    if expected:
        step = parcours.transition(to_state, DAY + timedelta(days=1), exit_kind, actor="référente")
        assert (step.from_state, step.to_state, parcours.state) == (from_state, to_state, to_state)
        assert parcours.state_since == DAY + timedelta(days=1)
    else:
        with pytest.raises(IllegalTransition) as refused:
            parcours.transition(to_state, DAY + timedelta(days=1), exit_kind, actor="référente")
        assert refused.value.allowed == [s for s in ALL_STATES if (from_state, s) in EXPECTED]
        assert parcours.state == from_state
        assert parcours.new_transitions == []


def test_exited_is_final_and_allows_nothing():
    assert allowed_targets("exited") == []
    with pytest.raises(IllegalTransition) as refused:
        parcours_in("exited").transition("supported", DAY, actor="x")
    assert refused.value.allowed == []


def test_opening_logs_the_move_from_nothing_to_oriented():
    parcours = Parcours.open("t", uuid.uuid4(), "rsa", DAY, actor="agent-1")
    [first] = parcours.new_transitions
    assert (first.from_state, first.to_state, first.at, first.actor) == (None, "oriented", DAY, "agent-1")
    assert parcours.state == "oriented" and parcours.state_since == DAY and parcours.is_open


def test_an_exit_needs_an_exit_kind_and_only_an_exit_takes_one():
    with pytest.raises(InvalidTransitionRequest) as missing:
        parcours_in("supported").transition("exited", DAY, actor="x")
    assert missing.value.field == "exit_kind"
    with pytest.raises(InvalidTransitionRequest) as extra:
        parcours_in("supported").transition("employed", DAY, "durable_employment", actor="x")
    assert extra.value.field == "exit_kind"
    with pytest.raises(InvalidTransitionRequest):
        parcours_in("supported").transition("exited", DAY, "won_the_lottery", actor="x")


def test_a_transition_cannot_be_dated_before_the_last_one():
    parcours = parcours_in("supported", since=DAY)
    with pytest.raises(InvalidTransitionRequest) as early:
        parcours.transition("training", DAY - timedelta(days=1), actor="x")
    assert early.value.field == "at"
    parcours.transition("training", DAY, actor="x")  # the same day is fine
    assert parcours.state == "training"


@pytest.mark.parametrize("kind", EXIT_KINDS)
def test_positive_exits_are_durable_employment_and_qualifying_training(kind):
    assert is_positive(kind) is (kind in {"durable_employment", "qualifying_training"})
    parcours = parcours_in("training")
    parcours.transition("exited", DAY, kind, actor="x")
    assert (parcours.exit_kind, parcours.exited_at, parcours.positive_exit) == (kind, DAY, is_positive(kind))


def test_the_183_day_rule_day_182_stays_day_183_exits():
    since = date(2024, 1, 1)
    assert durable_exit_date(since) == date(2024, 7, 2)  # 2024 is a leap year: Jan 1 + 183 days
    assert not due_for_durable_exit("employed", since, since + timedelta(days=182))
    assert due_for_durable_exit("employed", since, since + timedelta(days=183))
    assert due_for_durable_exit("employed", since, since + timedelta(days=400))
    for state in ALL_STATES:
        if state != "employed":
            assert not due_for_durable_exit(state, since, since + timedelta(days=400))


def test_the_automatic_exit_is_dated_day_183_even_when_noticed_later():
    since = date(2023, 5, 10)
    parcours = parcours_in("employed", since)
    assert parcours.exit_if_durably_employed(since + timedelta(days=182)) is None
    step = parcours.exit_if_durably_employed(since + timedelta(days=200))
    assert (step.to_state, step.at, step.exit_kind, step.actor) == (
        "exited",
        since + timedelta(days=183),
        "durable_employment",
        "system",
    )
    assert parcours.positive_exit is True
    assert parcours.exit_if_durably_employed(since + timedelta(days=400)) is None  # once only


def test_replay_follows_the_machine_and_refuses_a_corrupt_log():
    ok = [Transition(None, "oriented", DAY, "a"), Transition("oriented", "welcomed", DAY, "a")]
    assert replay(ok) == "welcomed"
    with pytest.raises(CorruptLog):
        replay([Transition(None, "oriented", DAY, "a"), Transition("oriented", "employed", DAY, "a")])
    with pytest.raises(CorruptLog):
        replay([Transition(None, "oriented", DAY, "a"), Transition("welcomed", "diagnosed", DAY, "a")])
    with pytest.raises(CorruptLog):
        replay([Transition(None, "supported", DAY, "a")])
    with pytest.raises(CorruptLog):
        replay([])


class ParcoursMachine(RuleBasedStateMachine):
    """Any sequence of requests, legal or not: the parcours stays in a state the machine allows and
    its log replays to it. The expected outcome of each request is computed from EXPECTED (the hand
    table), not from the code."""

    def __init__(self) -> None:
        super().__init__()
        self.parcours = Parcours.open("t", uuid.uuid4(), "plie", DAY, actor="opener")
        self.log = list(self.parcours.new_transitions)
        self.model_state = "oriented"
        self.last_at = DAY

    @rule(
        to=st.sampled_from(ALL_STATES),
        days=st.integers(min_value=-3, max_value=40),
        kind=st.sampled_from(EXIT_KINDS),
        wrong_kind=st.booleans(),
    )
    def request(self, to, days, kind, wrong_kind):
        """Any target; the exit kind given iff exiting, or (wrong_kind) the other way round."""
        exit_kind = kind if (to == "exited") != wrong_kind else None
        at = self.last_at + timedelta(days=days)
        kind_ok = (exit_kind is not None) == (to == "exited")
        legal = (self.model_state, to) in EXPECTED
        try:
            step = self.parcours.transition(to, at, exit_kind, actor="someone", reason="r")
        except InvalidTransitionRequest as exc:
            assert not kind_ok or (legal and days < 0)
            assert exc.field == ("exit_kind" if not kind_ok else "at")
        except IllegalTransition as exc:
            assert kind_ok and not legal
            assert exc.allowed == [s for s in ALL_STATES if (self.model_state, s) in EXPECTED]
        else:
            assert kind_ok and legal and days >= 0
            self.log.append(step)
            self.model_state, self.last_at = to, at
        assert self.parcours.new_transitions == self.log  # a refused request leaves no log row

    @rule(
        index=st.integers(min_value=0, max_value=7),
        days=st.integers(min_value=0, max_value=40),
        exit_kind=st.sampled_from(EXIT_KINDS),
    )
    def legal_request(self, index, days, exit_kind):
        """A move the hand table allows from here (so that long walks happen): always accepted."""
        targets = sorted(to for (frm, to) in EXPECTED if frm == self.model_state and to != "exited")
        if not targets:
            return
        to = "exited" if index == 7 else targets[index % len(targets)]  # rarely exit: walks go deep
        at = self.last_at + timedelta(days=days)
        step = self.parcours.transition(to, at, exit_kind if to == "exited" else None, actor="someone")
        self.log.append(step)
        self.model_state, self.last_at = to, at

    @invariant()
    def the_state_is_allowed_and_the_log_replays_to_it(self):
        assert self.parcours.state in ALL_STATES
        assert self.parcours.state == self.model_state
        assert replay(self.log) == self.parcours.state
        assert [t.at for t in self.log] == sorted(t.at for t in self.log)
        assert (self.parcours.state == "exited") == (self.parcours.exit_kind is not None)
        if self.parcours.state == "exited":
            assert self.parcours.exited_at == self.log[-1].at


ParcoursMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
TestParcoursMachine = ParcoursMachine.TestCase
