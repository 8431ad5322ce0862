import pytest

from tremplin_shared.identity import Identity, InvalidIdentity, sign_identity, verify_identity

SECRET = "s3cret"


def test_a_signed_identity_verifies_with_its_claims():
    identity = Identity(tenant="loir-et-cher", subject="key-1", roles=("referent", "viewer"), request_id="r1")
    assert verify_identity(sign_identity(identity, SECRET), SECRET) == identity


@pytest.mark.parametrize("token", [None, "", "abc", "abc.def", "."])
def test_missing_or_garbage_identity_is_refused(token):
    with pytest.raises(InvalidIdentity):
        verify_identity(token, SECRET)


def test_identity_signed_with_another_secret_is_refused():
    token = sign_identity(Identity(tenant="a", subject="s"), "other")
    with pytest.raises(InvalidIdentity, match="signature"):
        verify_identity(token, SECRET)


def test_a_tampered_tenant_is_refused():
    token = sign_identity(Identity(tenant="a", subject="s"), SECRET)
    forged_payload = sign_identity(Identity(tenant="b", subject="s"), SECRET).split(".")[0]
    with pytest.raises(InvalidIdentity):
        verify_identity(f"{forged_payload}.{token.split('.')[1]}", SECRET)


def test_an_old_identity_is_refused():
    token = sign_identity(Identity(tenant="a", subject="s"), SECRET, now=1_000_000)
    assert verify_identity(token, SECRET, max_age=300, now=1_000_100).tenant == "a"
    with pytest.raises(InvalidIdentity, match="expired"):
        verify_identity(token, SECRET, max_age=300, now=1_000_301)
