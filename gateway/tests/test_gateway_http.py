"""The gateway over HTTP (in-process, inside its lifespan): authentication, proxying, documents."""

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from tremplin_gateway.adapters.orm import api_keys
from tremplin_gateway.keys import create_api_key, revoke_api_key
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity, verify_identity
from tremplin_shared.log import JsonFormatter

pytestmark = pytest.mark.asyncio

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"]
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ------------------------------------------------------------------------------------------ authentication


async def test_no_key_is_401_problem_with_a_challenge(gateway):
    response = await gateway.client.get("/api/v1/participants")
    body = assert_problem(response, 401)
    assert "API key" in body["detail"]
    assert "Bearer" in response.headers["www-authenticate"]
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer trm_0123456789ab_" + "x" * 43},  # well formed, unknown
        {"X-API-Key": "trm_0123456789ab_" + "x" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_a_bad_key_is_401(gateway, headers):
    assert_problem(await gateway.client.get("/api/v1/participants", headers=headers), 401)


async def test_the_right_prefix_with_a_wrong_secret_is_401(gateway):
    _, plaintext = await gateway.key()
    forged = plaintext[:-2] + ("AA" if not plaintext.endswith("AA") else "BB")
    assert_problem(await gateway.client.get("/api/v1/participants", headers=bearer(forged)), 401)


async def test_a_revoked_key_is_401(gateway):
    key, plaintext = await gateway.key()
    assert (await gateway.client.get("/api/v1/participants", headers=bearer(plaintext))).status_code == 503
    await revoke_api_key(gateway.app.state.sessionmaker, key.id)
    body = assert_problem(await gateway.client.get("/api/v1/participants", headers=bearer(plaintext)), 401)
    assert body["detail"] == "API key revoked"


async def test_an_expired_key_is_401(gateway):
    sessionmaker = gateway.app.state.sessionmaker
    key, plaintext = await create_api_key(
        sessionmaker, "loir-et-cher", ["viewer"], "short", expires_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    async with sessionmaker() as session:  # let it expire without waiting
        await session.execute(
            api_keys.update().where(api_keys.c.id == key.id).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    body = assert_problem(await gateway.client.get("/api/v1/participants", headers=bearer(plaintext)), 401)
    assert body["detail"] == "API key expired"


async def test_valid_key_and_upstream_down_is_503_at_once(gateway):
    _, plaintext = await gateway.key()
    for headers in (bearer(plaintext), {"X-API-Key": plaintext}):
        started = time.perf_counter()
        response = await gateway.client.post("/api/v1/participants", headers=headers, json={"x": 1})
        assert time.perf_counter() - started < 3
        body = assert_problem(response, 503)
        assert body["service"] == "participants"
        assert response.headers["retry-after"]


async def test_an_upstream_that_does_not_answer_in_time_is_503(settings_for, start_gateway):
    async def silent(reader, writer):  # accepts the connection, never answers, until the client hangs up
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = settings_for(funding_url=f"http://127.0.0.1:{port}", upstream_read_timeout_seconds=0.3)
        async with start_gateway(settings) as gw:
            _, plaintext = await gw.key()
            started = time.perf_counter()
            response = await gw.client.get("/api/v1/funding/funds", headers=bearer(plaintext))
            assert time.perf_counter() - started < 3
            assert "in time" in assert_problem(response, 503)["detail"]
    finally:
        server.close()


async def test_an_unknown_api_path_is_404_problem(gateway):
    _, plaintext = await gateway.key()
    for path in ("/api/v1/unknown", "/api/v2/participants", "/api/v1/participantsx", "/api/v1/participants/%2E%2E/x"):
        assert_problem(await gateway.client.get(path, headers=bearer(plaintext)), 404)
    # httpx resolves "..": this is /api/v1/admin, which the table keeps for admins.
    assert_problem(await gateway.client.get("/api/v1/participants/../admin", headers=bearer(plaintext)), 403)
    assert_problem(await gateway.client.get("/nothing-here"), 404)


async def test_every_kind_of_api_path_challenges_a_caller_without_a_key(gateway):
    # A service's path (the proxy, ahead of the router), the gateway's own, and one nobody serves.
    for path in ("/api/v1/offers", "/api/v1/admin/api-keys", "/api/v1/unknown"):
        assert_problem(await gateway.client.get(path), 401)
        assert "Bearer" in (await gateway.client.get(path)).headers["www-authenticate"]


async def test_last_used_at_is_written_once_not_on_every_request(gateway):
    key, plaintext = await gateway.key()

    async def last_used():
        async with gateway.app.state.sessionmaker() as session:
            return (await session.execute(select(api_keys.c.last_used_at).where(api_keys.c.id == key.id))).scalar()

    assert await last_used() is None
    await gateway.client.get("/api/v1/participants", headers=bearer(plaintext))
    first = await last_used()
    assert first is not None
    for _ in range(3):
        await gateway.client.get("/api/v1/participants", headers=bearer(plaintext))
    assert await last_used() == first


async def test_the_api_key_is_never_logged(gateway, caplog):
    _, plaintext = await gateway.key()
    caplog.set_level(logging.DEBUG)
    await gateway.client.get("/api/v1/participants?x=1", headers=bearer(plaintext))
    await gateway.client.get("/api/v1/participants", headers={"X-API-Key": plaintext[:-1] + "Z"})
    formatter = JsonFormatter("gateway")
    lines = [formatter.format(record) for record in caplog.records]
    assert any('"path": "/api/v1/participants"' in line for line in lines)  # the access log is there
    secret = plaintext.split("_", 2)[2][:-1]
    assert not [line for line in lines if secret in line]
    assert not [line for line in lines if "x=1" in line]  # nor query strings (personal data may travel there)


# ------------------------------------------------------------------------------------------ proxying


class Echoed(BaseModel):
    method: str
    path: str


def echo_upstream() -> FastAPI:
    """Stands in for a service: tells what it received."""
    app = FastAPI(title="participants (echo)")

    @app.get("/api/v1/participants/typed/{participant_id}", response_model=Echoed, tags=["participants"])
    async def typed(participant_id: str) -> Echoed:
        return Echoed(method="GET", path=participant_id)

    @app.get("/api/v1/parcours/stream", include_in_schema=False)
    async def stream() -> StreamingResponse:
        async def chunks():
            for i in range(3):
                yield f"chunk-{i};".encode()
                await asyncio.sleep(0.01)

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/api/v1/parcours/moved", include_in_schema=False)
    async def moved(request: Request) -> RedirectResponse:
        return RedirectResponse(str(request.url_for("stream")), status_code=307)

    @app.get("/internal/metrics-like")
    async def internal() -> dict:
        return {}

    @app.get("/api/v1/parcours/sets-a-cookie", include_in_schema=False)
    async def sets_a_cookie() -> JSONResponse:
        response = JSONResponse({})
        response.set_cookie("session", "of-the-first-caller")
        return response

    @app.api_route("/api/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def echo(request: Request, rest: str) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "body": body.decode(),
                "identity": request.headers.getlist(IDENTITY_HEADER),
                "headers": {k: v for k, v in request.headers.items() if k != IDENTITY_HEADER.lower()},
            },
            status_code=201 if request.method == "POST" else 200,
            headers={"X-Upstream": "echo", "Connection": "close, X-Hop", "X-Hop": "1"},
        )

    return app


async def test_the_identity_is_signed_by_the_gateway_and_a_forged_one_is_stripped(
    settings_for, start_gateway, serve_app, secret
):
    async with serve_app(echo_upstream()) as upstream:
        async with start_gateway(settings_for(participants_url=upstream)) as gw:
            key, plaintext = await gw.key(tenant="loir-et-cher", roles=("referent", "viewer"), name="SI")
            forged = sign_identity(Identity(tenant="cher", subject="attacker", roles=("admin",)), secret)
            response = await gw.client.post(
                "/api/v1/participants/a%2Fb/steps?page=2&q=caf%C3%A9",
                headers={
                    **bearer(plaintext),
                    IDENTITY_HEADER: forged,
                    "X-API-Key": plaintext,
                    "Idempotency-Key": "idem-1",
                    "X-Request-ID": "req-42",
                    "Cookie": "session=abc",
                },
                json={"step": "diagnostic"},
            )
    assert response.status_code == 201, response.text
    seen = response.json()
    assert len(seen["identity"]) == 1
    identity = verify_identity(seen["identity"][0], secret)
    assert identity.tenant == "loir-et-cher"
    assert identity.roles == ("referent", "viewer")
    assert identity.subject == f"apikey:{key.id}"
    assert identity.request_id == "req-42"
    # Method, raw path, query and body reach the service as sent.
    assert seen["method"] == "POST"
    assert seen["raw_path"] == "/api/v1/participants/a%2Fb/steps"
    assert seen["query"] == "page=2&q=caf%C3%A9"
    assert seen["body"] == '{"step":"diagnostic"}'
    # The relevant headers, and nothing that authenticates the caller to the gateway.
    headers = seen["headers"]
    assert headers["idempotency-key"] == "idem-1"
    assert headers["x-request-id"] == "req-42"
    assert headers["content-type"] == "application/json"
    assert not {"authorization", "x-api-key", "cookie"} & set(headers)
    # The answer comes back with its status and headers, hop-by-hop ones dropped.
    assert response.headers["x-upstream"] == "echo"
    assert "x-hop" not in response.headers and "connection" not in response.headers
    assert response.headers.get_list("x-request-id") == ["req-42"]


# X-Request-ID is not among them: a value that is not an id is replaced (shared/tests/test_http_logs.py).
@pytest.mark.parametrize("header", ["Accept-Language", "If-Match", "X-Forwarded-For"])
async def test_a_non_ascii_header_value_is_400_problem_and_reaches_no_service(
    settings_for, start_gateway, serve_app, header
):
    async with serve_app(echo_upstream()) as upstream:
        async with start_gateway(settings_for(participants_url=upstream)) as gw:
            _, plaintext = await gw.key()
            value = "café".encode("latin-1")  # as a client sends it: bytes that are not ASCII
            response = await gw.client.get("/api/v1/participants/p-1", headers={**bearer(plaintext), header: value})
            body = assert_problem(response, 400)
            assert body["header"] == header.lower()
            # The same header in ASCII goes through.
            fine = await gw.client.get("/api/v1/participants/p-1", headers={**bearer(plaintext), header: "cafe"})
            assert fine.status_code == 200
            assert gw.app.state.proxy.breakers["participants"].failures == 0


async def test_the_upstream_status_and_body_are_passed_through(settings_for, start_gateway, serve_app):
    async with serve_app(echo_upstream()) as upstream:
        async with start_gateway(settings_for(participants_url=upstream)) as gw:
            _, plaintext = await gw.key()
            typed = await gw.client.get("/api/v1/participants/typed/p-1", headers=bearer(plaintext))
            missing = await gw.client.get("/api/v1/participants/typed", headers=bearer(plaintext))
            parcours = await gw.client.delete("/api/v1/parcours/p-1", headers=bearer(plaintext))
            streamed = await gw.client.get("/api/v1/parcours/stream", headers=bearer(plaintext))
            moved = await gw.client.get("/api/v1/parcours/moved", headers=bearer(plaintext))
    assert typed.status_code == 200 and typed.json() == {"method": "GET", "path": "p-1"}
    assert streamed.text == "chunk-0;chunk-1;chunk-2;"
    assert moved.status_code == 307 and moved.headers["location"] == "/api/v1/parcours/stream"  # not the service's
    assert missing.status_code == 200  # the echo route catches it
    assert parcours.status_code == 200 and parcours.json()["method"] == "DELETE"


async def test_a_cookie_set_by_a_service_goes_to_its_caller_and_is_never_kept(settings_for, start_gateway, serve_app):
    # The upstream client is shared by every caller: a cookie it kept would go out with the next
    # caller's requests, whoever they are.
    async with serve_app(echo_upstream()) as upstream:
        async with start_gateway(settings_for(participants_url=upstream)) as gw:
            _, first = await gw.key(tenant="loir-et-cher")
            _, second = await gw.key(tenant="cher")
            answer = await gw.client.get("/api/v1/parcours/sets-a-cookie", headers=bearer(first))
            gw.client.cookies.clear()  # the test client keeps cookies; the gateway must not
            seen = (await gw.client.get("/api/v1/parcours/p-1", headers=bearer(second))).json()
    assert "of-the-first-caller" in answer.headers["set-cookie"]
    assert "cookie" not in seen["headers"]


# ------------------------------------------------------------------------------------------ documents


async def test_openapi_merges_the_services_that_answer_and_names_the_others(settings_for, start_gateway, serve_app):
    async with serve_app(echo_upstream()) as upstream:
        async with start_gateway(settings_for(participants_url=upstream)) as gw:
            started = time.perf_counter()
            response = await gw.client.get("/openapi.json")
            assert time.perf_counter() - started < 3
    assert response.status_code == 200
    document = response.json()
    assert sorted(document["info"]["x-unavailable"]) == ["clauses", "funding", "matching"]
    assert "/api/v1/participants/typed/{participant_id}" in document["paths"]
    assert "/internal/metrics-like" not in document["paths"]  # not routed by the gateway
    assert "/api/v1/admin/api-keys" in document["paths"]
    schemas = document["components"]["schemas"]
    assert {"Echoed", "ApiKeyOut", "HTTPValidationError"} <= set(schemas)
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A Tremplin API key.",
    }
    assert {"ApiKey": []} in document["security"]


async def test_openapi_is_kept_and_built_once_for_a_crowd(settings_for, start_gateway, serve_app):
    """Public, and a request to every service each time: a crowd of readers costs each service one."""
    fetched = {"count": 0}
    upstream_app = echo_upstream()

    @upstream_app.middleware("http")
    async def count(request, call_next):
        if request.url.path == "/openapi.json":
            fetched["count"] += 1
            await asyncio.sleep(0.05)  # the readers below all arrive while it is being built
        return await call_next(request)

    async with serve_app(upstream_app) as upstream:
        urls = {f"{name}_url": upstream for name in ("participants", "matching", "clauses", "funding")}
        async with start_gateway(settings_for(**urls, openapi_cache_seconds=60)) as gw:
            answers = await asyncio.gather(*(gw.client.get("/openapi.json") for _ in range(20)))
            assert {a.status_code for a in answers} == {200} and len({a.content for a in answers}) == 1
            assert fetched["count"] == 4  # each service once
            assert answers[0].json()["info"]["x-unavailable"] == []
            assert answers[0].headers["content-type"] == "application/json"
            await gw.client.get("/openapi.json")
            assert fetched["count"] == 4
        # Incomplete (a service down): kept only briefly, then the services are asked again.
        urls["funding_url"] = "http://127.0.0.1:9"
        settings = settings_for(**urls, openapi_cache_seconds=60, openapi_incomplete_cache_seconds=0)
        async with start_gateway(settings) as gw:
            fetched["count"] = 0
            for _ in range(2):
                assert (await gw.client.get("/openapi.json")).json()["info"]["x-unavailable"] == ["funding"]
            assert fetched["count"] == 6


async def test_docs_and_asyncapi(gateway):
    docs = await gateway.client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "swagger" in docs.text.lower()
    asyncapi = await gateway.client.get("/asyncapi.json")
    assert asyncapi.status_code == 200 and asyncapi.json()["asyncapi"].startswith("3.")


# ------------------------------------------------------------------------------------------ admin


async def test_listing_keys_requires_the_admin_role(gateway):
    _, viewer = await gateway.key(roles=("viewer", "referent"))
    body = assert_problem(await gateway.client.get("/api/v1/admin/api-keys", headers=bearer(viewer)), 403)
    assert "admin" in body["detail"]
    assert_problem(await gateway.client.get("/api/v1/admin/api-keys"), 401)


async def test_an_admin_lists_its_tenant_keys_and_never_a_secret(gateway):
    admin, plaintext = await gateway.key(roles=("admin",), name="admin")
    other, _ = await gateway.key(roles=("viewer",), name="viewer")
    await gateway.key(tenant="cher", roles=("admin",), name="cher admin")
    response = await gateway.client.get("/api/v1/admin/api-keys", headers=bearer(plaintext))
    assert response.status_code == 200
    listed = response.json()
    assert {k["id"] for k in listed} == {str(admin.id), str(other.id)}
    assert all(k["tenant"] == "loir-et-cher" and k["status"] == "active" for k in listed)
    assert all("hash" not in k for k in listed)
    assert plaintext.split("_", 2)[2] not in response.text and admin.hash not in response.text


# ------------------------------------------------------------------------------------------ health


async def test_health_and_readiness(settings_for, start_gateway):
    async with start_gateway(settings_for()) as gw:
        assert (await gw.client.get("/healthz")).json() == {"status": "ok"}
        not_ready = assert_problem(await gw.client.get("/readyz"), 503)
        assert not_ready["checks"] == {"database": True, "broker": False}

    broker = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)  # stands in for the broker port
    port = broker.sockets[0].getsockname()[1]
    try:
        async with start_gateway(settings_for(kafka_bootstrap_servers=f"127.0.0.1:{port}")) as gw:
            ready = await gw.client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "broker": True}
    finally:
        broker.close()
