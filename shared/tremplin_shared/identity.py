"""The identity the gateway forwards to services: tenant, roles, subject, signed with HMAC.

Header value: base64url(JSON claims) "." base64url(HMAC-SHA256(secret, payload)). The claims
carry an issue time so that a captured header is not reusable for long.
"""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

IDENTITY_HEADER = "X-Tremplin-Identity"


class InvalidIdentity(Exception):
    """Missing, malformed, forged or expired identity."""


@dataclass(frozen=True)
class Identity:
    tenant: str
    subject: str
    roles: tuple[str, ...] = field(default_factory=tuple)
    request_id: str | None = None

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def sign_identity(identity: Identity, secret: str, now: float | None = None) -> str:
    claims = {
        "tenant": identity.tenant,
        "sub": identity.subject,
        "roles": list(identity.roles),
        "rid": identity.request_id,
        "iat": int(now if now is not None else time.time()),
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify_identity(token: str | None, secret: str, max_age: int = 300, now: float | None = None) -> Identity:
    if not token:
        raise InvalidIdentity("missing identity")
    payload, _, signature = token.partition(".")
    if not payload or not signature or not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidIdentity("identity signature does not verify")
    try:
        claims = json.loads(_unb64(payload))
        issued_at = int(claims["iat"])
        identity = Identity(
            tenant=str(claims["tenant"]),
            subject=str(claims["sub"]),
            roles=tuple(str(r) for r in claims["roles"]),
            request_id=claims.get("rid"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidIdentity("identity claims are malformed") from exc
    current = now if now is not None else time.time()
    if abs(current - issued_at) > max_age:
        raise InvalidIdentity("identity has expired")
    if not identity.tenant:
        raise InvalidIdentity("identity has no tenant")
    return identity
