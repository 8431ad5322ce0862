"""The funding service in-process, on SQLite (default) or PostgreSQL, with callers of every role."""

import contextlib

import httpx
import pytest
from schwifty import IBAN

from tremplin_funding.config import Settings
from tremplin_funding.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

TENANT = "loir-et-cher"
EBE_SIRET = "73282932000074"
EBE_IBAN = IBAN.generate("FR", bank_code="30004", account_code="00012345678").compact
PAYER_IBAN = IBAN.generate("FR", bank_code="20041", account_code="01005012345").compact


class Funding:
    def __init__(self, app, client: httpx.AsyncClient, secret: str) -> None:
        self.app, self.client, self.secret = app, client, secret

    def headers(self, subject: str = "manager-1", roles: tuple[str, ...] = ("fund_manager",), tenant: str = TENANT):
        return {IDENTITY_HEADER: sign_identity(Identity(tenant, subject, roles), self.secret)}

    def manager(self, tenant: str = TENANT) -> dict:
        return self.headers("manager-1", ("fund_manager",), tenant)

    def funder(self, subject: str = "funder-1", tenant: str = TENANT) -> dict:
        return self.headers(subject, ("funder",), tenant)

    async def post(self, url: str, body: dict | None = None, headers: dict | None = None, expect: int = 201):
        response = await self.client.post(url, json=body, headers=headers or self.manager())
        assert response.status_code == expect, response.text
        return response.json()

    async def get(self, url: str, headers: dict | None = None, expect: int = 200, **params):
        response = await self.client.get(url, params=params, headers=headers or self.manager())
        assert response.status_code == expect, response.text
        return response.json()


@contextlib.asynccontextmanager
async def running(database_url: str):
    settings = Settings(database_url=database_url, run_background_workers=False)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://funding") as client:
            yield Funding(app, client, settings.identity_secret)


@pytest.fixture
async def funding(tmp_path):
    async with running(f"sqlite+aiosqlite:///{tmp_path}/funding.db") as service:
        yield service


def fund_body(**over) -> dict:
    body = {
        "name": "Fonds ETCLD — Loir-et-Cher",
        "kind": "etcld_cde",
        "payer": {"name": "ETCLD", "iban": PAYER_IBAN},
        "funders": [{"name": "État", "share": "70"}, {"name": "Département de Loir-et-Cher", "share": "30"}],
        "envelopes": [{"year": 2024, "amount": "1000000.00"}],
    }
    body.update(over)
    return body


def convention_body(fund_id: str, **over) -> dict:
    body = {
        "fund_id": fund_id,
        "kind": "cde",
        "beneficiary": {"name": "EBE Val de Loire", "siret": EBE_SIRET, "iban": EBE_IBAN},
        "period": {"start": "2024-01-01", "end": "2026-12-31"},
        "cde_rate": "0.95",
    }
    body.update(over)
    return body
