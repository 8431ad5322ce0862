"""`tremplin apikey …` and `tremplin asyncapi`, through typer's CliRunner, on a SQLite file."""

import asyncio
import json
import re

import httpx
import pytest
from typer.testing import CliRunner

from tremplin_cli.main import app
from tremplin_gateway.config import Settings
from tremplin_gateway.main import create_app
from tremplin_shared.embedded_broker import free_port

KEY_RE = re.compile(r"trm_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
runner = CliRunner()


def tremplin(database_url: str, *args: str):
    # The database comes from GATEWAY_DATABASE_URL, as the gateway itself reads it.
    return runner.invoke(app, list(args), env={"GATEWAY_DATABASE_URL": database_url, "COLUMNS": "200"})


async def status_with(database_url: str, key: str) -> int:
    """What the gateway answers to this key on a proxied route whose service is down."""
    closed = f"http://127.0.0.1:{free_port()}"
    settings = Settings(database_url=database_url, participants_url=closed, kafka_bootstrap_servers=closed[7:])
    gateway = create_app(settings)
    async with gateway.router.lifespan_context(gateway):
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return (await client.get("/api/v1/participants", headers={"X-API-Key": key})).status_code


@pytest.mark.asyncio
async def test_create_prints_a_key_that_authenticates_then_list_and_revoke(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'gateway.db'}"
    # In a thread: the CLI runs its own event loop.
    created = await asyncio.to_thread(
        tremplin, url, "apikey", "create", "--tenant", "loir-et-cher", "--role", "referent", "--role", "viewer",
        "--name", "SI départemental",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    keys = KEY_RE.findall(created.output)
    assert len(keys) == 1
    key = keys[0]
    assert await status_with(url, key) == 503  # authenticated, then the service is down

    listed = await asyncio.to_thread(tremplin, url, "apikey", "list", "--tenant", "loir-et-cher")
    assert listed.exit_code == 0, listed.output
    assert "SI départemental" in listed.output and key.split("_")[1] in listed.output  # name and prefix
    assert key not in listed.output and key.split("_", 2)[2] not in listed.output
    key_id = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", listed.output)[0]

    revoked = await asyncio.to_thread(tremplin, url, "apikey", "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert await status_with(url, key) == 401


def test_bad_input_is_refused_with_a_message(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    bad_role = tremplin(url, "apikey", "create", "--tenant", "cher", "--role", "root", "--name", "x")
    assert bad_role.exit_code == 2 and "unknown role" in bad_role.output
    unknown = tremplin(url, "apikey", "revoke", "7f0b2c4e-6a51-4a8e-9c36-2f7f3f0e9a11")
    assert unknown.exit_code == 1 and "no API key" in unknown.output
    assert "No API keys." in tremplin(url, "apikey", "list").output


def test_expiry_and_rate_limit(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    created = tremplin(url, "apikey", "create", "--tenant", "cher", "--role", "integration", "--name", "SI",
                       "--expires-in-days", "30", "--rate-limit", "600/minute")  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "600/minute" in created.output
    listed = tremplin(url, "apikey", "list")
    assert "600/minute" in listed.output
    bad = tremplin(
        url, "apikey", "create", "--tenant", "cher", "--role", "viewer", "--name", "x", "--rate-limit", "lots"
    )
    assert bad.exit_code == 2 and "rate_limit" in bad.output
    # above the gateway's maximum (GATEWAY_API_KEY_MAX_RATE_LIMIT, 6000/minute = 100/second): refused
    too_much = tremplin(
        url, "apikey", "create", "--tenant", "cher", "--role", "viewer", "--name", "x", "--rate-limit", "101/second"
    )
    assert too_much.exit_code == 2 and "at most 6000/minute" in too_much.output


def test_plain_prints_only_the_key(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    result = tremplin(url, "apikey", "create", "--tenant", "cher", "--role", "funder", "--name", "ci", "--plain")
    assert result.exit_code == 0
    assert KEY_RE.fullmatch(result.output.strip())


def test_asyncapi_prints_the_document():
    result = runner.invoke(app, ["asyncapi"])
    assert result.exit_code == 0
    assert json.loads(result.output)["asyncapi"].startswith("3.")
