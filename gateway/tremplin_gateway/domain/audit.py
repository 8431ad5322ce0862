"""One line of the gateway's audit: who called what, with which outcome. Pure."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    method: str
    path: str  # never the query string (personal data may travel there)
    status: int
    latency_ms: float
    request_id: str | None
    tenant: str | None  # None: the caller did not authenticate
    subject: str | None
    client: str | None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
