"""Personal data categories of the contracts, and what a receiver not granted them gets."""

import uuid
from datetime import UTC, date, datetime

import pytest
from pydantic import BaseModel, Field

from tremplin_shared.events import EVENT_TYPES, ParticipantFlags, ParticipantProfileChangedV1, ParticipantRegisteredV1
from tremplin_shared.events.asyncapi import asyncapi_document
from tremplin_shared.events.personal import CATEGORIES, PERSONAL_DATA_KEY, personal, personal_fields, withhold


def profile_changed() -> dict:
    flags = ParticipantFlags(computed_on=date(2026, 3, 1), long_term_unemployed=True,
                             very_long_term_unemployed=False, youth=False, senior=False, rsa=True, rqth=True,
                             qpv=True, clause_eligible=True)  # fmt: skip
    event = ParticipantProfileChangedV1(participant_id=uuid.uuid4(), changed_at=datetime.now(UTC), latitude=47.59,
                                        longitude=1.33, commune_insee="41018", skills=["K2204"], flags=flags,
                                        active=True)  # fmt: skip
    return event.model_dump(mode="json")


def test_the_participant_events_declare_where_the_person_lives_and_their_rqth():
    assert personal_fields(ParticipantProfileChangedV1) == {
        ("latitude",): "location",
        ("longitude",): "location",
        ("commune_insee",): "location",
        ("flags", "rqth"): "health",
        ("flags", "qpv"): "location",
    }
    assert personal_fields(ParticipantRegisteredV1) == {("latitude",): "location", ("longitude",): "location"}


def test_every_declared_category_is_a_known_one():
    for contract in EVENT_TYPES.values():
        assert set(personal_fields(contract).values()) <= set(CATEGORIES), contract.ce_type
    with pytest.raises(ValueError, match="unknown personal data category"):
        personal("religion")  # type: ignore[arg-type]


def test_nothing_granted_leaves_the_personal_fields_out_and_the_rest_as_it_was():
    data = profile_changed()
    sent = withhold(ParticipantProfileChangedV1, data, granted=())
    assert {"latitude", "longitude", "commune_insee"}.isdisjoint(sent)
    assert {"rqth", "qpv"}.isdisjoint(sent["flags"])
    assert sent["flags"]["rsa"] is True and sent["flags"]["clause_eligible"] is True
    assert sent["participant_id"] == data["participant_id"] and sent["skills"] == ["K2204"]
    assert data["latitude"] == 47.59 and data["flags"]["rqth"] is True  # the given payload is untouched


def test_a_granted_category_is_sent_and_only_that_one():
    data = profile_changed()
    located = withhold(ParticipantProfileChangedV1, data, granted=("location",))
    assert (located["latitude"], located["commune_insee"], located["flags"]["qpv"]) == (47.59, "41018", True)
    assert "rqth" not in located["flags"]
    assert withhold(ParticipantProfileChangedV1, data, granted=CATEGORIES) == data


def test_an_event_without_personal_fields_is_sent_whole():
    data = {"parcours_id": str(uuid.uuid4()), "programme": "plie"}
    assert withhold(EVENT_TYPES["fr.tremplin.participants.parcours.opened.v1"], data, granted=()) is data


def test_optional_nested_models_are_walked():
    class Inner(BaseModel):
        home: str = Field(json_schema_extra=personal("location"))

    class Outer(BaseModel):
        inner: Inner | None = None

    assert personal_fields(Outer) == {("inner", "home"): "location"}
    assert withhold(Outer, {"inner": None}, granted=()) == {"inner": None}
    assert withhold(Outer, {"inner": {"home": "x"}}, granted=()) == {"inner": {}}


def test_the_asyncapi_document_shows_the_categories():
    schemas = asyncapi_document()["components"]["schemas"]
    flags = next(s for name, s in schemas.items() if name.endswith("ParticipantFlags"))
    assert flags["properties"]["rqth"][PERSONAL_DATA_KEY] == "health"
