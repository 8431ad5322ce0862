"""Who may call what: THE permission table of the platform (route pattern × method × role). Pure.

The gateway checks every request against this table before anything else happens: proxied
routes of the services and its own routes alike. A request that no rule allows is 403 — the
table is an allow-list. Rules are read top to bottom; the first rule whose pattern matches the
path AND whose methods include the request's method decides. So specific rules (a facilitator
validating hours) come before the general rule of their prefix, and a new sub-route a service
adds later is covered by the general rule of its prefix without editing this table.

Pattern syntax: `*` is exactly one path segment, a trailing `/**` is the prefix itself and
anything below it. Tenancy is not decided here: the identity forwarded to the service carries
the tenant, and every service scopes its queries by it (a foreign id is 404).

HEAD is checked as GET. OPTIONS requests that are CORS preflights never reach this table.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from .api_keys import ROLES

READ = frozenset({"GET", "HEAD"})
WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALL = READ | WRITE

# Everybody who works on the territory reads; `integration` is a machine and reads nothing
# it did not need to write (the scoped API consumer of Immersion facilitée).
READERS = ("admin", "referent", "facilitator", "fund_manager", "funder", "viewer")
# A person's file (situation, RSA, RQTH, diagnostic, steps) is read by those who follow them: the
# référent, the admin; a facilitator sees who may be placed on a clause (the person and their
# flags), not their diagnostic. Funders, fund managers and viewers get the aggregates (RGPD art. 5:
# no one reads more of a person than their job needs).
FOLLOWERS = ("admin", "referent")


@dataclass(frozen=True)
class Rule:
    pattern: str
    methods: frozenset[str]
    roles: tuple[str, ...]
    why: str = ""

    def matches(self, method: str, path: str) -> bool:
        return _method(method) in self.methods and pattern_matches(self.pattern, path)

    @cached_property
    def segments(self) -> tuple[str, ...]:
        return _segments(self.pattern)


def _method(method: str) -> str:
    method = method.upper()
    return "GET" if method in ("HEAD", "OPTIONS") else method


def _segments(path: str) -> tuple[str, ...]:
    stripped = path.strip("/")
    return tuple(stripped.split("/")) if stripped else ()


def _segments_match(want: tuple[str, ...], got: tuple[str, ...]) -> bool:
    if want and want[-1] == "**":
        head = want[:-1]
        return len(got) >= len(head) and all(w in ("*", g) for w, g in zip(head, got, strict=False))
    return len(got) == len(want) and all(w in ("*", g) for w, g in zip(want, got, strict=True))


def _path_segments(path: str) -> tuple[str, ...] | None:
    """The path's segments, or None for a path with dot segments (it never matches anything)."""
    got = _segments(path)
    return None if any(segment in (".", "..") for segment in got) else got


def pattern_matches(pattern: str, path: str) -> bool:
    """Whether `path` matches `pattern`; a path with dot segments never matches anything."""
    got = _path_segments(path)
    return got is not None and _segments_match(_segments(pattern), got)


def _r(pattern: str, methods: Iterable[str], roles: Iterable[str], why: str = "") -> Rule:
    roles = tuple(roles)
    assert set(roles) <= set(ROLES), roles
    return Rule(pattern, frozenset(methods), roles, why)


POST = frozenset({"POST"})

