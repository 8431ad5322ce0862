import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from tremplin_shared.events.personal import PersonalDataCategory

from ..domain.api_keys import MAX_NAME_LENGTH, ApiKey


class ApiKeyOut(BaseModel):
    """An API key as operators see it: never the key itself, nor its hash."""

    id: uuid.UUID
    tenant: str
    name: str
    roles: list[str]
    prefix: str
    status: str  # active | revoked | expired
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    rate_limit: str | None = Field(description="The key's own rate limit; null: the gateway's default.")

    @classmethod
    def of(cls, key: ApiKey, now: datetime) -> "ApiKeyOut":
        return cls(
            id=key.id,
            tenant=key.tenant,
            name=key.name,
            roles=list(key.roles),
            prefix=key.prefix,
            status=key.status(now),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            expires_at=key.expires_at,
            rate_limit=key.rate_limit,
        )


class ApiKeyIn(BaseModel):
    """A new key of the admin's own tenant."""

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, examples=["SI insertion du département"])
    roles: list[str] = Field(min_length=1, examples=[["referent"]])
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working, with its time zone (default: never)."
    )
    rate_limit: str | None = Field(
        default=None,
        examples=["600/minute"],
        description="Default: the gateway's; at most the gateway's maximum (GATEWAY_API_KEY_MAX_RATE_LIMIT).",
    )


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="The key itself — shown this once, stored only as a hash.")


class AuditEntryOut(BaseModel):
    at: datetime
    request_id: str | None
    tenant: str | None
    subject: str | None
    method: str
    path: str
    status: int
    latency_ms: float
    client: str | None


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000, examples=["https://si.loir-et-cher.fr/hooks/tremplin"])
    event_types: list[str] = Field(min_length=1, examples=[["fr.tremplin.clauses.hours.validated.v1"]])
    secret: str = Field(description="Shared with the receiver to verify signatures; never shown back.")
    personal_data: list[PersonalDataCategory] = Field(
        default_factory=list,
        description="The personal data categories the receiver needs (`x-personal-data` in /asyncapi.json): "
        "location (where the person lives), health (RQTH). The fields of the others are left out of its events.",
    )


class WebhookPatch(BaseModel):
    """What changes; the fields left out stay as they are."""

    url: str | None = Field(default=None, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1)
    secret: str | None = Field(default=None, description="A new secret (rotation): signs every attempt from now on.")
    personal_data: list[PersonalDataCategory] | None = Field(
        default=None,
        description="Applies to the events queued from now on; a category taken away is also stripped from "
        "the deliveries still pending.",
    )


class WebhookOut(BaseModel):
    id: uuid.UUID
    tenant: str
    url: str
    event_types: list[str]
    personal_data: list[str]
    enabled: bool
    consecutive_failures: int
    disabled_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: dict) -> "WebhookOut":
        return cls(**{k: row[k] for k in cls.model_fields})


class WebhookAttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class WebhookDeliveryOut(BaseModel):
    id: uuid.UUID
    event_id: str
    event_type: str
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[WebhookAttemptOut]
