"""The environment `make run` gives each component: its own SQLite file, the broker, the checkout's
identity secret; the gateway the services' addresses and, locally only, webhooks to this machine."""

from tremplin_cli.stack import GATEWAY, SERVICES, component_env, identity_secret
from tremplin_gateway.config import Settings as GatewaySettings


def test_each_component_gets_its_database_the_broker_and_the_checkout_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("GATEWAY_WEBHOOK_ALLOW_HTTP", raising=False)
    secret = identity_secret(tmp_path)
    assert identity_secret(tmp_path) == secret and len(secret) == 64  # kept across restarts
    for component in [*SERVICES, GATEWAY]:
        env = component_env(component, tmp_path, "127.0.0.1:9092", secret, "127.0.0.1")
        assert env[f"{component.prefix}DATABASE_URL"].endswith(f"/{component.name}.db")
        assert env[f"{component.prefix}IDENTITY_SECRET"] == secret
        assert ("GATEWAY_WEBHOOK_ALLOW_HTTP" in env) is (component is GATEWAY)


def test_locally_a_webhook_receiver_on_this_machine_may_be_subscribed_unless_the_environment_says_no(
    tmp_path, monkeypatch
):
    for name in ("GATEWAY_WEBHOOK_ALLOW_HTTP", "GATEWAY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"):
        monkeypatch.delenv(name, raising=False)
    env = component_env(GATEWAY, tmp_path, "127.0.0.1:9092", "s", "127.0.0.1")
    for name, value in env.items():
        if name.startswith("GATEWAY_WEBHOOK_"):
            monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert settings.webhook_allow_http and settings.webhook_allow_private_addresses
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOW_HTTP", "false")
    env = component_env(GATEWAY, tmp_path, "127.0.0.1:9092", "s", "127.0.0.1")
    assert env["GATEWAY_WEBHOOK_ALLOW_HTTP"] == "false"
    # Production settings (no such variables): https and public addresses only.
    for name in ("GATEWAY_WEBHOOK_ALLOW_HTTP", "GATEWAY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"):
        monkeypatch.delenv(name, raising=False)
    assert not GatewaySettings().webhook_allow_http and not GatewaySettings().webhook_allow_private_addresses
