"""The funding part of the demo territory loads against the real service (uvicorn, SQLite). A small
stand-in for the gateway turns API keys into signed identities and, when asked to, issues the
funder key the demo asks for (as the gateway's admin API does); without it the approval is skipped."""

import asyncio
import random
import socket
import threading
import time
from datetime import date
from decimal import Decimal

import httpx
import pytest
import uvicorn
from schwifty import IBAN

from tremplin_cli.demo import demo_people
from tremplin_cli.demo_funding import demo_iban, seed
from tremplin_funding.config import Settings
from tremplin_funding.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

TODAY = date(2026, 11, 25)
KEYS = {"Bearer admin-key": Identity("loir-et-cher", "apikey:admin", ("admin",)),
        "Bearer funder-key": Identity("loir-et-cher", "apikey:funder", ("funder",))}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandInGateway(httpx.BaseTransport):
    def __init__(self, secret: str, issues_keys: bool) -> None:
        self.secret, self.issues_keys, self.inner = secret, issues_keys, httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/admin/api-keys":
            if not self.issues_keys:
                return httpx.Response(404, json={"title": "Not Found"})
            return httpx.Response(201, json={"api_key": "funder-key"})
        identity = KEYS[request.headers["Authorization"]]
        request.headers[IDENTITY_HEADER] = sign_identity(identity, self.secret)
        return self.inner.handle_request(request)


@pytest.fixture
def service(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/funding.db", run_background_workers=False,
                        log_level="WARNING")  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", settings.identity_secret
    server.should_exit = True
    thread.join(timeout=10)


def load(service, issues_keys: bool) -> httpx.Client:
    url, secret = service
    people = [(f"00000000-0000-4000-8000-{n:012d}", person) for n, person in enumerate(demo_people(12, TODAY))]
    client = httpx.Client(base_url=url, headers={"Authorization": "Bearer admin-key"}, timeout=10,
                          transport=StandInGateway(secret, issues_keys))  # fmt: skip
    seed(client, people, TODAY)
    return client


@pytest.mark.parametrize("issues_keys", [True, False])
def test_the_funding_demo_loads(service, issues_keys):
    client = load(service, issues_keys)
    try:
        items = client.get("/api/v1/funding/disbursements", params={"period": "2026-10"}).json()["items"]
        assert len(items) == 2 and sum(len(d["lines"]) for d in items) == 6
        for d in items:
            assert len(d["parts"]) == 3 and sum(Decimal(p["amount"]) for p in d["parts"]) == Decimal(d["total"])
        statuses = sorted(d["status"] for d in items)
        batches = client.get("/api/v1/funding/payment-batches").json()["items"]
        if issues_keys:
            assert statuses == ["approved", "prepared"]
            (batch,) = batches
            xml = client.get(f"/api/v1/funding/payment-batches/{batch['id']}/sepa.xml")
            assert xml.status_code == 200 and batch["total"].encode() in xml.content
        else:
            assert statuses == ["prepared", "prepared"] and batches == []
        schemes = client.get("/api/v1/funding/aid-schemes").json()["items"]
        beneficiaries = client.get(f"/api/v1/funding/aid-schemes/{schemes[0]['id']}/beneficiaries").json()
        assert [len(b["payments"]) for b in beneficiaries["items"]] == [1, 2, 3]
    finally:
        client.close()


def test_demo_ibans_are_valid():
    rng = random.Random(1)
    for _ in range(200):
        iban = demo_iban(rng, "30004")
        assert IBAN(iban).compact == iban and iban.startswith("FR") and len(iban) == 27
