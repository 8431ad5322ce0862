"""THE permission table: every route of every service and of the gateway × every role.

The expected matrix below is written out by hand, independently of the table, so that a change
to the table that changes who may do what fails here and has to be made on purpose.
"""

from pathlib import Path

import pytest

from tremplin_gateway.domain.api_keys import ROLES
from tremplin_gateway.domain.permissions import (
    PERMISSIONS,
    is_allowed,
    known_path,
    pattern_matches,
    permission_table_markdown,
)

ID = "0b7c6f1e-3d2a-4c5b-9e8f-112233445566"
EVERYONE_BUT_INTEGRATION = {"admin", "referent", "facilitator", "fund_manager", "funder", "viewer"}
REFERENT = {"admin", "referent"}
FACILITATOR = {"admin", "facilitator"}
FUND_MANAGER = {"admin", "fund_manager"}
FUNDER = {"admin", "funder"}
INTEGRATION = {"admin", "integration"}
ADMIN = {"admin"}
# A person's file: those who follow them; and a facilitator for the person and their flags.
PLACER = REFERENT | {"facilitator"}

# (method, path, roles allowed)
MATRIX: list[tuple[str, str, set[str]]] = [
    # participants service
    ("GET", "/api/v1/participants", PLACER),
    ("POST", "/api/v1/participants", {"admin", "referent", "integration"}),
    ("GET", f"/api/v1/participants/{ID}", PLACER),
    ("PATCH", f"/api/v1/participants/{ID}", REFERENT),
    ("DELETE", f"/api/v1/participants/{ID}", REFERENT),
    ("GET", f"/api/v1/participants/{ID}/access-log", REFERENT),
    ("GET", f"/api/v1/participants/{ID}/parcours", REFERENT),
    ("POST", f"/api/v1/participants/{ID}/parcours", REFERENT),
    ("GET", f"/api/v1/participants/{ID}/diagnostics", REFERENT),
    ("POST", f"/api/v1/participants/{ID}/diagnostics", REFERENT),
    ("GET", f"/api/v1/participants/{ID}/timeline", REFERENT),
    ("GET", "/api/v1/participants/indicators/plie", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/participants/indicators/rsa", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/participants/orientations", REFERENT),
    ("GET", f"/api/v1/participants/orientations/{ID}", REFERENT),
    ("GET", f"/api/v1/participants/{ID}/diagnostics/{ID}", REFERENT),
    ("GET", "/api/v1/parcours", REFERENT),
    ("GET", f"/api/v1/parcours/{ID}", REFERENT),
    ("HEAD", f"/api/v1/parcours/{ID}", REFERENT),
    ("POST", f"/api/v1/parcours/{ID}/transitions", REFERENT),
    ("POST", f"/api/v1/parcours/{ID}/cer", REFERENT),
    ("PUT", f"/api/v1/parcours/{ID}/referent", REFERENT),
    # matching service
    ("GET", "/api/v1/offers", EVERYONE_BUT_INTEGRATION),
    ("POST", "/api/v1/offers", REFERENT),
    ("POST", "/api/v1/offers/import/france-travail", INTEGRATION),
    ("GET", f"/api/v1/offers/{ID}", EVERYONE_BUT_INTEGRATION),
    ("PATCH", f"/api/v1/offers/{ID}", REFERENT),
    ("GET", f"/api/v1/offers/{ID}/applications", EVERYONE_BUT_INTEGRATION),
    ("GET", f"/api/v1/offers/{ID}/candidates", EVERYONE_BUT_INTEGRATION),
    ("POST", "/api/v1/applications", REFERENT),
    ("GET", f"/api/v1/applications/{ID}", EVERYONE_BUT_INTEGRATION),
    ("POST", f"/api/v1/applications/{ID}/transitions", REFERENT),
    ("GET", f"/api/v1/matching/candidates/{ID}", EVERYONE_BUT_INTEGRATION),
    ("GET", f"/api/v1/matching/participants/{ID}/offers", EVERYONE_BUT_INTEGRATION),
    ("GET", f"/api/v1/matching/participants/{ID}/applications", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/matching/funnel", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/matching/overview", EVERYONE_BUT_INTEGRATION),
    ("POST", "/api/v1/matching/some-write-added-later", REFERENT),
    # clauses service
    ("GET", "/api/v1/clauses/overview", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/clauses/markets", EVERYONE_BUT_INTEGRATION),
    ("POST", "/api/v1/clauses/markets", FACILITATOR),
    ("PATCH", f"/api/v1/clauses/markets/{ID}", FACILITATOR),
    ("GET", f"/api/v1/clauses/markets/{ID}/progress", EVERYONE_BUT_INTEGRATION),
    ("POST", "/api/v1/clauses/calculator", FACILITATOR),
    ("POST", f"/api/v1/clauses/lots/{ID}/placements", FACILITATOR),
    ("POST", f"/api/v1/clauses/lots/{ID}/hours", FACILITATOR | {"integration"}),
    ("POST", f"/api/v1/clauses/hours/{ID}/validate", FACILITATOR),
    ("POST", f"/api/v1/clauses/hours/{ID}/reject", FACILITATOR),
    ("GET", "/api/v1/clauses/reports", EVERYONE_BUT_INTEGRATION),
    # funding service
    ("GET", "/api/v1/funding/overview", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/funding/funds", EVERYONE_BUT_INTEGRATION),
    ("POST", "/api/v1/funding/funds", FUND_MANAGER),
    ("GET", f"/api/v1/funding/funds/{ID}/budget", EVERYONE_BUT_INTEGRATION),
    ("POST", "/api/v1/funding/conventions", FUND_MANAGER),
    ("POST", f"/api/v1/funding/conventions/{ID}/workers", FUND_MANAGER),
    ("POST", "/api/v1/funding/aid-schemes", FUND_MANAGER),
    ("POST", "/api/v1/funding/runs", FUND_MANAGER),
    ("GET", "/api/v1/funding/disbursements", EVERYONE_BUT_INTEGRATION),
    ("POST", f"/api/v1/funding/disbursements/{ID}/approve", FUNDER),
    ("POST", f"/api/v1/funding/disbursements/{ID}/reject", FUNDER),
    ("POST", f"/api/v1/funding/aid-payments/{ID}/approve", FUNDER),
    ("POST", f"/api/v1/funding/aid-payments/{ID}/reject", FUNDER),
    ("POST", "/api/v1/funding/payment-batches", FUND_MANAGER),
    ("GET", f"/api/v1/funding/payment-batches/{ID}/sepa.xml", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/funding/ledger", EVERYONE_BUT_INTEGRATION),
    ("GET", "/api/v1/funding/smic-rates", EVERYONE_BUT_INTEGRATION),
    # the gateway's own routes
    ("GET", "/api/v1/admin/api-keys", ADMIN),
    ("POST", "/api/v1/admin/api-keys", ADMIN),
    ("GET", f"/api/v1/admin/api-keys/{ID}", ADMIN),
    ("POST", f"/api/v1/admin/api-keys/{ID}/revoke", ADMIN),
    ("GET", "/api/v1/admin/audit", ADMIN),
    ("POST", "/api/v1/webhooks", ADMIN),
    ("GET", "/api/v1/webhooks", ADMIN),
    ("GET", f"/api/v1/webhooks/{ID}/deliveries", ADMIN),
    ("POST", f"/api/v1/webhooks/{ID}/enable", ADMIN),
    ("DELETE", f"/api/v1/webhooks/{ID}", ADMIN),
    ("POST", "/api/v1/events", INTEGRATION),
    ("GET", "/api/v1/events", set()),  # nobody reads the intake back
]

CASES = [(method, path, role, role in allowed) for method, path, allowed in MATRIX for role in ROLES]


@pytest.mark.parametrize(("method", "path", "role", "allowed"), CASES, ids=[f"{m} {p} {r}" for m, p, r, _ in CASES])
def test_every_route_and_role(method, path, role, allowed):
    assert is_allowed((role,), method, path) is allowed


def test_every_rule_is_exercised_by_the_matrix():
    """No rule without a route above that it decides."""
    from tremplin_gateway.domain.permissions import rule_for

    used = {rule_for(method, path) for method, path, _ in MATRIX}
    assert set(PERMISSIONS) <= used


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/api/v1/clauses/**", "/api/v1/clauses", True),
        ("/api/v1/clauses/**", "/api/v1/clauses/", True),
        ("/api/v1/clauses/**", "/api/v1/clauses/a/b/c", True),
        ("/api/v1/clauses/**", "/api/v1/clausesx", False),
        ("/api/v1/clauses/hours/*/validate", "/api/v1/clauses/hours/1/validate", True),
        ("/api/v1/clauses/hours/*/validate", "/api/v1/clauses/hours/validate", False),
        ("/api/v1/clauses/hours/*/validate", "/api/v1/clauses/hours/1/validate/x", False),
        ("/api/v1/events", "/api/v1/events/x", False),
        ("/api/v1/participants/**", "/api/v1/participants/../admin", False),
        ("/api/v1/participants/**", "/api/v1/participants/./x", False),
    ],
)
def test_patterns(pattern, path, matches):
    assert pattern_matches(pattern, path) is matches


def test_unknown_paths_are_not_apis():
    assert not known_path("/api/v1/unknown")
    assert not known_path("/api/v2/participants")
    assert known_path("/api/v1/clauses/some/route/added/later")


def test_several_roles_add_up():
    assert is_allowed(("viewer", "facilitator"), "POST", f"/api/v1/clauses/hours/{ID}/validate")
    assert not is_allowed((), "GET", "/api/v1/participants")


def test_the_readme_prints_the_table_of_the_code():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert permission_table_markdown() in readme
