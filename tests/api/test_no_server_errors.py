"""API fuzzing: schemathesis over each service's OpenAPI document, no generated request gets a 5xx.

Each service runs as its own uvicorn process on a free port (SQLite, no background workers: the
answers are what counts here), and schemathesis's CLI sends the requests its OpenAPI document allows
and, on purpose, many it does not (wrong types, missing fields, odd strings), with a signed admin
identity of a tenant of its own. Fixed seed, a few examples per operation: a regression net, not a
search; `st run` by hand with more examples for a deeper one.
"""

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


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_generated_request_gets_a_server_error(service, tmp_path):
    module, prefix = SERVICES[service]
    port = free_port()
    env = {
        f"{prefix}_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/{service}.db",
        f"{prefix}_RUN_BACKGROUND_WORKERS": "false",
        f"{prefix}_IDENTITY_SECRET": SECRET,
        f"{prefix}_IDENTITY_MAX_AGE_SECONDS": "3600",
        f"{prefix}_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "PATH": str(Path(sys.executable).parent),
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_alive(url, server)
        identity = sign_identity(Identity("fuzz", "schemathesis", ("admin",)), SECRET)
        result = subprocess.run(
            [str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--header", f"{IDENTITY_HEADER}: {identity}",
             "--checks", "not_a_server_error", "--phases", "examples,fuzzing,stateful", "--max-examples", "8",
             "--seed", "41", "--workers", "1", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache stays out of the checkout
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    assert result.returncode == 0, result.stdout[-4000:] + (tmp_path / "server.log").read_text()[-2000:]
    assert " generated, " in result.stdout and " passed" in result.stdout, result.stdout[-2000:]
