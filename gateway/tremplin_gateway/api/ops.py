"""Health, the merged OpenAPI document and its Swagger UI, the AsyncAPI document."""

import hmac
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import text

from tremplin_shared.events.asyncapi import asyncapi_document
from tremplin_shared.messaging.kafka import broker_reachable
from tremplin_shared.metrics import add_messaging_gauges
from tremplin_shared.problems import problem_response

from ..adapters.webhooks import WebhookRepository
from ..domain.circuit import OPEN

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the gateway's database and the broker answer. The services are not checked:
    one service down must not take the gateway (and the other services' routes) out of rotation."""
    checks = {"database": False, "broker": await broker_reachable(request.app.state.settings.kafka_bootstrap_servers)}
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = True
    except Exception:  # any failure means not ready
        log.warning("database not reachable", exc_info=True)
    if all(checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return problem_response(503, "Service Unavailable", "not ready", checks=checks)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """The event path (the intake's outbox, the webhook consumer), the webhook queue, and each
    upstream's circuit: counts for every tenant together, nothing about anyone."""
    state = request.app.state
    token = state.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return problem_response(401, "Unauthorized", "a scrape of /metrics needs the metrics token",
                                    headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    registry = CollectorRegistry()
    await add_messaging_gauges(registry, state.sessionmaker, state.relay, state.webhook_consumer, state.retention)
    async with state.sessionmaker() as session:
        webhooks = await WebhookRepository(session).stats()
    deliveries = Gauge("tremplin_webhook_deliveries", "Webhook deliveries by status", ["status"], registry=registry)
    for status in ("pending", "delivered", "failed"):
        deliveries.labels(status).set(webhooks["by_status"].get(status, 0))
    oldest = webhooks["oldest_pending"]
    Gauge("tremplin_webhook_pending_age_seconds", "Age of the oldest pending webhook delivery", registry=registry).set(
        max(0.0, (datetime.now(UTC) - oldest).total_seconds()) if oldest else 0.0
    )
    Gauge("tremplin_webhook_subscriptions_disabled", "Subscriptions disabled by repeated failures",
          registry=registry).set(webhooks["disabled_subscriptions"])  # fmt: skip
    circuit = Gauge("tremplin_gateway_upstream_circuit_open", "1 while the upstream's circuit is open", ["upstream"],
                    registry=registry)  # fmt: skip
    for upstream, breaker in state.proxy.breakers.items():
        circuit.labels(upstream).set(1 if breaker.state == OPEN else 0)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json")
async def openapi(request: Request) -> Response:
    document = await request.app.state.openapi_cache.get(request.app)
    return Response(document, media_type="application/json")


@router.get("/docs")
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Tremplin API",
        swagger_ui_parameters={"persistAuthorization": True},
    )


@router.get("/asyncapi.json")
async def asyncapi() -> JSONResponse:
    return JSONResponse(asyncapi_document())
