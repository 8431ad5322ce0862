import uuid
from datetime import datetime

from pydantic import BaseModel

from ..domain.api_keys import ApiKey


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
        )
