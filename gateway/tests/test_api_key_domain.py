"""API keys, pure: format, hashing, verification, roles, usability."""

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tremplin_gateway.domain.api_keys import (
    ROLES,
    ApiKey,
    InvalidApiKeyRequest,
    KeyRejected,
    generate_key,
    hash_key,
    parse_prefix,
    validate_roles,
    validate_tenant,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KEY_RE = re.compile(r"trm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def issued(**overrides) -> tuple[ApiKey, str]:
    args = {"tenant": "loir-et-cher", "roles": ["referent"], "name": "SI départemental", "now": NOW, **overrides}
    return ApiKey.issue(**args)


def test_a_generated_key_has_the_documented_format_and_its_prefix_is_findable():
    generated = generate_key()
    assert KEY_RE.fullmatch(generated.plaintext)
    assert generated.plaintext.startswith(f"trm_{generated.prefix}_")
    assert parse_prefix(generated.plaintext) == generated.prefix


def test_keys_are_unique():
    keys = [generate_key() for _ in range(200)]
    assert len({k.plaintext for k in keys}) == len({k.prefix for k in keys}) == 200


def test_only_a_sha256_of_the_whole_key_is_kept():
    generated = generate_key()
    assert generated.hash == hashlib.sha256(generated.plaintext.encode()).hexdigest() == hash_key(generated.plaintext)
    assert generated.plaintext.split("_", 2)[2] not in generated.hash


def test_a_key_verifies_and_a_different_secret_with_the_same_prefix_does_not():
    key, plaintext = issued()
    key.check(plaintext, NOW)
    forged = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    with pytest.raises(KeyRejected, match="invalid"):
        key.check(forged, NOW)


@pytest.mark.parametrize(
    "text",
    ["", "trm_", "trm_abc_secret", "sk_0123456789ab_" + "x" * 43, "trm_0123456789AB_" + "x" * 43, "trm_0123456789ab_"],
)
def test_malformed_keys_are_rejected_before_any_lookup(text):
    with pytest.raises(KeyRejected):
        parse_prefix(text)


def test_a_revoked_key_is_rejected_even_with_the_right_secret():
    key, plaintext = issued()
    revoked = key.revoked(NOW)
    assert revoked.status(NOW) == "revoked"
    with pytest.raises(KeyRejected, match="revoked"):
        revoked.check(plaintext, NOW)
    assert revoked.revoked(NOW + timedelta(days=1)).revoked_at == NOW  # the first revocation time is kept


def test_a_key_expires_at_its_expiry_time():
    key, plaintext = issued(expires_at=NOW + timedelta(hours=1))
    key.check(plaintext, NOW + timedelta(minutes=59))
    assert key.status(NOW + timedelta(hours=1)) == "expired"
    with pytest.raises(KeyRejected, match="expired"):
        key.check(plaintext, NOW + timedelta(hours=1))


def test_an_expiry_in_the_past_is_refused():
    with pytest.raises(InvalidApiKeyRequest):
        issued(expires_at=NOW)


def test_roles_are_validated_deduplicated_and_ordered():
    assert validate_roles(["viewer", "admin", "viewer"]) == ("viewer", "admin")
    assert set(validate_roles(ROLES)) == {
        "admin",
        "referent",
        "facilitator",
        "fund_manager",
        "funder",
        "integration",
        "viewer",
    }
    with pytest.raises(InvalidApiKeyRequest, match="superuser"):
        validate_roles(["admin", "superuser"])
    with pytest.raises(InvalidApiKeyRequest):
        validate_roles([])


@pytest.mark.parametrize("slug", ["loir-et-cher", "cher", "plie-41", "tzcld"])
def test_tenant_slugs(slug):
    assert validate_tenant(slug) == slug


@pytest.mark.parametrize("slug", ["", "Loir-et-Cher", "loir et cher", "-cher", "cher-", "loir--cher", "x" * 101])
def test_bad_tenant_slugs_are_refused(slug):
    with pytest.raises(InvalidApiKeyRequest):
        validate_tenant(slug)


def test_an_empty_name_is_refused():
    with pytest.raises(InvalidApiKeyRequest):
        issued(name="   ")


def test_last_used_is_written_at_most_once_per_interval():
    key, _ = issued()
    assert key.needs_touch(NOW, 60)
    touched = replace(key, last_used_at=NOW)
    assert not touched.needs_touch(NOW + timedelta(seconds=59), 60)
    assert touched.needs_touch(NOW + timedelta(seconds=60), 60)
