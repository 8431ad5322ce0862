"""OIDC bearer tokens from a départemental identity provider, verified against its JWKS.

Checked: the signature (with a key of the configured JWKS, by `kid`, only the configured
algorithms — never `none`, never an HMAC with the public key), `iss`, `aud`, `exp` (and `nbf`,
`iat` when present), with a small leeway. The JWKS is fetched from `GATEWAY_OIDC_JWKS_URL` and
cached; a token signed with a `kid` the cache does not know triggers one refetch (at most one per
`min_refresh_seconds`), which is how a key rotation at the provider is followed.
"""

import asyncio
import logging
import time

import httpx
import jwt

from .config import Settings
from .domain.oidc import TokenRejected, principal_from_claims
from .domain.principal import Principal

log = logging.getLogger(__name__)


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("eyJ")


class OidcVerifier:
    def __init__(self, settings: Settings, client: httpx.AsyncClient, min_refresh_seconds: float = 10.0) -> None:
        unsafe = [a for a in settings.oidc_algorithms if a.lower() == "none" or a.upper().startswith("HS")]
        if unsafe:  # a shared secret or no signature: not for tokens of another party
            raise ValueError(f"OIDC algorithms not allowed: {unsafe}")
        self.settings = settings
        self.client = client
        self.min_refresh_seconds = min_refresh_seconds
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        if settings.oidc_jwks:
            self._keys = jwt.PyJWKSet.from_json(settings.oidc_jwks)
            self._fetched_at = float("inf")  # static keys: never refetched

    async def _jwks(self, refresh: bool = False) -> jwt.PyJWKSet | None:
        now = time.monotonic()
        stale = now - self._fetched_at > self.settings.oidc_jwks_cache_seconds
        if self._keys is not None and not stale and not refresh:
            return self._keys
        if not self.settings.oidc_jwks_url or (refresh and now - self._fetched_at < self.min_refresh_seconds):
            return self._keys
        async with self._lock:
            if time.monotonic() - self._fetched_at < self.min_refresh_seconds and self._keys is not None:
                return self._keys
            try:
                response = await self.client.get(self.settings.oidc_jwks_url, timeout=5.0)
                response.raise_for_status()
                self._keys = jwt.PyJWKSet.from_dict(response.json())
                self._fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                log.warning("could not fetch the JWKS", extra={"fields": {"error": repr(exc)}})
        return self._keys

    async def _key_for(self, kid: str | None) -> jwt.PyJWK:
        keys = await self._jwks()
        for refresh in (False, True):
            if keys is not None:
                for key in keys.keys:
                    if kid is None or key.key_id == kid:
                        return key
            if refresh:
                break
            keys = await self._jwks(refresh=True)
        raise TokenRejected("token signed with an unknown key")

    async def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:  # DecodeError, and a header PyJWT refuses ("kid": 123, "crit": "x")
            raise TokenRejected("malformed token") from None
        if header.get("alg") not in s.oidc_algorithms:
            raise TokenRejected("token algorithm not accepted")
        key = await self._key_for(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=s.oidc_algorithms,
                audience=s.oidc_audience,
                issuer=s.oidc_issuer,
                leeway=s.oidc_leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("token audience not accepted") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("token issuer not accepted") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("token signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(f"invalid token ({type(exc).__name__})") from None
        return principal_from_claims(claims, s.oidc_tenant_claim, s.oidc_roles_claim)
