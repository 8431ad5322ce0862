"""The authenticated caller, whatever proved it (an API key or an OIDC token). Pure."""

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str  # "apikey:<id>" or "oidc:<sub>": what services and the audit see
    roles: tuple[str, ...]
    key_id: uuid.UUID | None = None  # the API key's row, when a key authenticated the call
    rate_limit: str | None = None  # the key's own limit ("600/minute"), else the gateway's default

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def rate_key(self) -> str:
        """What rate limits count by: the key, or the token's subject."""
        return str(self.key_id) if self.key_id else self.subject
