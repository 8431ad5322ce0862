"""From the claims of a verified OIDC token to a principal. Pure (the signature, issuer,
audience and expiry are checked before, in `tremplin_gateway.oidc`)."""

from collections.abc import Mapping
from typing import Any

from .api_keys import ROLES, InvalidApiKeyRequest, validate_tenant
from .principal import Principal


class TokenRejected(Exception):
    """A bearer token that does not authenticate; `reason` is safe to show to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path: "realm_access.roles" reads claims["realm_access"]["roles"]."""
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def principal_from_claims(claims: Mapping[str, Any], tenant_claim: str, roles_claim: str) -> Principal:
    tenant = claim(claims, tenant_claim)
    if not isinstance(tenant, str) or not tenant:
        raise TokenRejected(f"token has no '{tenant_claim}' claim")
    try:
        tenant = validate_tenant(tenant)
    except InvalidApiKeyRequest:
        raise TokenRejected(f"token's '{tenant_claim}' claim is not a tenant") from None
    raw = claim(claims, roles_claim)
    if isinstance(raw, str):
        raw = raw.split()  # a space-separated list, as OAuth scopes are
    if not isinstance(raw, list):
        raw = []
    # Roles the platform does not know (the IdP's own) are ignored, not refused.
    roles = tuple(dict.fromkeys(r for r in raw if isinstance(r, str) and r in ROLES))
    if not roles:
        raise TokenRejected(f"token carries no Tremplin role in '{roles_claim}'")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("token has no subject")
    return Principal(tenant=tenant, subject=f"oidc:{subject}", roles=roles)
