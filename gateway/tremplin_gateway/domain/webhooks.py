"""Webhooks out: subscriptions, signatures, retry schedule, when to give up. Pure.

A subscription of a tenant names the event types it wants (exact CloudEvents types, or a prefix
ending in `*`: `fr.tremplin.clauses.*`). Each delivery is a POST of the event in CloudEvents
structured JSON, signed with HMAC-SHA256 over `"<timestamp>.<body>"` with the subscription's
secret; see gateway/README.md for the headers and a verification snippet.
"""

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_VERSION = "v1"
MIN_SECRET_LENGTH = 16
MAX_EVENT_TYPES = 50


class InvalidSubscription(ValueError):
    """Bad url, event types or secret; the message says which, `field` names the body field."""

    def __init__(self, message: str, field: str = "url") -> None:
        super().__init__(message)
        self.field = field


class AddressNotAllowed(InvalidSubscription):
    """The url's host is, or resolves to, an address that is not public (or does not resolve)."""


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_backoff_seconds: float = 3600.0
    max_attempts: int = 10  # per delivery; then it is given up ("failed")
    disable_after: int = 20  # consecutive failed attempts of a subscription, across its deliveries

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        """When to try again after `attempts` failed attempts: base · 2^(attempts-1), capped."""
        delay = min(self.max_backoff_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return now + timedelta(seconds=delay)


def validate_url(url: str, allow_http: bool = False) -> str:
    """The url's shape (https only unless `allow_http`); where it points is `check_address`'s."""
    parts = urlsplit(url.strip())
    schemes = ("http", "https") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidSubscription("url must be an absolute https URL" if not allow_http
                                  else "url must be an absolute http(s) URL")  # fmt: skip
    try:
        parts.port  # noqa: B018 — raises on a port that is not one
    except ValueError:
        raise InvalidSubscription("url has an invalid port") from None
    if parts.username or parts.password:
        raise InvalidSubscription("url must not carry credentials")
    if len(url) > 2000:
        raise InvalidSubscription("url is too long")
    return url.strip()


# NAT64 prefixes: the well-known one embeds an IPv4 address (checked as such), the local-use one
# (RFC 8215) leads into the operator's own network.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def public_address(address: str) -> bool:
    """Whether a webhook may be sent to this IP address: a global unicast one only.

    Refused: loopback, private, shared (100.64/10), link-local (169.254/16, fe80::/10), unique-local,
    multicast, reserved, unspecified, documentation ranges — and the same behind an IPv4-mapped,
    6to4, Teredo or NAT64 IPv6 form. `is_global` alone lets multicast through, hence the rest.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scoped fe80::1%eth0 too
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return public_address(str(ip.ipv4_mapped))
        if ip.sixtofour is not None:
            return public_address(str(ip.sixtofour))
        if ip.teredo is not None:
            return all(public_address(str(v4)) for v4 in ip.teredo)
        if ip in _NAT64:
            return public_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        if ip in _NAT64_LOCAL or ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
        or ip.is_unspecified
    )  # fmt: skip


ADDRESS_NOT_ALLOWED = "url's host must resolve to public addresses only"


def check_addresses(addresses: Iterable[str]) -> None:
    """Every address a host resolved to must be public (one private answer refuses the host).

    No address (a name that does not resolve) is refused with the same message: the answer must not
    tell which names resolve in the gateway's network.
    """
    addresses = list(addresses)
    if not addresses or not all(public_address(a) for a in addresses):
        raise AddressNotAllowed(ADDRESS_NOT_ALLOWED)


def validate_event_types(event_types: Iterable[str], known: Iterable[str]) -> tuple[str, ...]:
    """Known types or prefixes ending in `*` that match at least one known type."""
    known = set(known)
    cleaned = tuple(dict.fromkeys(t.strip() for t in event_types))
    if not cleaned or len(cleaned) > MAX_EVENT_TYPES:
        raise InvalidSubscription(f"event_types must name 1 to {MAX_EVENT_TYPES} event types", "event_types")
    for pattern in cleaned:
        if not any(type_matches(pattern, t) for t in known):
            raise InvalidSubscription(f"event type {pattern!r} matches no event the platform publishes", "event_types")
    return cleaned


def validate_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH or len(secret) > 512:
        raise InvalidSubscription(f"secret must be {MIN_SECRET_LENGTH} to 512 characters", "secret")
    return secret


def type_matches(pattern: str, ce_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return ce_type.startswith(pattern[:-1])
    return pattern == ce_type


def wants(event_types: Iterable[str], ce_type: str) -> bool:
    return any(type_matches(p, ce_type) for p in event_types)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Tremplin-Signature` header value: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, timestamp: int, body: bytes, signature: str, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (used by the tests and shown in the README)."""
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def structured_event(
    *, id: str, type: str, source: str, subject: str, tenant: str, time: datetime, data: dict[str, Any]
) -> bytes:
    """The body of a delivery: the CloudEvent in structured JSON (`tenant` as an extension)."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": id,
            "type": type,
            "source": source,
            "subject": subject,
            "time": time.isoformat(),
            "tenant": tenant,
            "datacontenttype": "application/json",
            "data": data,
        },
        separators=(",", ":"),
        default=str,
    ).encode()
