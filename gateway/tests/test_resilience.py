"""Circuit breaker, retries of idempotent methods, per-upstream timeouts, body limit, CORS."""

import asyncio
import contextlib
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tremplin_shared.embedded_broker import free_port

pytestmark = pytest.mark.asyncio


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def flaky_upstream(failures: int) -> tuple[FastAPI, dict]:
    """Answers 503 to the first `failures` requests, then 200; counts what it receives."""
    app = FastAPI()
    seen = {"count": 0}

    @app.api_route("/api/v1/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def any_route(request: Request, rest: str) -> JSONResponse:
        seen["count"] += 1
        if seen["count"] <= failures:
            return JSONResponse({"detail": "starting"}, status_code=503)
        return JSONResponse({"ok": True, "method": request.method})

    return app, seen


@contextlib.asynccontextmanager
async def serve_on(app: FastAPI, port: int):
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


async def test_the_circuit_opens_answers_at_once_then_recovers_through_a_probe(settings_for, start_gateway):
    port = free_port()
    settings = settings_for(
        participants_url=f"http://127.0.0.1:{port}",
        circuit_failure_threshold=3,
        circuit_recovery_seconds=0.5,
        upstream_retries=0,
    )
    async with start_gateway(settings) as gw:
        _, key = await gw.key()
        for _ in range(3):  # the service is down: tried, refused
            body = (await gw.client.get("/api/v1/participants", headers=bearer(key))).json()
            assert body["status"] == 503 and "circuit" not in body
        started = time.perf_counter()
        opened = await gw.client.get("/api/v1/participants", headers=bearer(key))
        assert opened.status_code == 503 and opened.json()["circuit"] == "open"
        assert opened.headers["retry-after"] == "1" and time.perf_counter() - started < 0.1
        # Other services are not affected.
        assert "circuit" not in (await gw.client.get("/api/v1/offers", headers=bearer(key))).json()

        await asyncio.sleep(0.6)  # half-open: the probe fails, the circuit opens again
        assert "circuit" not in (await gw.client.get("/api/v1/participants", headers=bearer(key))).json()
        assert (await gw.client.get("/api/v1/participants", headers=bearer(key))).json()["circuit"] == "open"

        app, seen = flaky_upstream(0)
        async with serve_on(app, port):
            still_open = await gw.client.get("/api/v1/participants", headers=bearer(key))
            assert still_open.json()["circuit"] == "open" and seen["count"] == 0  # not even tried
            await asyncio.sleep(0.6)
            probe = await gw.client.get("/api/v1/participants", headers=bearer(key))
            assert probe.status_code == 200 and seen["count"] == 1
            for _ in range(3):
                assert (await gw.client.get("/api/v1/participants", headers=bearer(key))).status_code == 200
        assert gw.app.state.proxy.breakers["participants"].state == "closed"


async def test_get_is_retried_post_is_not(settings_for, start_gateway, serve_app):
    app, seen = flaky_upstream(2)
    async with serve_app(app) as upstream:
        async with start_gateway(settings_for(matching_url=upstream, upstream_retries=2)) as gw:
            _, key = await gw.key()
            got = await gw.client.get("/api/v1/offers", headers=bearer(key))
            assert got.status_code == 200 and seen["count"] == 3  # two 503s, then the answer

            seen["count"] = -10  # fail again (count <= 2)
            posted = await gw.client.post("/api/v1/offers", json={"title": "x"}, headers=bearer(key))
            assert posted.status_code == 503 and seen["count"] == -9  # once: a POST may write
            deleted = await gw.client.delete("/api/v1/offers/1", headers=bearer(key))
            assert deleted.status_code == 503 and seen["count"] == -8


async def test_a_per_upstream_read_timeout(settings_for, start_gateway):
    async def silent(reader, writer):
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = settings_for(
            funding_url=f"http://127.0.0.1:{port}",
            upstream_read_timeout_seconds=30,
            upstream_read_timeouts={"funding": 0.3},
        )
        async with start_gateway(settings) as gw:
            _, key = await gw.key()
            started = time.perf_counter()
            response = await gw.client.get("/api/v1/funding/funds", headers=bearer(key))
            assert response.status_code == 503 and "in time" in response.json()["detail"]
            assert time.perf_counter() - started < 2  # one attempt: a timeout is not retried
    finally:
        server.close()


async def test_a_body_too_large_is_413(settings_for, start_gateway, serve_app):
    app, seen = flaky_upstream(0)
    async with serve_app(app) as upstream:
        async with start_gateway(settings_for(participants_url=upstream, max_body_bytes=1000)) as gw:
            _, key = await gw.key()
            small = await gw.client.post("/api/v1/participants", content=b"x" * 1000, headers=bearer(key))
            assert small.status_code == 200
            large = await gw.client.post("/api/v1/participants", content=b"x" * 1001, headers=bearer(key))
            assert large.status_code == 413 and large.headers["content-type"].startswith("application/problem+json")

            async def chunks():
                for _ in range(5):
                    yield b"y" * 300

            chunked = await gw.client.post("/api/v1/participants", content=chunks(), headers=bearer(key))
            assert chunked.status_code == 413
            assert seen["count"] == 1  # the large ones never reached the service


async def test_cors(settings_for, start_gateway):
    settings = settings_for(cors_allow_origins=["https://si.loir-et-cher.fr"])
    async with start_gateway(settings) as gw:
        preflight = await gw.client.options(
            "/api/v1/participants",
            headers={
                "Origin": "https://si.loir-et-cher.fr",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://si.loir-et-cher.fr"
        other = await gw.client.options(
            "/api/v1/participants",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in other.headers
        simple = await gw.client.get("/api/v1/participants", headers={"Origin": "https://si.loir-et-cher.fr"})
        assert simple.status_code == 401
        assert simple.headers["access-control-allow-origin"] == "https://si.loir-et-cher.fr"


async def slowly(size: int, delay: float):
    for _ in range(size):
        await asyncio.sleep(delay)
        yield b"x"


async def test_a_slow_body_is_408_and_holds_no_upstream_connection(settings_for, start_gateway, serve_app):
    # The probe of the audit: two slow senders of one tenant, a pool of two connections shared by
    # the four services, another tenant's GET. The service reads the body, as any route with one does.
    app, seen = FastAPI(), {"count": 0}

    @app.api_route("/api/v1/{rest:path}", methods=["GET", "POST"])
    async def reads_the_body(request: Request) -> JSONResponse:
        seen["count"] += 1
        return JSONResponse({"received": len(await request.body())})

    async with serve_app(app) as upstream:
        settings = settings_for(
            participants_url=upstream,
            matching_url=upstream,
            upstream_max_connections=2,
            upstream_pool_timeout_seconds=0.5,
            request_body_timeout_seconds=1.0,
        )
        async with start_gateway(settings) as gw:
            _, viewer = await gw.key(tenant="cher", roles=("referent",))
            _, other = await gw.key(tenant="loir-et-cher", roles=("viewer",))
            declared = {**bearer(viewer), "Content-Length": "15"}
            slow = [
                asyncio.create_task(
                    gw.client.request("GET", "/api/v1/participants", content=slowly(15, 0.2), headers=declared)
                )
                for _ in range(2)
            ]
            # Chunked, no length: read by the body limit, under the same deadline.
            chunked = asyncio.create_task(
                gw.client.post("/api/v1/participants", content=slowly(15, 0.2), headers=bearer(viewer))
            )
            await asyncio.sleep(0.3)  # all three are sending
            started = time.perf_counter()
            answer = await gw.client.get("/api/v1/offers", headers=bearer(other))
            assert answer.status_code == 200 and time.perf_counter() - started < 0.5
            for response in await asyncio.gather(*slow, chunked):
                assert response.status_code == 408, response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["status"] == 408
            assert seen["count"] == 1  # the slow ones never reached the service
            # A body that arrives in time goes through whole.
            _, writer = await gw.key(tenant="loir-et-cher", roles=("referent",))
            quick = await gw.client.post("/api/v1/participants", content=slowly(5, 0.01), headers=bearer(writer))
            assert quick.status_code == 200 and quick.json() == {"received": 5}
            proxy = gw.app.state.proxy
            assert proxy.slots._value == 2  # every turn was given back
            assert all(b.state == "closed" and b.failures == 0 for b in proxy.breakers.values())


async def test_a_full_pool_is_503_and_no_failure_of_the_service(settings_for, start_gateway, serve_app):
    app = FastAPI()
    entered, go_on = asyncio.Event(), asyncio.Event()

    @app.get("/api/v1/offers")
    async def offers() -> dict:
        entered.set()
        await go_on.wait()
        return {"ok": True}

    async with serve_app(app) as upstream:
        settings = settings_for(
            matching_url=upstream,
            upstream_max_connections=1,
            upstream_pool_timeout_seconds=0.3,
            circuit_failure_threshold=1,
        )
        async with start_gateway(settings) as gw:
            _, key = await gw.key()
            first = asyncio.create_task(gw.client.get("/api/v1/offers", headers=bearer(key)))
            try:
                await asyncio.wait_for(entered.wait(), 5)  # the one connection is busy
                started = time.perf_counter()
                busy = await gw.client.get("/api/v1/offers", headers=bearer(key))
                elapsed = time.perf_counter() - started
            finally:
                go_on.set()
            assert (await first).status_code == 200
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert "gateway" in busy.json()["detail"] and "circuit" not in busy.json()
            assert elapsed < 1  # the pool timeout, not retried
            breaker = gw.app.state.proxy.breakers["matching"]
            assert breaker.state == "closed" and breaker.failures == 0  # the gateway's saturation, not the service's
            assert (await gw.client.get("/api/v1/offers", headers=bearer(key))).status_code == 200
