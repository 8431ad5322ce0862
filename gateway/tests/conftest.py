"""Gateway test helpers: the app in its lifespan on a SQLite file, a tiny real upstream server."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI

from tremplin_gateway.config import Settings
from tremplin_gateway.keys import create_api_key
from tremplin_gateway.main import create_app
from tremplin_shared.embedded_broker import free_port

SECRET = "test-identity-secret"


def closed_url() -> str:
    """An address nothing listens on: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def make_settings(tmp_path: Path, **overrides) -> Settings:
    values = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        "participants_url": closed_url(),
        "matching_url": closed_url(),
        "clauses_url": closed_url(),
        "funding_url": closed_url(),
        "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
        "identity_secret": SECRET,
        "openapi_fetch_timeout_seconds": 1.0,
        "run_background_workers": False,  # no broker here; webhook tests run the worker themselves
        "api_key_cache_seconds": 0,  # tests revoke straight in the database; the cache: test_key_cache
        **overrides,
    }
    return Settings(**values)


@dataclass
class RunningGateway:
    app: FastAPI
    client: httpx.AsyncClient

    async def key(self, tenant: str = "loir-et-cher", roles: tuple[str, ...] = ("referent",), name: str = "test"):
        """A new key's row and plaintext."""
        return await create_api_key(self.app.state.sessionmaker, tenant, roles, name)


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield RunningGateway(app, client)


@pytest.fixture
def secret() -> str:
    return SECRET


@pytest.fixture
def settings_for(tmp_path):
    """Settings on a SQLite file in tmp_path, every upstream and the broker on closed ports."""
    return lambda **overrides: make_settings(tmp_path, **overrides)


@pytest.fixture
def settings(settings_for) -> Settings:
    return settings_for()


@pytest.fixture
def start_gateway():
    """`async with start_gateway(settings) as gw:` — the app inside its lifespan, with a client."""
    return running_gateway


@pytest.fixture
def serve_app():
    """`async with serve_app(app) as base_url:` — a real uvicorn server on a free port."""
    return serve


@pytest_asyncio.fixture
async def gateway(settings) -> AsyncIterator[RunningGateway]:
    async with running_gateway(settings) as running:
        yield running


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """`app` served by a real uvicorn on 127.0.0.1; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
