"""Health, the merged OpenAPI document and its Swagger UI, the AsyncAPI document."""

import logging

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from tremplin_shared.events.asyncapi import asyncapi_document
from tremplin_shared.messaging.kafka import broker_reachable
from tremplin_shared.problems import problem_response

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
