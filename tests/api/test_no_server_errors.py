"""API fuzzing: schemathesis over each service's OpenAPI document, no generated request gets a 5xx.

Each service runs as its own uvicorn process on a free port (SQLite, no background workers: the
answers are what counts here), and schemathesis's CLI sends the requests its OpenAPI document allows
and, on purpose, many it does not (wrong types, missing fields, odd strings), with a signed admin
identity of a tenant of its own. The gateway likewise, over its own operations (API keys, audit,
webhooks, event intake), with an admin API key. Fixed seed, a few examples per operation: a
regression net, not a search; `st run` by hand with more examples for a deeper one. Dates are drawn
often at the ends of their range (schemathesis_hooks.py).
"""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tremplin_shared.embedded_broker import free_port
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

SECRET = "schemathesis-identity-secret"
SERVICES = {
    "participants": ("tremplin_participants.main:app", "PARTICIPANTS"),
    "matching": ("tremplin_matching.main:app", "MATCHING"),
    "clauses": ("tremplin_clauses.main:app", "CLAUSES"),
    "funding": ("tremplin_funding.main:app", "FUNDING"),
}
SCHEMATHESIS = Path(sys.executable).parent / "st"
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


def wait_alive(url: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the service exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def fuzz(module: str, env: dict[str, str], tmp_path: Path, header, *options: str) -> None:
    """Serve `module` (after `header(url)` gives the credential header), fuzz it, fail on any 5xx."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env={**env, "PATH": str(Path(sys.executable).parent)}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_alive(url, server)
        result = subprocess.run(
            [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--header", header(url),
             "--checks", "not_a_server_error", "--phases", "examples,fuzzing,stateful", "--max-examples", "8",
             "--seed", "41", "--workers", "1", "--no-color", *options],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache stays out of the checkout
            env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    assert result.returncode == 0, result.stdout[-4000:] + (tmp_path / "server.log").read_text()[-2000:]
    assert " generated, " in result.stdout and " passed" in result.stdout, result.stdout[-2000:]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_generated_request_gets_a_server_error(service, tmp_path):
    module, prefix = SERVICES[service]
    env = {
        f"{prefix}_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/{service}.db",
        f"{prefix}_RUN_BACKGROUND_WORKERS": "false",
        f"{prefix}_IDENTITY_SECRET": SECRET,
        f"{prefix}_IDENTITY_MAX_AGE_SECONDS": "3600",
        f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    }
    identity = sign_identity(Identity("fuzz", "schemathesis", ("admin",)), SECRET)
    fuzz(module, env, tmp_path, lambda _: f"{IDENTITY_HEADER}: {identity}")


def test_no_generated_request_to_the_gateway_s_own_routes_gets_a_server_error(tmp_path):
    from tremplin_gateway.keys import create_api_key
    from tremplin_shared.db import make_engine, make_sessionmaker

    database_url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    closed = f"http://127.0.0.1:{free_port()}"  # the services' paths are theirs to fuzz, above
    env = {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_RUN_BACKGROUND_WORKERS": "false",
        "GATEWAY_IDENTITY_SECRET": SECRET,
        "GATEWAY_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "GATEWAY_RATE_LIMIT_DEFAULT": "100000/minute",
        "GATEWAY_RATE_LIMIT_AUTH_FAILURES": "100000/minute",  # it also sends requests without the key
        **{f"GATEWAY_{service.upper()}_URL": closed for service in SERVICES},
    }

    async def admin_key() -> str:  # once the gateway has migrated its database
        engine = make_engine(database_url)
        try:
            return (await create_api_key(make_sessionmaker(engine), "fuzz", ["admin"], "schemathesis"))[1]
        finally:
            await engine.dispose()

    own = r"^/api/v1/(admin|webhooks|events)"
    fuzz("tremplin_gateway.main:app", env, tmp_path, lambda _: f"X-API-Key: {asyncio.run(admin_key())}",
         "--include-path-regex", own)  # fmt: skip
