"""Event intake: CloudEvents in structured JSON from France Travail-style systems. Pure.

Each event is checked on its own: the envelope (CloudEvents 1.0 attributes), its type (one of
the inbound contracts, those of the `inbound.france-travail` topic), its data against that
contract, and its tenant (the caller's; an event naming another is refused). The id a producer
gives is unique per (tenant, source, id) — CloudEvents' own rule, per source — so the event
produced gets a name-based UUID of those three: sending the same event again is recognised as a
duplicate, and two producers' ids can never collide downstream.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from tremplin_shared.events import EVENT_TYPES, CloudEvent
from tremplin_shared.events.contracts import INBOUND_FRANCE_TRAVAIL_TOPIC

MAX_BATCH = 500
INTAKE_NAMESPACE = uuid.UUID("6f0f4c52-7c1e-4b53-9a55-5b2f0d3b1e21")


def inbound_types() -> dict[str, type]:
    return {t: c for t, c in EVENT_TYPES.items() if c.topic == INBOUND_FRANCE_TRAVAIL_TOPIC}


@dataclass
class Checked:
    index: int
    id: str | None
    event: CloudEvent | None = None  # set when valid
    errors: list[dict[str, str]] = field(default_factory=list)


def _error(errors: list, field_path: str, message: str) -> None:
    errors.append({"field": field_path, "message": message})


def produced_id(tenant: str, source: str, event_id: str) -> str:
    return str(uuid.uuid5(INTAKE_NAMESPACE, f"{tenant}\n{source}\n{event_id}"))


def check(index: int, raw: Any, tenant: str, request_id: str | None = None) -> Checked:
    if not isinstance(raw, dict):
        return Checked(index, None, errors=[{"field": "", "message": "an event must be a JSON object"}])
    errors: list[dict[str, str]] = []
    event_id = raw.get("id")
    if raw.get("specversion") != "1.0":
        _error(errors, "specversion", "must be '1.0'")
    for name in ("id", "source", "type"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            _error(errors, name, "required, a non-empty string of at most 500 characters")
    content_type = raw.get("datacontenttype", "application/json")
    if content_type != "application/json":
        _error(errors, "datacontenttype", "only application/json data is accepted")
    if "tenant" in raw and raw["tenant"] != tenant:
        _error(errors, "tenant", "an event can only be sent for the caller's own tenant")
    occurred = datetime.now(UTC)
    if "time" in raw:
        try:
            occurred = datetime.fromisoformat(str(raw["time"]).replace("Z", "+00:00"))
            if occurred.tzinfo is None:
                raise ValueError
        except ValueError:
            _error(errors, "time", "must be an RFC 3339 timestamp with a time zone")
    contract = inbound_types().get(raw.get("type")) if isinstance(raw.get("type"), str) else None
    if isinstance(raw.get("type"), str) and contract is None:
        _error(errors, "type", f"not an accepted event type; accepted: {', '.join(sorted(inbound_types()))}")
    data = raw.get("data")
    payload = None
    if not isinstance(data, dict):
        _error(errors, "data", "required, a JSON object")
    elif contract is not None:
        try:
            payload = contract.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                path = ".".join(str(p) for p in e.get("loc", ()))
                _error(errors, f"data.{path}" if path else "data", e.get("msg", "invalid"))
    if errors or payload is None:
        return Checked(index, event_id if isinstance(event_id, str) else None, errors=errors)
    event = CloudEvent(
        id=produced_id(tenant, raw["source"], event_id),
        type=contract.ce_type,
        source=raw["source"],
        subject=str(payload.aggregate_id()),
        tenant=tenant,
        data=payload.model_dump(mode="json"),
        time=occurred,
        request_id=request_id,
    )
    return Checked(index, event_id, event=event)


def parse_batch(body: Any) -> tuple[list[Any], bool]:
    """The events of a body and whether it was a batch (a JSON array) rather than one event."""
    if isinstance(body, list):
        return body, True
    return [body], False
