import contextlib
from pathlib import Path

from tremplin_shared.events.contracts import INBOUND_FRANCE_TRAVAIL_TOPIC, MATCHING_TOPIC, PARTICIPANTS_TOPIC
from tremplin_shared.service import ServiceSpec, create_service_app

from .adapters import spatial_index
from .adapters.projection import HANDLERS
from .api import applications, offers, ranking
from .api.routes import router
from .config import Settings
from .service_layer import FRANCE_TRAVAIL_HANDLERS


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="matching",
        description="Job offers, explainable matching of participants and offers, applications up to the hire.",
        settings=settings or Settings(),
        routers=[router, offers.router, applications.router, applications.matching_router, ranking.router],
        migrations=Path(__file__).parent / "migrations",
        produces=[MATCHING_TOPIC],
        consumes=[PARTICIPANTS_TOPIC, INBOUND_FRANCE_TRAVAIL_TOPIC],
        handlers={**HANDLERS, **FRANCE_TRAVAIL_HANDLERS},
        erasure_tombstones=True,
    )


def create_app(settings: Settings | None = None):
    spec = build_spec(settings)
    app = create_service_app(spec)
    _with_ranking_index(app, spec.settings)
    return app


def _with_ranking_index(app, settings: Settings) -> None:
    """Once the service is up (migrations, engine), register the ranking index on the engine (commits
    reach it from then on) and load it from the database before the first request."""
    service_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with service_lifespan(app):
            index = spatial_index.SpatialIndex(settings.ranking_rules())
            spatial_index.register(app.state.engine, index)
            try:
                await index.load(app.state.sessionmaker)
                app.state.ranking_index = index
                yield
            finally:
                spatial_index.unregister(app.state.engine)

    app.router.lifespan_context = lifespan


app = create_app()
