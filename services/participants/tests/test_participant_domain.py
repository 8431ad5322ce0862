from datetime import UTC, date, datetime

import pytest

from tremplin_participants.domain.participant import InvalidParticipant, Participant


def participant(**overrides) -> Participant:
    fields = dict(
        tenant="loir-et-cher",
        first_name="Camille",
        last_name="Martin",
        birth_date=date(1984, 3, 12),
        sex="F",
        latitude=47.5861,
        longitude=1.3359,
        skills=["K2204", "N1103", "K2204"],
        registered_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
    )
    return Participant(**{**fields, **overrides})


def test_skills_are_deduplicated_in_their_declared_order():
    assert participant().skills == ["K2204", "N1103"]


@pytest.mark.parametrize("birth_date", [date(2026, 11, 2), date(2030, 1, 1)])
def test_a_birth_date_that_is_not_in_the_past_is_refused(birth_date):
    with pytest.raises(InvalidParticipant):
        participant(birth_date=birth_date)


def test_the_registered_event_carries_location_and_skills_but_no_identity():
    p = participant()
    event = p.registered_event()
    assert event.participant_id == p.id
    assert (event.latitude, event.longitude, event.skills) == (47.5861, 1.3359, ["K2204", "N1103"])
    dumped = event.model_dump_json()
    assert "Camille" not in dumped and "Martin" not in dumped and "1984" not in dumped
