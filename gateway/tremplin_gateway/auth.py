"""Who is calling and may they: the credential presented, then THE permission table.

A credential is an API key (`Authorization: Bearer trm_…` or `X-API-Key: trm_…`) or, when OIDC is
configured, a bearer token of the identity provider (`Authorization: Bearer eyJ…`). The key or
token itself is never logged, stored or forwarded; only who it stands for is used.
"""

import hashlib
import logging
import time
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from tremplin_shared.problems import Forbidden, NotFound, Unauthorized

from .adapters.api_keys import ApiKeyRepository
from .domain.api_keys import ApiKey, KeyRejected, hash_key, parse_prefix
from .domain.oidc import TokenRejected
from .domain.permissions import allowed_roles, known_path
from .domain.principal import Principal
from .keys import Sessionmaker, find_usable_key, utcnow
from .oidc import OidcVerifier, looks_like_jwt

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
WWW_AUTHENTICATE = 'Bearer realm="tremplin", ApiKey header="X-API-Key"'


class ApiKeyRequired(Unauthorized):
    """401 with the WWW-Authenticate header that says which credentials are accepted."""

    def __init__(self, detail: str | None = None, headers: dict[str, str] | None = None, **extra) -> None:
        super().__init__(detail, {"WWW-Authenticate": WWW_AUTHENTICATE, **(headers or {})}, **extra)


def presented_key(request: Request) -> str | None:
    """`Authorization: Bearer <key>` first, then `X-API-Key: <key>`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get(API_KEY_HEADER, "").strip() or None


class Authenticator:
    """Checks keys against the database; writes last_used_at at most once per key and interval.

    A key found valid is remembered for `cache_seconds` (by the hash of what was presented), so
    that a busy key is not read from the database on every request; its expiry is still checked
    on every request. A revocation through this process's admin API takes effect at once; one
    made elsewhere (the CLI, another gateway instance) within `cache_seconds`.
    """

    MAX_CACHED = 10_000

    def __init__(
        self,
        sessionmaker: Sessionmaker,
        touch_interval_seconds: float = 60.0,
        oidc: OidcVerifier | None = None,
        cache_seconds: float = 0.0,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.oidc = oidc
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey]] = {}
        self.touch_interval_seconds = touch_interval_seconds
        self._touched: dict[uuid.UUID, datetime] = {}  # last write by this process, per key

    async def authenticate(self, plaintext: str | None) -> Principal:
        if not plaintext:
            raise ApiKeyRequired("An API key is required: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")
        if self.oidc is not None and looks_like_jwt(plaintext):
            try:
                return await self.oidc.verify(plaintext)
            except TokenRejected as exc:
                raise ApiKeyRequired(exc.reason) from None
        now = utcnow()
        try:
            key = await self._usable_key(plaintext, now)
        except KeyRejected as exc:
            raise ApiKeyRequired(exc.reason) from None
        await self._touch(key, now)
        return key.principal()

    async def _usable_key(self, plaintext: str, now: datetime) -> ApiKey:
        if self.cache_seconds <= 0:
            return await find_usable_key(self.sessionmaker, plaintext, now)
        digest = hash_key(plaintext.strip())
        cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            key = cached[1]
            key.check(plaintext, now)  # expired since: refused now
            return key
        key = await find_usable_key(self.sessionmaker, plaintext, now)
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (time.monotonic(), key)
        return key

    def forget(self, key_id: uuid.UUID) -> None:
        """Drop a key from the cache (it was just revoked here)."""
        for digest, (_, key) in list(self._cache.items()):
            if key.id == key_id:
                del self._cache[digest]

    async def _touch(self, key: ApiKey, now: datetime) -> None:
        # The row says when it was last written (by any gateway instance); the dict avoids a burst
        # of identical writes from concurrent requests of this process in the same instant.
        if not key.needs_touch(now, self.touch_interval_seconds):
            return
        previous = self._touched.get(key.id)
        if previous is not None and (now - previous).total_seconds() < self.touch_interval_seconds:
            return
        self._touched[key.id] = now
        try:
            async with self.sessionmaker() as session:
                await ApiKeyRepository(session).touch(key.id, now)
                await session.commit()
        except SQLAlchemyError:  # a missed "last used" timestamp is not worth failing the request
            log.warning("could not record API key use", extra={"fields": {"key_id": str(key.id)}}, exc_info=True)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def credential_fingerprint(credential: str) -> str:
    """What counts a credential's failures: an API key's prefix (not secret, the same whatever
    secret is tried with it), else a short hash — never the credential itself."""
    try:
        return "key:" + parse_prefix(credential)
    except KeyRejected:
        return "sha256:" + hashlib.sha256(credential.encode()).hexdigest()[:32]


async def authenticated(request: Request) -> Principal:
    """The caller; 401 without a valid credential, 429 for a failing one from an address that
    failed too often lately (with that credential, or with any). The credential is checked first:
    one that authenticates is never refused for the failures of others behind the same address."""
    limits = request.app.state.rate_limits
    credential = presented_key(request)
    try:
        principal = await request.app.state.authenticator.authenticate(credential)
    except Unauthorized:
        if credential:
            await limits.auth_failed(client_address(request), credential_fingerprint(credential))
        raise
    request.state.principal = principal
    await limits.hit(principal.rate_limit, principal.rate_key)
    return principal


async def authorized(request: Request) -> Principal:
    """The caller, if the permission table lets its roles call this method on this path.

    401 without a valid credential, 404 for a path no rule knows, 403 for a role not allowed.
    """
    principal = await authenticated(request)
    path, method = request.scope["path"], request.method  # (request.url would build a whole URL)
    if not known_path(path):
        raise NotFound("No API at this path.")
    roles = allowed_roles(method, path)
    if not principal.has_role(*roles):
        if not roles:
            raise Forbidden(f"Nobody may {method} {path}.", required_roles=[])
        raise Forbidden(f"This requires the role {' or '.join(roles)}.", required_roles=list(roles))
    return principal


Caller = Annotated[Principal, Depends(authorized)]
