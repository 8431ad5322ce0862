"""The audit of every request, and `GET /api/v1/admin/audit` for a tenant admin (own tenant only)."""

import pytest
from sqlalchemy import select

from tremplin_gateway.adapters.orm import audit_log

pytestmark = pytest.mark.asyncio


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_every_request_is_audited_and_an_admin_sees_its_tenant_only(gateway):
    admin_key, admin = await gateway.key(roles=("admin",))
    viewer_key, viewer = await gateway.key(roles=("viewer",))
    _, foreign = await gateway.key(tenant="cher", roles=("admin",))
    await gateway.client.get("/api/v1/offers?nir=secret", headers={**bearer(viewer), "X-Request-ID": "r-1"})
    await gateway.client.post("/api/v1/participants", json={}, headers=bearer(viewer))  # 403
    await gateway.client.get("/api/v1/offers", headers=bearer(foreign))
    await gateway.client.get("/api/v1/participants")  # 401, no tenant
    await gateway.client.get("/healthz")  # not audited

    response = await gateway.client.get("/api/v1/admin/audit", headers=bearer(admin))
    assert response.status_code == 200, response.text
    entries = response.json()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/api/v1/participants", 403),
        ("GET", "/api/v1/offers", 503),
    ]
    first = entries[1]
    assert first["subject"] == f"apikey:{viewer_key.id}" and first["tenant"] == "loir-et-cher"
    assert first["request_id"] == "r-1" and first["latency_ms"] >= 0 and first["client"]
    assert "secret" not in response.text  # never the query string

    # Filters; and the admin's own reading shows up in the next reading.
    only_403 = await gateway.client.get("/api/v1/admin/audit", params={"status": 403}, headers=bearer(admin))
    assert [e["status"] for e in only_403.json()] == [403]
    mine = await gateway.client.get(
        "/api/v1/admin/audit", params={"subject": f"apikey:{admin_key.id}"}, headers=bearer(admin)
    )
    assert [e["path"] for e in mine.json()] == ["/api/v1/admin/audit"] * 2

    cher = (await gateway.client.get("/api/v1/admin/audit", headers=bearer(foreign))).json()
    assert {e["tenant"] for e in cher} == {"cher"}
    assert (await gateway.client.get("/api/v1/admin/audit", headers=bearer(viewer))).status_code == 403

    async with gateway.app.state.sessionmaker() as session:
        rows = (await session.execute(select(audit_log.c.path, audit_log.c.tenant, audit_log.c.status))).all()
    assert ("/api/v1/participants", None, 401) in rows
    assert not [r for r in rows if r.path == "/healthz"]


async def test_the_writer_flushes_by_itself(gateway, wait_for):
    _, viewer = await gateway.key(roles=("viewer",))
    await gateway.client.get("/api/v1/participants", headers=bearer(viewer))

    async def stored():
        async with gateway.app.state.sessionmaker() as session:
            return (await session.execute(select(audit_log.c.id))).first() is not None

    assert await wait_for(stored, timeout=5)


async def test_the_status_filter_takes_an_http_status_only(gateway):
    _, admin = await gateway.key(roles=("admin",))
    for status in (2**64, 99, 600):  # not a 500: the database's integer would overflow on the first
        response = await gateway.client.get("/api/v1/admin/audit", params={"status": status}, headers=bearer(admin))
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "status", response.text


async def test_a_path_that_carries_personal_data_is_audited_and_logged_redacted(gateway, caplog):
    """A NIR or an e-mail sent where an id goes (a caller's mistake) reaches neither the audit nor
    the access log; a uuid (which file was read) is kept."""
    _, admin = await gateway.key(roles=("admin",))
    pid = "0b6f7f3e-4c55-4d1e-9a4e-446655440000"  # a uuid with twelve digits in a row: kept
    nir, email = "185057800608436", "camille.martin%40example.org"
    for path in (f"/api/v1/participants/{nir}", f"/api/v1/participants/{email}/steps", f"/api/v1/participants/{pid}"):
        await gateway.client.get(path, headers={**bearer(admin), "X-Request-ID": "Camille Martin 1985"})
    await gateway.app.state.audit.flush()
    async with gateway.app.state.sessionmaker() as session:
        rows = (await session.execute(select(audit_log.c.path, audit_log.c.request_id))).all()
    paths = sorted(r.path for r in rows if r.path.startswith("/api/v1/participants/"))
    assert paths == [
        "/api/v1/participants/0b6f7f3e-4c55-4d1e-9a4e-446655440000",
        "/api/v1/participants/{redacted}",
        "/api/v1/participants/{redacted}/steps",
    ]
    assert not [r for r in rows if "Camille" in (r.request_id or "")]  # a new id instead of free text
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert nir not in logged and "camille" not in logged.lower() and "{redacted}" in logged
