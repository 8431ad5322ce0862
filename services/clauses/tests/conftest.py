"""The clauses app in-process (SQLite by default, PostgreSQL on request), signed identities, and
helpers to make participants known the way events would."""

import uuid
from datetime import UTC, date, datetime

import httpx
import pytest

from tremplin_clauses.adapters.projection import HANDLERS
from tremplin_clauses.config import Settings
from tremplin_clauses.main import create_app
from tremplin_clauses.service_layer import MATCHING_HANDLERS
from tremplin_shared.events import ParticipantFlags, ParticipantProfileChangedV1, new_event
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

TENANT = "loir-et-cher"
OTHER = "indre"
BUYER_SIRET = "22410001600019"
CONTRACTOR_SIRET = "73282932000074"
OTHER_SIRET = "41234567000019"


class Clauses:
    def __init__(self, app, client: httpx.AsyncClient, secret: str) -> None:
        self.app, self.client, self.secret = app, client, secret

    def headers(self, tenant: str = TENANT, *roles: str, subject: str = "user") -> dict:
        identity = Identity(tenant, subject, tuple(roles) or ("referent",))
        return {IDENTITY_HEADER: sign_identity(identity, self.secret)}

    def facilitator(self, tenant: str = TENANT) -> dict:
        return self.headers(tenant, "facilitator", subject="facilitatrice")

    async def apply(self, tenant: str, data) -> None:
        handler = {**HANDLERS, **MATCHING_HANDLERS}[data.ce_type]
        async with self.app.state.sessionmaker() as session, session.begin():
            await handler(session, new_event(data, tenant=tenant, source="/tests"), data)

    async def participant(
        self, tenant: str = TENANT, eligible: bool | None = True, sex: str | None = "F", pid: uuid.UUID | None = None
    ) -> str:
        pid = pid or uuid.uuid4()
        on = date(2026, 1, 2)
        flags = ParticipantFlags(
            computed_on=on, long_term_unemployed=bool(eligible), very_long_term_unemployed=False, youth=False,
            senior=False, rsa=False, rqth=False, qpv=False, clause_eligible=bool(eligible),
        )  # fmt: skip
        await self.apply(
            tenant,
            ParticipantProfileChangedV1(participant_id=pid, changed_at=datetime.now(UTC), latitude=47.58,
                                        longitude=1.33, flags=flags, active=True, sex=sex),
        )  # fmt: skip
        return str(pid)

    async def market(self, tenant: str = TENANT, **over) -> dict:
        response = await self.client.post("/api/v1/clauses/markets", json=market_body(**over),
                                          headers=self.headers(tenant))  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    async def place(self, lot_id: str, pid: str, tenant: str = TENANT, **over) -> dict:
        body = {"participant_id": pid, "mode": "direct_hire", "contract_type": "cdd", "start_date": "2026-01-05"}
        response = await self.client.post(f"/api/v1/clauses/lots/{lot_id}/placements", json=body | over,
                                          headers=self.headers(tenant))  # fmt: skip
        assert response.status_code == 201, response.text
        return response.json()

    async def declare(self, lot_id: str, pid: str, month: str, hours, tenant: str = TENANT) -> httpx.Response:
        return await self.client.post(f"/api/v1/clauses/lots/{lot_id}/hours",
                                      json={"participant_id": pid, "month": month, "hours": str(hours)},
                                      headers=self.headers(tenant))  # fmt: skip

    async def validate(self, hours_id: str, tenant: str = TENANT) -> httpx.Response:
        return await self.client.post(f"/api/v1/clauses/hours/{hours_id}/validate", headers=self.facilitator(tenant))

    async def reject(self, hours_id: str, reason: str = "pas de bulletin de salaire", tenant: str = TENANT):
        return await self.client.post(f"/api/v1/clauses/hours/{hours_id}/reject", json={"reason": reason},
                                      headers=self.facilitator(tenant))  # fmt: skip


def lot_body(number: int = 1, **over) -> dict:
    body = {
        "number": number,
        "title": f"Lot {number} — gros œuvre",
        "contractor": {"name": "Bâtiments du Loir", "siret": CONTRACTOR_SIRET},
        "required_hours": "1000",
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
    }
    return body | over


def market_body(**over) -> dict:
    body = {
        "reference": f"CD41-{uuid.uuid4().hex[:8]}",
        "title": "Réhabilitation du collège Augustin-Thierry, Blois",
        "legal_basis": "article L2112-2 du code de la commande publique",
        "buyer": {"name": "Conseil départemental de Loir-et-Cher", "siret": BUYER_SIRET, "kind": "public"},
        "lots": [lot_body(1), lot_body(2, title="Lot 2 — second œuvre", required_hours="500")],
    }
    return body | over


async def start(settings: Settings):
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    client = httpx.AsyncClient(transport=transport, base_url="http://clauses")
    return Clauses(app, client, settings.identity_secret), ctx


@pytest.fixture
async def clauses(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/clauses.db", run_background_workers=False)
    service, ctx = await start(settings)
    yield service
    await service.client.aclose()
    await ctx.__aexit__(None, None, None)


@pytest.fixture
async def clauses_pg(postgres):
    settings = Settings(database_url=await postgres.create("clauses"), run_background_workers=False)
    service, ctx = await start(settings)
    yield service
    await service.client.aclose()
    await ctx.__aexit__(None, None, None)
