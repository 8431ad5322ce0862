"""A component started on a secret's development default says so, by variable name, never value."""

import logging

from pydantic_settings import SettingsConfigDict

from tremplin_shared.service import warn_development_secrets
from tremplin_shared.settings import ComponentSettings


class Example(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", extra="ignore")

    hash_key: str = "dev-hash-key-change-me"
    label: str = "not a secret"


def test_the_defaults_are_named_by_their_variables(monkeypatch):
    monkeypatch.delenv("EXAMPLE_IDENTITY_SECRET", raising=False)
    assert Example().development_secrets() == ["EXAMPLE_IDENTITY_SECRET", "EXAMPLE_HASH_KEY"]
    monkeypatch.setenv("EXAMPLE_IDENTITY_SECRET", "a" * 64)
    assert Example(hash_key="b" * 64).development_secrets() == []


def test_the_warning_names_the_variable_and_never_the_value(caplog):
    with caplog.at_level(logging.WARNING, logger="tremplin_shared.service"):
        warn_development_secrets(Example(identity_secret="x" * 64))
    assert [r.fields["variable"] for r in caplog.records] == ["EXAMPLE_HASH_KEY"]
    assert "dev-hash-key-change-me" not in caplog.text + repr([r.fields for r in caplog.records])
