"""Wiring: settings, lifespan (migrations, database, the shared upstream client), routers."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.events.contracts import INBOUND_FRANCE_TRAVAIL_TOPIC
from tremplin_shared.http import RequestIdMiddleware
from tremplin_shared.log import configure_logging
from tremplin_shared.messaging.relay import OutboxRelay
from tremplin_shared.messaging.retention import MessagingRetention
from tremplin_shared.problems import install_problem_handlers
from tremplin_shared.service import warn_development_secrets

from .api import admin, events, ops, webhooks
from .api import proxy as proxy_routes
from .audit import AuditMiddleware, AuditWriter
from .auth import API_KEY_HEADER, Authenticator
from .body_limit import BodyLimitMiddleware
from .config import Settings
from .domain.webhooks import RetryPolicy
from .keys import migrate
from .oidc import OidcVerifier
from .openapi import VERSION, OpenApiCache
from .proxy import Proxy, upstream_client
from .ratelimit import RateLimits, make_storage
from .webhooks import DeliveryWorker, SecretBox, webhook_consumer

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("gateway", settings.log_level)
        # httpx logs every upstream call with its query string at INFO; the access log says enough.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
        await asyncio.to_thread(migrate, settings.database_url)
        engine = make_engine(settings.database_url)
        sessionmaker = make_sessionmaker(engine)
        client = upstream_client(settings)
        app.state.engine = engine
        app.state.sessionmaker = sessionmaker
        app.state.http = client
        oidc = OidcVerifier(settings, client) if settings.oidc_enabled else None
        app.state.authenticator = Authenticator(
            sessionmaker, settings.api_key_touch_interval_seconds, oidc, settings.api_key_cache_seconds
        )
        app.state.proxy = Proxy(client, settings)
        rate_limits = RateLimits(
            make_storage(settings.redis_url, settings.rate_limit_key_prefix),
            settings.rate_limit_default,
            settings.rate_limit_auth_failures,
            settings.rate_limit_auth_failures_per_address,
            settings.api_key_max_rate_limit,
        )
        app.state.rate_limits = rate_limits
        audit = AuditWriter(sessionmaker, settings.audit_flush_interval_seconds)
        app.state.audit = audit
        audit.start()
        app.state.secret_box = SecretBox(settings.identity_secret)
        policy = RetryPolicy(
            settings.webhook_retry_base_seconds,
            settings.webhook_retry_max_backoff_seconds,
            settings.webhook_max_attempts,
            settings.webhook_disable_after,
        )
        worker = DeliveryWorker(
            sessionmaker, app.state.secret_box, policy, settings.webhook_timeout_seconds,
            settings.webhook_poll_interval_seconds, deadline_seconds=settings.webhook_attempt_deadline_seconds,
            allow_http=settings.webhook_allow_http,
            allow_private_addresses=settings.webhook_allow_private_addresses,
        )  # fmt: skip
        app.state.webhook_worker = worker
        consumer = webhook_consumer(settings, sessionmaker)
        app.state.webhook_consumer = consumer
        # Events accepted by the intake leave through the outbox, as every service's do.
        relay = OutboxRelay(
            "gateway", sessionmaker, settings.kafka_bootstrap_servers, [INBOUND_FRANCE_TRAVAIL_TOPIC],
            settings.kafka_partitions, settings.outbox_batch_size, settings.outbox_poll_interval_seconds,
        )  # fmt: skip
        app.state.relay = relay
        # The intake's outbox rows and the webhook consumer's inbox rows are purged as every service's are.
        retention = MessagingRetention.from_settings("gateway", settings, sessionmaker)
        app.state.retention = retention
        tasks: list[asyncio.Task] = []
        if settings.run_background_workers:
            tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
            tasks.append(asyncio.create_task(retention.run(), name="messaging-retention"))
            tasks.append(asyncio.create_task(worker.run(), name="webhook-delivery"))
            tasks.append(asyncio.create_task(consumer.run(), name="webhook-consumer"))
        log.info("started", extra={"fields": {"upstreams": settings.upstreams}})
        warn_development_secrets(settings)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await consumer.stop()
            await relay.stop()
            await worker.close()
            await audit.stop()
            await client.aclose()
            await rate_limits.close()
            await engine.dispose()

    app = FastAPI(
        title="Tremplin gateway",
        version=VERSION,
        lifespan=lifespan,
        # /openapi.json and /docs are the merged document's, served by api.ops.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.openapi_cache = OpenApiCache(settings.openapi_cache_seconds, settings.openapi_incomplete_cache_seconds)
    # Outermost last: request id (and access log) around everything, the audit, CORS, the body limit,
    # then the proxy to the services (the hot path, before the router).
    app.add_middleware(proxy_routes.ServiceProxy)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_seconds=settings.request_body_timeout_seconds
    )
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", API_KEY_HEADER, "content-type", "idempotency-key", "x-request-id"],
            expose_headers=["x-request-id", "retry-after", "location"],
            max_age=600,
        )
    app.add_middleware(AuditMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_problem_handlers(app)
    app.include_router(ops.router)
    app.include_router(admin.router)
    app.include_router(webhooks.router)
    app.include_router(events.router)
    app.include_router(proxy_routes.router)  # last: /api paths nobody serves
    return app


app = create_app()
