"""API keys, pure: format, hashing, verification, roles, usability."""

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from limits.aio.storage import MemoryStorage
from pydantic import ValidationError

from tremplin_gateway.config import Settings
from tremplin_gateway.domain.api_keys import (
    ROLES,
    ApiKey,
    InvalidApiKeyRequest,
    KeyRejected,
    generate_key,
    hash_key,
    parse_prefix,
    rate_per_second,
    validate_rate_limit,
    validate_roles,
    validate_tenant,
)
from tremplin_gateway.keys import DEMO_RATE_LIMIT
from tremplin_gateway.ratelimit import RateLimits

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


def test_a_naive_expiry_is_refused_not_compared():
    with pytest.raises(InvalidApiKeyRequest, match="time zone"):
        issued(expires_at=datetime(2030, 1, 1))


def test_a_key_rate_limit_is_at_most_the_maximum_as_an_average_rate():
    assert rate_per_second("6000/minute") == 100
    for limit in ("6000/minute", "100/second", "360000/hour", "1/day"):
        assert validate_rate_limit(limit, "6000/minute") == limit
    for limit in ("9999999/second", "6001/minute", "101/second", "8640001/day"):
        with pytest.raises(InvalidApiKeyRequest, match="at most 6000/minute"):
            validate_rate_limit(limit, "6000/minute")
    key, _ = issued(rate_limit="600/minute", max_rate_limit="6000/minute")
    assert key.rate_limit == "600/minute"
    with pytest.raises(InvalidApiKeyRequest):
        issued(rate_limit="9999999/second", max_rate_limit="6000/minute")
    # The demo key (tremplin run) fits the default maximum.
    assert validate_rate_limit(DEMO_RATE_LIMIT, Settings().api_key_max_rate_limit) == DEMO_RATE_LIMIT


def test_the_maximum_setting_is_one_simple_rate():
    assert Settings(api_key_max_rate_limit="100 / second").api_key_max_rate_limit == "100/second"
    with pytest.raises(ValidationError):
        Settings(api_key_max_rate_limit="lots")


def test_an_older_key_above_the_maximum_is_held_to_it():
    limits = RateLimits(MemoryStorage(), "120/minute", "20/minute", "200/minute", "6000/minute")
    assert str(limits.item("9999999/second")) == "6000 per 1 minute"
    assert str(limits.item("600/minute")) == "600 per 1 minute"
    assert str(limits.item(None)) == "120 per 1 minute"


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
