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
