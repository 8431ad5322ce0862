"""The participants service in the test's own process: its app inside its lifespan (relay and
consumer running as configured) and a client that signs the identity the gateway would forward."""

import contextlib

import httpx

from tremplin_participants.config import Settings
from tremplin_participants.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity


@contextlib.asynccontextmanager
async def participants_service(settings: Settings, tenant: str, roles: tuple[str, ...] = ("referent",)):
    app = create_app(settings)
    identity = sign_identity(Identity(tenant, "test", roles), settings.identity_secret)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=transport, base_url="http://participants", headers={IDENTITY_HEADER: identity}
        ) as client:
            yield app, client
