"""The funding part of the demo territory loads against the real service (uvicorn, SQLite) and shows
a prepared CDE run and the aids paid. The gateway is stood in for by a signed admin identity."""

import asyncio
import random
import socket
import threading
import time
from datetime import date
from decimal import Decimal

import httpx
import uvicorn
from schwifty import IBAN

from tremplin_cli.demo import demo_people
from tremplin_cli.demo_funding import demo_iban, seed
from tremplin_funding.config import Settings
from tremplin_funding.main import create_app
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_funding_demo_loads(tmp_path):
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/funding.db", run_background_workers=False,
                        log_level="WARNING")  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        today = date(2026, 11, 25)
        people = [(f"00000000-0000-4000-8000-{n:012d}", person) for n, person in enumerate(demo_people(12, today))]
        headers = {IDENTITY_HEADER: sign_identity(Identity("loir-et-cher", "apikey:demo", ("admin",)),
                                                  settings.identity_secret, )}  # fmt: skip
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as client:
            seed(client, people, today)
            disbursements = client.get("/api/v1/funding/disbursements", params={"period": "2026-10"}).json()
            (d,) = disbursements["items"]
            assert d["status"] == "prepared" and len(d["lines"]) == 6 and len(d["parts"]) == 3
            assert sum(Decimal(p["amount"]) for p in d["parts"]) == Decimal(d["total"])
            schemes = client.get("/api/v1/funding/aid-schemes").json()["items"]
            beneficiaries = client.get(f"/api/v1/funding/aid-schemes/{schemes[0]['id']}/beneficiaries").json()
            assert [len(b["payments"]) for b in beneficiaries["items"]] == [1, 2, 3]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_demo_ibans_are_valid():
    rng = random.Random(1)
    for _ in range(200):
        iban = demo_iban(rng, "30004")
        assert IBAN(iban).compact == iban and iban.startswith("FR") and len(iban) == 27
