"""The application machine, exhaustively: every (from, to) pair over all states, against a table
written by hand from DOMAIN.md §Matching (not derived from the code's table)."""

from datetime import date

import pytest

from tremplin_matching.domain import applications as machine

STATES = ["proposed", "sent", "interview", "hired", "refused", "withdrawn"]

# DOMAIN.md: proposed → sent → interview → hired | refused; proposed, sent, interview may go to
# withdrawn; hired, refused, withdrawn are final.
LEGAL = {
    ("proposed", "sent"),
    ("proposed", "withdrawn"),
    ("sent", "interview"),
    ("sent", "withdrawn"),
    ("interview", "hired"),
    ("interview", "refused"),
    ("interview", "withdrawn"),
}


def test_the_states_are_those_of_the_domain():
    assert set(machine.STATES) == set(STATES)
    assert machine.INITIAL == "proposed"
    assert {"hired", "refused", "withdrawn"} == machine.FINAL
    assert {"proposed", "sent", "interview"} == machine.ACTIVE


@pytest.mark.parametrize("from_state", STATES)
@pytest.mark.parametrize("to_state", STATES)
def test_every_pair(from_state, to_state):
    if (from_state, to_state) in LEGAL:
        machine.check_transition(from_state, to_state)
    else:
        with pytest.raises(machine.IllegalTransition) as raised:
            machine.check_transition(from_state, to_state)
        expected_allowed = sorted(t for f, t in LEGAL if f == from_state)
        assert raised.value.allowed == expected_allowed


def test_unknown_states_are_illegal():
    with pytest.raises(machine.IllegalTransition):
        machine.check_transition("proposed", "employed")
    with pytest.raises(machine.IllegalTransition):
        machine.check_transition("nowhere", "sent")


def test_hired_needs_the_three_fields():
    machine.check_hire_fields(date(2026, 3, 2), "cdi", 35)
    with pytest.raises(machine.MissingHireFields) as raised:
        machine.check_hire_fields(None, None, None)
    assert [f for f, _ in raised.value.errors] == ["start_date", "contract_type", "weekly_hours"]
    with pytest.raises(machine.MissingHireFields) as raised:
        machine.check_hire_fields(date(2026, 3, 2), "cdd", 49)
    assert [f for f, _ in raised.value.errors] == ["weekly_hours"]
    with pytest.raises(machine.MissingHireFields):
        machine.check_hire_fields(date(2026, 3, 2), "cdd", 0)
