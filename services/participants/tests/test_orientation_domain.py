"""The orientation's transition table and registration rules (pure, no I/O)."""

import uuid
from datetime import UTC, date, datetime

import pytest

from tremplin_participants.domain.orientation import (
    ACCEPTED,
    DISMISSED,
    PENDING,
    STATUSES,
    TRANSITIONS,
    IllegalOrientationTransition,
    Orientation,
    Registration,
    allowed_targets,
    is_allowed,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def registration(on: date = date(2026, 3, 1), **changes) -> Registration:
    values = dict(france_travail_id="FT-1", registered_on=on, category="A", commune_insee="41018", latitude=47.59,
                  longitude=1.33, rome_codes=("K2204", "K2204", "N1103"), rsa=None)  # fmt: skip
    return Registration(**{**values, **changes})


def pending(on: date = date(2026, 3, 1)) -> Orientation:
    item, _ = Orientation.from_registration("t", registration(on), NOW)
    return item


def test_the_table_is_pending_to_accepted_or_dismissed_and_nothing_else():
    assert {PENDING: {ACCEPTED, DISMISSED}, ACCEPTED: set(), DISMISSED: set()} == TRANSITIONS
    assert set(TRANSITIONS) == set(STATUSES)


@pytest.mark.parametrize("from_status", STATUSES)
@pytest.mark.parametrize("to_status", STATUSES)
def test_every_pair_is_allowed_exactly_when_the_table_says(from_status, to_status):
    expected = from_status == PENDING and to_status in (ACCEPTED, DISMISSED)
    assert is_allowed(from_status, to_status) is expected
    item = pending()
    item.status = from_status
    if expected:
        step = item.move(to_status, "referente", NOW, "r")
        assert (step.from_status, step.to_status, step.actor, step.reason) == (from_status, to_status, "referente", "r")
        assert item.status == to_status
    else:
        with pytest.raises(IllegalOrientationTransition) as raised:
            item.move(to_status, "referente", NOW)
        assert raised.value.allowed == allowed_targets(from_status)
        assert item.status == from_status  # a refused move changes nothing


def test_accept_and_dismiss_record_their_outcome():
    item = pending()
    pid = uuid.uuid4()
    item.accept(pid, "referente", NOW)
    assert (item.status, item.participant_id) == (ACCEPTED, pid)
    other = pending()
    step = other.dismiss("moved out of the département", "referente", NOW)
    assert (other.status, other.dismissal_reason, step.reason) == (DISMISSED, "moved out of the département",
                                                                   "moved out of the département")  # fmt: skip
    with pytest.raises(IllegalOrientationTransition):
        other.accept(pid, "referente", NOW)


def test_creation_is_logged_from_none_and_dedupes_rome_codes():
    item, step = Orientation.from_registration("t", registration(), NOW)
    assert (step.from_status, step.to_status, step.actor) == (None, PENDING, "france-travail")
    assert item.rome_codes == ["K2204", "N1103"] and item.status == PENDING and item.rsa is None


def test_a_later_or_same_day_registration_refreshes_an_older_one_never_does():
    item = pending(date(2026, 3, 1))
    assert item.refresh(registration(date(2026, 2, 1), category="B"), NOW) is False
    assert (item.registered_on, item.category) == (date(2026, 3, 1), "A")
    assert item.refresh(registration(date(2026, 3, 1)), NOW) is False  # the same again: nothing changed
    assert item.refresh(registration(date(2026, 3, 1), rsa=True), NOW) is True  # same day: a correction
    assert item.refresh(registration(date(2026, 4, 1), category="B", commune_insee="41269"), NOW) is True
    assert (item.registered_on, item.category, item.commune_insee, item.rsa) == (date(2026, 4, 1), "B", "41269", None)


def test_a_closed_orientation_takes_no_registration():
    item = pending()
    item.dismiss("duplicate", "referente", NOW)
    assert item.supersedes(registration(date(2027, 1, 1))) is False
    assert item.refresh(registration(date(2027, 1, 1)), NOW) is False
