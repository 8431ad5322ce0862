"""OIDC bearer tokens verified against a JWKS, with RSA keys generated here."""

import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm

from tremplin_shared.identity import verify_identity

from .test_gateway_http import echo_upstream

pytestmark = pytest.mark.asyncio

ISSUER = "https://idp.loir-et-cher.fr/realms/insertion"
AUDIENCE = "tremplin"


class Idp:
    """A stand-in identity provider: RSA keys and the tokens it signs."""

    def __init__(self) -> None:
        self.keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}

    def rotate(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict:
        out = []
        for kid, private in self.keys.items():
            jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}

    def token(self, kid: str = "k1", key=None, headers: dict | None = None, **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "agent-42",
            "exp": now + 300,
            "iat": now,
            "tenant": "loir-et-cher",
            "realm_access": {"roles": ["referent", "offline_access"]},
            **overrides,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid, **(headers or {})})


@pytest.fixture(scope="module")
def idp() -> Idp:
    return Idp()


def oidc_settings(settings_for, **overrides):
    return settings_for(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_roles_claim="realm_access.roles", **overrides)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_token_is_a_principal_forwarded_to_the_service(
    idp, settings_for, start_gateway, serve_app, secret
):
    async with serve_app(echo_upstream()) as upstream:
        settings = oidc_settings(settings_for, oidc_jwks=json.dumps(idp.jwks()), participants_url=upstream)
        async with start_gateway(settings) as gw:
            response = await gw.client.get("/api/v1/participants", headers=bearer(idp.token()))
            assert response.status_code == 200, response.text
            identity = verify_identity(response.json()["identity"][0], secret)
            assert identity.tenant == "loir-et-cher"
            assert identity.subject == "oidc:agent-42"
            assert identity.roles == ("referent",)  # the IdP's own roles are dropped
            # The roles apply: a referent does not validate clause hours.
            forbidden = await gw.client.post("/api/v1/clauses/hours/1/validate", headers=bearer(idp.token()))
            assert forbidden.status_code == 403
            # API keys keep working next to tokens.
            _, key = await gw.key()
            assert (await gw.client.get("/api/v1/participants", headers=bearer(key))).status_code == 200


def _forged_alg_none(idp: Idp) -> str:
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "kid": "k1", "typ": "JWT"}).encode()).decode()
    token = idp.token()
    return f"{header}.{token.split('.')[1]}."


def _hs256_with_public_key(idp: Idp) -> str:
    """The classic confusion attack: an HMAC keyed with the (public) RSA key."""
    public_pem = idp.keys["k1"].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "tenant": "loir-et-cher", "roles": ["admin"]}
    header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    b64 = jwt.utils.base64url_encode
    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(claims).encode())
    signature = b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


def _with_header(idp: Idp, **header) -> str:
    """A token whose header PyJWT refuses before any key is looked at."""
    encoded = jwt.utils.base64url_encode(json.dumps({"alg": "RS256", "typ": "JWT", **header}).encode()).decode()
    _, claims, signature = idp.token().split(".")
    return f"{encoded}.{claims}.{signature}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda idp: idp.token(exp=int(time.time()) - 120), "token expired"),
        (lambda idp: idp.token(aud="another-api"), "token audience not accepted"),
        (lambda idp: idp.token(iss="https://evil.example"), "token issuer not accepted"),
        (
            lambda idp: idp.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "token signature does not verify",
        ),
        (lambda idp: idp.token(kid="k9", key=idp.keys["k1"]), "token signed with an unknown key"),
        (lambda idp: idp.token(tenant=None), "token has no 'tenant' claim"),
        (lambda idp: idp.token(tenant="Loir et Cher"), "token's 'tenant' claim is not a tenant"),
        (lambda idp: idp.token(realm_access={"roles": ["offline_access"]}), "no Tremplin role"),
        (lambda idp: idp.token(exp=None), "invalid token"),
        (_forged_alg_none, "token algorithm not accepted"),
        (_hs256_with_public_key, "token algorithm not accepted"),
        (lambda idp: idp.token()[:-4] + "AAAA", "token signature does not verify"),
        (lambda idp: _with_header(idp, kid=123), "malformed token"),
        (lambda idp: _with_header(idp, kid="k1", crit="x"), "malformed token"),
        (lambda idp: _with_header(idp, kid="k1", crit=["exp"]), "malformed token"),
    ],
    ids=[
        "expired",
        "audience",
        "issuer",
        "forged",
        "unknown-kid",
        "no-tenant",
        "bad-tenant",
        "no-role",
        "no-exp",
        "alg-none",
        "hs256-public-key",
        "tampered",
        "kid-not-a-string",
        "crit-not-a-list",
        "crit-unsupported",
    ],
)
async def test_bad_tokens_are_401(idp, settings_for, start_gateway, make, reason):
    async with start_gateway(oidc_settings(settings_for, oidc_jwks=json.dumps(idp.jwks()))) as gw:
        response = await gw.client.get("/api/v1/participants", headers=bearer(make(idp)))
        assert response.status_code == 401, response.text
        assert reason in response.json()["detail"]
        assert "Bearer" in response.headers["www-authenticate"]


async def test_refused_tokens_count_as_failed_authentications(idp, settings_for, start_gateway):
    settings = oidc_settings(settings_for, oidc_jwks=json.dumps(idp.jwks()), rate_limit_auth_failures="2/minute")
    async with start_gateway(settings) as gw:
        bad = _with_header(idp, kid=123)
        statuses = [(await gw.client.get("/api/v1/participants", headers=bearer(bad))).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        # A good token from the same address still passes (then the service is down).
        assert (await gw.client.get("/api/v1/participants", headers=bearer(idp.token()))).status_code == 503


async def test_the_jwks_is_fetched_cached_and_refetched_on_rotation(settings_for, start_gateway, serve_app):
    idp = Idp()
    fetched = {"count": 0}
    jwks_app = FastAPI()

    @jwks_app.get("/jwks")
    async def jwks() -> dict:
        fetched["count"] += 1
        return idp.jwks()

    async with serve_app(jwks_app) as base:
        settings = oidc_settings(settings_for, oidc_jwks_url=f"{base}/jwks")
        async with start_gateway(settings) as gw:
            gw.app.state.authenticator.oidc.min_refresh_seconds = 0
            for _ in range(3):
                assert (await gw.client.get("/api/v1/participants", headers=bearer(idp.token()))).status_code == 503
            assert fetched["count"] == 1
            idp.rotate("k2")  # the provider signs with a new key
            assert (await gw.client.get("/api/v1/participants", headers=bearer(idp.token("k2")))).status_code == 503
            assert fetched["count"] == 2


async def test_tokens_are_refused_when_oidc_is_not_configured(idp, gateway):
    response = await gateway.client.get("/api/v1/participants", headers=bearer(idp.token()))
    assert response.status_code == 401 and response.json()["detail"] == "invalid API key"