PERMISSIONS: tuple[Rule, ...] = (
    # --- the gateway's own routes
    _r("/api/v1/admin/**", ALL, ("admin",), "API keys and audit of the admin's own tenant"),
    _r("/api/v1/webhooks/**", ALL, ("admin",), "webhook subscriptions of the admin's own tenant"),
    _r("/api/v1/events", POST, ("admin", "integration"), "inbound CloudEvents (France Travail-style)"),
    # --- participants service
    _r("/api/v1/participants", POST, ("admin", "referent", "integration"), "register a participant"),
    _r("/api/v1/participants/indicators/**", READ, READERS, "PLIE and RSA indicators: counts, no person"),
    _r("/api/v1/participants/orientations/**", READ, FOLLOWERS, "orientations to take up"),
    _r("/api/v1/participants/*/diagnostics/**", READ, FOLLOWERS, "a person's diagnostic (health, housing…)"),
    _r("/api/v1/participants/*/timeline", READ, FOLLOWERS, "everything that happened to a person"),
    _r("/api/v1/participants/*/parcours", READ, FOLLOWERS, "a person's parcours"),
    _r("/api/v1/participants/*/access-log", READ, FOLLOWERS, "who read the file"),
    _r("/api/v1/participants/**", READ, (*FOLLOWERS, "facilitator"), "people and their flags (clause eligibility)"),
    _r("/api/v1/participants/**", WRITE, ("admin", "referent")),
    _r("/api/v1/parcours/**", READ, FOLLOWERS, "a person's parcours and its steps"),
    _r("/api/v1/parcours/**", WRITE, ("admin", "referent")),
    # --- matching service
    _r("/api/v1/offers/import/**", POST, ("admin", "integration"), "France Travail offers import"),
    _r("/api/v1/offers/**", READ, READERS),
    _r("/api/v1/offers/**", WRITE, ("admin", "referent")),
    _r("/api/v1/applications/**", READ, READERS),
    _r("/api/v1/applications/**", WRITE, ("admin", "referent")),
    _r("/api/v1/matching/**", READ, READERS),
    _r("/api/v1/matching/**", WRITE, ("admin", "referent")),
    # --- clauses service (the service checks the facilitator role on validation too)
    _r("/api/v1/clauses/hours/*/validate", POST, ("admin", "facilitator"), "only a facilitator validates hours"),
    _r("/api/v1/clauses/hours/*/reject", POST, ("admin", "facilitator"), "only a facilitator rejects hours"),
    _r(
        "/api/v1/clauses/lots/*/hours",
        POST,
        ("admin", "facilitator", "integration"),
        "hours declared by a contractor's system (Idempotency-Key)",
    ),
    _r("/api/v1/clauses/**", READ, READERS),
    _r("/api/v1/clauses/**", WRITE, ("admin", "facilitator")),
    # --- funding service (the service checks that the approver is not the preparer)
    _r("/api/v1/funding/disbursements/*/approve", POST, ("admin", "funder"), "a funder approves"),
    _r("/api/v1/funding/disbursements/*/reject", POST, ("admin", "funder"), "a funder rejects"),
    _r("/api/v1/funding/aid-payments/*/approve", POST, ("admin", "funder"), "a funder approves an aid payment"),
    _r("/api/v1/funding/aid-payments/*/reject", POST, ("admin", "funder"), "a funder rejects an aid payment"),
    _r("/api/v1/funding/**", READ, READERS),
    _r("/api/v1/funding/**", WRITE, ("admin", "fund_manager"), "a fund manager prepares"),
)


def rule_for(method: str, path: str, table: tuple[Rule, ...] = PERMISSIONS) -> Rule | None:
    """The rule deciding this request, or None (nobody may)."""
    got, method = _path_segments(path), _method(method)
    if got is None:
        return None
    for rule in table:
        if method in rule.methods and _segments_match(rule.segments, got):
            return rule
    return None


def known_path(path: str, table: tuple[Rule, ...] = PERMISSIONS) -> bool:
    """Whether some rule, for some method, covers `path` (else the path is not an API: 404)."""
    got = _path_segments(path)
    return got is not None and any(_segments_match(rule.segments, got) for rule in table)


def allowed_roles(method: str, path: str, table: tuple[Rule, ...] = PERMISSIONS) -> tuple[str, ...]:
    rule = rule_for(method, path, table)
    return rule.roles if rule else ()


def is_allowed(roles: Iterable[str], method: str, path: str, table: tuple[Rule, ...] = PERMISSIONS) -> bool:
    allowed = allowed_roles(method, path, table)
    return any(role in allowed for role in roles)


def _methods_label(methods: frozenset[str]) -> str:
    if methods == ALL:
        return "any"
    if methods == READ:
        return "GET, HEAD"
    if methods == WRITE:
        return "POST, PUT, PATCH, DELETE"
    return ", ".join(sorted(methods))


def permission_table_markdown(table: tuple[Rule, ...] = PERMISSIONS) -> str:
    """The table as printed in gateway/README.md (a test keeps the two identical)."""
    header = "| # | route | methods | " + " | ".join(ROLES) + " | note |"
    sep = "|---|---|---|" + "|".join(":-:" for _ in ROLES) + "|---|"
    lines = [header, sep]
    for i, rule in enumerate(table, 1):
        marks = " | ".join("✓" if role in rule.roles else "" for role in ROLES)
        lines.append(f"| {i} | `{rule.pattern}` | {_methods_label(rule.methods)} | {marks} | {rule.why} |")
    return "\n".join(lines) + "\n"
