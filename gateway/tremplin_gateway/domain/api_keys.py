"""API keys: generation, format, verification and the rules of a usable key. Pure: no I/O.

A key looks like `trm_<prefix>_<secret>`. The prefix (12 hex characters) is not secret: it is
stored in clear, unique, and used to find the key's row; it is also what operators see in lists.
The secret is `secrets.token_urlsafe(32)` (256 bits). Only a hash of the whole key is stored, and
the key is shown once, when it is created.
"""

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from .principal import Principal

KEY_SCHEME = "trm"
PREFIX_BYTES = 6  # 12 hex characters; collisions are caught by the unique index and retried
SECRET_BYTES = 32

ROLES: tuple[str, ...] = ("admin", "referent", "facilitator", "fund_manager", "funder", "integration", "viewer")

# The prefix is hex (no "_"), so "trm_<prefix>_" splits unambiguously; the secret is URL-safe
# base64 and may itself contain "_" or "-".
_KEY_RE = re.compile(r"trm_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{16,128})")
_TENANT_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_TENANT_LENGTH = 100
MAX_NAME_LENGTH = 200
# A key's own rate limit, in the `limits` notation restricted to one simple item: "600/minute".
_RATE_RE = re.compile(r"[1-9][0-9]{0,6}/(second|minute|hour|day)")
_PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class InvalidApiKeyRequest(ValueError):
    """Bad tenant, roles, name, limit or expiry when creating a key; `field` names which."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class KeyRejected(Exception):
    """A presented key that does not authenticate. `reason` is safe to show to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def hash_key(plaintext: str) -> str:
    # SHA-256, not a slow password hash: keys carry 256 bits of randomness, so there is nothing to
    # brute-force, and the gateway verifies a key on every request — a fast hash is the right tool.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def parse_prefix(plaintext: str) -> str:
    """The lookup prefix of a well-formed key; KeyRejected for anything else."""
    match = _KEY_RE.fullmatch(plaintext.strip())
    if match is None:
        raise KeyRejected("invalid API key")
    return match["prefix"]


@dataclass(frozen=True)
class GeneratedKey:
    plaintext: str
    prefix: str
    hash: str


def generate_key() -> GeneratedKey:
    prefix = secrets.token_hex(PREFIX_BYTES)
    plaintext = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return GeneratedKey(plaintext=plaintext, prefix=prefix, hash=hash_key(plaintext))


def validate_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """Known roles, at least one, duplicates removed, order kept."""
    cleaned = tuple(dict.fromkeys(r.strip() for r in roles))
    if not cleaned:
        raise InvalidApiKeyRequest(f"at least one role is required (one of: {', '.join(ROLES)})", field="roles")
    unknown = [r for r in cleaned if r not in ROLES]
    if unknown:
        raise InvalidApiKeyRequest(
            f"unknown role(s) {', '.join(unknown)}; known roles: {', '.join(ROLES)}", field="roles"
        )
    return cleaned


def validate_tenant(slug: str) -> str:
    if len(slug) > MAX_TENANT_LENGTH or not _TENANT_RE.fullmatch(slug):
        raise InvalidApiKeyRequest(
            f"tenant must be a slug like 'loir-et-cher' (lowercase letters, digits and single hyphens), got {slug!r}",
            field="tenant",
        )
    return slug


def validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidApiKeyRequest(f"name must be 1 to {MAX_NAME_LENGTH} characters", field="name")
    return name


def validate_rate_limit(value: str | None, maximum: str | None = None) -> str | None:
    """A key's own limit, normalized; above `maximum` (compared as an average rate) it is refused."""
    if value is None:
        return None
    value = value.strip().replace(" ", "")
    if not _RATE_RE.fullmatch(value):
        raise InvalidApiKeyRequest(
            f"rate_limit must look like '600/minute' (per second, minute, hour or day), got {value!r}",
            field="rate_limit",
        )
    if maximum is not None and rate_per_second(value) > rate_per_second(maximum):
        raise InvalidApiKeyRequest(
            f"rate_limit must be at most {maximum} (or the same rate per another period)", field="rate_limit"
        )
    return value


def rate_per_second(limit: str) -> float:
    """The average rate of a limit such as "6000/minute" (100.0); ValueError for another notation."""
    amount, _, period = limit.strip().replace(" ", "").partition("/")
    if period not in _PERIOD_SECONDS or not amount.isdigit():
        raise ValueError(f"not a simple rate limit: {limit!r}")
    return int(amount) / _PERIOD_SECONDS[period]


@dataclass(frozen=True)
class ApiKey:
    id: uuid.UUID
    tenant: str
    name: str
    roles: tuple[str, ...]
    prefix: str
    hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    rate_limit: str | None = None  # None: the gateway's default

    @classmethod
    def issue(
        cls,
        tenant: str,
        roles: Iterable[str],
        name: str,
        now: datetime,
        expires_at: datetime | None = None,
        rate_limit: str | None = None,
        max_rate_limit: str | None = None,
    ) -> tuple["ApiKey", str]:
        """A new key and its plaintext (to show once); its own limit at most `max_rate_limit`."""
        if expires_at is not None and expires_at.utcoffset() is None:
            raise InvalidApiKeyRequest(
                "expires_at must carry a time zone (e.g. 2030-01-01T00:00:00Z)", field="expires_at"
            )
        if expires_at is not None and expires_at <= now:
            raise InvalidApiKeyRequest("expires_at must be in the future", field="expires_at")
        generated = generate_key()
        key = cls(
            id=uuid.uuid4(),
            tenant=validate_tenant(tenant),
            name=validate_name(name),
            roles=validate_roles(roles),
            prefix=generated.prefix,
            hash=generated.hash,
            created_at=now,
            expires_at=expires_at,
            rate_limit=validate_rate_limit(rate_limit, max_rate_limit),
        )
        return key, generated.plaintext

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def check(self, plaintext: str, now: datetime) -> None:
        """Raise KeyRejected unless `plaintext` is this key and the key is usable now."""
        if not hmac.compare_digest(hash_key(plaintext.strip()), self.hash):
            raise KeyRejected("invalid API key")
        status = self.status(now)
        if status != "active":
            raise KeyRejected(f"API key {status}")

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    def principal(self) -> Principal:
        return Principal(
            tenant=self.tenant,
            subject=f"apikey:{self.id}",
            roles=self.roles,
            key_id=self.id,
            rate_limit=self.rate_limit,
        )

    def revoked(self, now: datetime) -> "ApiKey":
        return self if self.revoked_at is not None else replace(self, revoked_at=now)

    def needs_touch(self, now: datetime, interval_seconds: float) -> bool:
        """Whether last_used_at is stale enough to be worth a write."""
        return self.last_used_at is None or (now - self.last_used_at).total_seconds() >= interval_seconds
