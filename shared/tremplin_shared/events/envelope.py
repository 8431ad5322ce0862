"""CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, the data as the JSON value."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import from_json

from ..log import current_request_id
from .contracts import EventData

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


_encode_json = json.JSONEncoder(separators=(",", ":"), default=str).encode  # built once, not per event


class MalformedEvent(ValueError):
    """A Kafka record that is not a CloudEvent we can read."""


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    subject: str  # the aggregate id; also the Kafka key, so one aggregate keeps its order
    tenant: str
    data: dict[str, Any]
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_id: str | None = None
    traceparent: str | None = None
    # `data` as JSON when known already (a record read, a contract serialised): `value()` without encoding.
    encoded: bytes | None = field(default=None, compare=False, repr=False)

    def header_items(self) -> list[tuple[str, str]]:
        """The Kafka headers as text (what the outbox stores)."""
        headers = [
            ("ce_specversion", SPEC_VERSION),
            ("ce_id", self.id),
            ("ce_type", self.type),
            ("ce_source", self.source),
            ("ce_time", self.time.isoformat()),
            ("ce_subject", self.subject),
            ("ce_tenant", self.tenant),
            ("content-type", CONTENT_TYPE),
        ]
        if self.request_id:
            headers.append(("ce_requestid", self.request_id))
        if self.traceparent:
            headers.append(("ce_traceparent", self.traceparent))
        return headers

    def headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.header_items()]

    def value(self) -> bytes:
        return self.encoded if self.encoded is not None else _encode_json(self.data).encode()

    @classmethod
    def from_kafka(cls, headers: list[tuple[str, bytes]] | tuple, value: bytes | None) -> "CloudEvent":
        h = {k: v.decode(errors="replace") if isinstance(v, bytes) else v for k, v in (headers or ()) if k in _READ}
        missing = [k for k in _REQUIRED if not h.get(k)]
        if missing:
            raise MalformedEvent(f"missing CloudEvents headers: {', '.join(missing)}")
        if h["ce_specversion"] != SPEC_VERSION:
            raise MalformedEvent(f"unsupported specversion {h['ce_specversion']}")
        try:
            data = from_json(value or b"null")  # pydantic's parser: a third of the stdlib's time
            time = datetime.fromisoformat(h["ce_time"]) if h.get("ce_time") else datetime.now(UTC)
        except ValueError as exc:
            raise MalformedEvent(f"unreadable event: {exc}") from exc
        if not isinstance(data, dict):
            raise MalformedEvent("event data must be a JSON object")
        return cls(
            id=h["ce_id"],
            type=h["ce_type"],
            source=h["ce_source"],
            subject=h.get("ce_subject", ""),
            tenant=h["ce_tenant"],
            data=data,
            time=time,
            request_id=h.get("ce_requestid"),
            traceparent=h.get("ce_traceparent"),
            encoded=value,
        )


_REQUIRED = ("ce_id", "ce_type", "ce_source", "ce_specversion", "ce_tenant")
_READ = frozenset((*_REQUIRED, "ce_time", "ce_subject", "ce_requestid", "ce_traceparent"))  # not content-type…


def new_event(data: EventData, *, tenant: str, source: str) -> CloudEvent:
    """Wrap a contract instance in a fresh envelope; the request id of the current request travels along."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=data.ce_type,
        source=source,
        subject=str(data.aggregate_id()),
        tenant=tenant,
        data=data.model_dump(mode="json"),
        request_id=current_request_id(),
        encoded=data.model_dump_json().encode(),  # pydantic's serialiser, not json.dumps of the dict again
    )
