"""Builds a service's FastAPI app: migrations at start, outbox relay, consumers, health, metrics.

A service declares what is specific to it in a `ServiceSpec`; everything else is the same for
every service, so it lives here.
"""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .db import make_engine, make_sessionmaker
from .http import RequestIdMiddleware
from .identity import IDENTITY_HEADER, Identity, InvalidIdentity, verify_identity
from .log import configure_logging
from .messaging.consumer import EventConsumer, Handler
from .messaging.kafka import broker_reachable
from .messaging.relay import OutboxRelay
from .messaging.retention import MessagingRetention
from .metrics import add_messaging_gauges
from .migrations import upgrade_to_head
from .problems import Forbidden, Unauthorized, install_problem_handlers, problem_response
from .settings import ComponentSettings

log = logging.getLogger(__name__)


@dataclass
class ServiceSpec:
    name: str  # "participants": the source of its events, its consumer group, its topic prefix
    settings: ComponentSettings
    routers: list[APIRouter]
    migrations: Path
    produces: list[str] = field(default_factory=list)  # topics it writes to through its outbox
    consumes: list[str] = field(default_factory=list)  # topics it reads
    handlers: dict[str, Handler] = field(default_factory=dict)  # ce_type -> handler
    description: str = ""
    # Holds data about participants: keeps erasure tombstones (a migration creates the table) and skips
    # every event about an erased participant (messaging/erasure.py).
    erasure_tombstones: bool = False
    # Long-running tasks of the service (scheduled jobs), each `async def task(app)`, started with the
    # relay and the consumer when background workers run, cancelled at shutdown.
    background: list[Callable[[FastAPI], Awaitable[None]]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"/tremplin/{self.name}"


def current_identity(request: Request) -> Identity:
    """The identity the gateway signed; anything else is 401."""
    settings: ComponentSettings = request.app.state.settings
    try:
        identity = verify_identity(
            request.headers.get(IDENTITY_HEADER), settings.identity_secret, settings.identity_max_age_seconds
        )
    except InvalidIdentity as exc:
        raise Unauthorized(str(exc)) from exc
    return identity


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


CurrentIdentity = Annotated[Identity, Depends(current_identity)]


def require_roles(*roles: str) -> Callable[[Identity], Identity]:
    """A dependency: the caller's identity if it holds one of `roles` (admin always does); 403 otherwise.

    Use as `identity: Annotated[Identity, Depends(require_roles("facilitator"))]`.
    """
    allowed = (*roles, "admin")

    def dependency(identity: CurrentIdentity) -> Identity:
        if not identity.has_role(*allowed):
            raise Forbidden(f"This requires the role {' or '.join(roles)}.", required_roles=list(roles))
        return identity

    return dependency


DbSession = Annotated[AsyncSession, Depends(db_session)]


class Workers:
    """The background tasks of one service process: the relay, the consumer, the outbox and inbox
    retention purge, the spec's `background`."""

    def __init__(self, spec: ServiceSpec, sessionmaker) -> None:
        self.spec = spec
        s = spec.settings
        self.relay = OutboxRelay(
            spec.name, sessionmaker, s.kafka_bootstrap_servers, spec.produces, s.kafka_partitions,
            s.outbox_batch_size, s.outbox_poll_interval_seconds, idle_poll_max=s.outbox_idle_poll_max_seconds,
        )  # fmt: skip
        self.consumer = (
            EventConsumer(
                spec.name,
                spec.consumes,
                spec.handlers,
                sessionmaker,
                s.kafka_bootstrap_servers,
                s.consumer_max_attempts,
                s.consumer_retry_backoff_seconds,
                s.kafka_partitions,
                group_options=s.consumer_group_options(),
                erasure_tombstones=spec.erasure_tombstones,
            )
            if spec.consumes
            else None
        )
        self.retention = MessagingRetention.from_settings(spec.name, s, sessionmaker)
        self.tasks: list[asyncio.Task] = []

    def start(self, app: FastAPI | None = None) -> None:
        """Start the relay and the consumer; with the app, the retention purge and the spec's background
        tasks too (tools and benchmarks drive the relay and the consumer alone)."""
        if self.relay.topics:
            self.tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.consumer is not None:
            self.tasks.append(asyncio.create_task(self.consumer.run(), name="consumer"))
        if app is not None:
            self.tasks.append(asyncio.create_task(self.retention.run(), name="messaging-retention"))
            for task in self.spec.background:
                self.tasks.append(asyncio.create_task(task(app), name=getattr(task, "__name__", "background")))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.relay.stop()


# The young generation's size before a collection (CPython's default is 700). A consumer or relay batch
# keeps thousands of objects alive for a few milliseconds; with 700, collections during the batch
# promote them to the old generation, whose full collections then cost tens of milliseconds each.
GC_YOUNG_THRESHOLD = 50_000
_running_apps: list[tuple[int, ...]] = []  # one entry per running app: the thresholds from before the first


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """While a service runs: a young generation of GC_YOUNG_THRESHOLD objects, and what startup loaded
    (modules, tables, schemas: never garbage) frozen out of the collections. Restored at shutdown."""
    if _running_apps:
        before = _running_apps[0]
    else:
        before = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *before[1:])
    _running_apps.append(before)
    try:
        yield
    finally:
        _running_apps.pop()
        if not _running_apps:
            gc.set_threshold(*before)
            gc.unfreeze()


def warn_development_secrets(settings: ComponentSettings) -> None:
    """One warning per secret left at its development default: fine for `make run` and tests, a
    forged identity or a guessable NIR hash anywhere else. The value is never logged."""
    for variable in settings.development_secrets():
        log.warning(
            "a secret is at its development default: set it to a long random value outside development",
            extra={"fields": {"variable": variable}},
        )


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(spec.name, settings.log_level)
        await asyncio.to_thread(upgrade_to_head, spec.migrations, settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        workers = Workers(spec, app.state.sessionmaker)
        app.state.relay = workers.relay
        app.state.consumer = workers.consumer
        app.state.retention = workers.retention
        if settings.run_background_workers:
            workers.start(app)
        log.info("started", extra={"fields": {"consumes": spec.consumes, "produces": spec.produces}})
        warn_development_secrets(settings)
        try:
            with tuned_gc():
                yield
        finally:
            await workers.stop()
            await engine.dispose()

    app = FastAPI(title=f"Tremplin {spec.name}", description=spec.description, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.spec = spec
    app.add_middleware(RequestIdMiddleware)
    install_problem_handlers(app)
    for router in spec.routers:
        app.include_router(router, dependencies=[Depends(current_identity)])
    install_health_routes(app, settings)
    return app


def install_health_routes(app: FastAPI, settings: ComponentSettings) -> None:
    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        checks = {"database": False, "broker": await broker_reachable(settings.kafka_bootstrap_servers)}
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:  # whatever the cause, the component is not ready
            log.warning("database not reachable", exc_info=True)
        # Not a check (a rebalance must not take the API out of service): whether the consumer is in its
        # group yet — `tremplin run` waits for it, so its first flow does not wait for the first join.
        consumer = request.app.state.consumer
        joined = {"consumer_joined": consumer.joined} if consumer is not None else {}
        if all(checks.values()):
            return JSONResponse({"status": "ready", "checks": checks, **joined})
        return problem_response(503, "Service Unavailable", "not ready", checks=checks, **joined)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        registry = CollectorRegistry()
        state = request.app.state
        await add_messaging_gauges(registry, state.sessionmaker, state.relay, state.consumer, state.retention)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
