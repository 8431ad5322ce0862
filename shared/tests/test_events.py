import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tremplin_shared.events import EVENT_TYPES, CloudEvent, ParticipantRegisteredV1, new_event
from tremplin_shared.events.asyncapi import asyncapi_document
from tremplin_shared.events.envelope import MalformedEvent
from tremplin_shared.log import request_id_var


def registered(**overrides):
    fields = dict(
        participant_id=uuid.uuid4(),
        registered_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        latitude=47.59,
        longitude=1.33,
        skills=["K2204", "N1103"],
    )
    return ParticipantRegisteredV1(**{**fields, **overrides})


def test_binary_mode_round_trip_keeps_every_attribute():
    token = request_id_var.set("req-42")
    try:
        event = new_event(registered(), tenant="loir-et-cher", source="/tremplin/participants")
    finally:
        request_id_var.reset(token)
    headers = dict(event.headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"fr.tremplin.participants.participant.registered.v1"
    assert headers["content-type"] == b"application/json"
    assert headers["ce_requestid"] == b"req-42"
    back = CloudEvent.from_kafka(event.headers(), event.value())
    assert back == event
    assert ParticipantRegisteredV1.model_validate(back.data) == registered(participant_id=back.data["participant_id"])


def test_the_aggregate_id_is_the_subject_and_so_the_kafka_key():
    data = registered()
    event = new_event(data, tenant="t", source="/s")
    assert event.subject == str(data.participant_id)


@pytest.mark.parametrize("missing", ["ce_id", "ce_type", "ce_tenant", "ce_specversion"])
def test_a_record_without_a_required_header_is_malformed(missing):
    event = new_event(registered(), tenant="t", source="/s")
    headers = [(k, v) for k, v in event.headers() if k != missing]
    with pytest.raises(MalformedEvent):
        CloudEvent.from_kafka(headers, event.value())


def test_non_json_or_non_object_data_is_malformed():
    headers = new_event(registered(), tenant="t", source="/s").headers()
    for value in (b"{nope", b"[1, 2]"):
        with pytest.raises(MalformedEvent):
            CloudEvent.from_kafka(headers, value)


@given(st.text(min_size=1, max_size=8))
def test_skills_must_be_rome_codes(code):
    import re

    if re.fullmatch(r"[A-N]\d{4}", code):
        assert registered(skills=[code]).skills == [code]
    else:
        with pytest.raises(ValidationError):
            registered(skills=[code])


def test_events_carry_no_names():
    fields = set(ParticipantRegisteredV1.model_fields)
    assert not fields & {"first_name", "last_name", "nir", "birth_date", "email", "phone"}


def test_asyncapi_is_generated_from_every_contract():
    document = asyncapi_document()
    assert document["asyncapi"].startswith("3.")
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert names == set(EVENT_TYPES)
    channel = document["channels"]["participants.events"]
    assert "participants_participant_registered_v1" in channel["messages"]
    payload = document["components"]["schemas"]["participants_participant_registered_v1"]
    assert "participant_id" in payload["required"]


def test_a_consumer_checks_the_contract_only_of_the_types_it_handles():
    from aiokafka.structs import ConsumerRecord

    from tremplin_shared.messaging.consumer import PoisonMessage, decode

    event = new_event(registered(), tenant="t", source="/s")
    broken = event.value().replace(b'"K2204"', b'"not a ROME code"')
    record = ConsumerRecord("participants.events", 0, 0, 0, 0, b"k", broken, None, len(broken), 0, event.headers())
    with pytest.raises(PoisonMessage, match="breaks its contract"):
        decode(record)  # whoever handles it
    with pytest.raises(PoisonMessage):
        decode(record, {event.type})
    skipped, data = decode(record, {"fr.tremplin.matching.offer.published.v1"})  # not this reader's business
    assert skipped.id == event.id and data is None


def test_a_broken_contract_is_told_by_field_never_with_the_values():
    """The error goes into the DLQ headers and the logs: where and why, not the person's data."""
    from aiokafka.structs import ConsumerRecord

    from tremplin_shared.messaging.consumer import PoisonMessage, decode

    event = new_event(registered(), tenant="t", source="/s")
    broken = event.value().replace(b'"K2204"', b'"1984-03-12 Camille"')
    record = ConsumerRecord("participants.events", 0, 0, 0, 0, b"k", broken, None, len(broken), 0, event.headers())
    with pytest.raises(PoisonMessage) as caught:
        decode(record)
    message = str(caught.value)
    assert "skills.0" in message and "1984-03-12" not in message and "Camille" not in message
