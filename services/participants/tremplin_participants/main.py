from pathlib import Path

from tremplin_shared.events.contracts import MATCHING_TOPIC, PARTICIPANTS_TOPIC
from tremplin_shared.service import ServiceSpec, create_service_app

from .adapters.handlers import HANDLERS
from .api import parcours_routes
from .api.routes import router
from .config import Settings
from .jobs import durable_exit_loop


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="participants",
        description="The parcours d'insertion: participants, situation, diagnostic, référent, steps, exits.",
        settings=settings or Settings(),
        # The parcours router first: /api/v1/participants/indicators/... must not be taken for an id.
        routers=[parcours_routes.router, router],
        migrations=Path(__file__).parent / "migrations",
        produces=[PARTICIPANTS_TOPIC],
        consumes=[MATCHING_TOPIC],
        handlers=HANDLERS,
        background=[durable_exit_loop],
    )


def create_app(settings: Settings | None = None):
    return create_service_app(build_spec(settings))


app = create_app()
