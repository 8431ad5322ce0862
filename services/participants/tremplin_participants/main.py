from pathlib import Path

from tremplin_shared.events.contracts import INBOUND_FRANCE_TRAVAIL_TOPIC, MATCHING_TOPIC, PARTICIPANTS_TOPIC
from tremplin_shared.service import ServiceSpec, create_service_app

from .adapters.handlers import handlers
from .api import orientation_routes, parcours_routes
from .api.routes import router
from .config import Settings
from .jobs import durable_exit_loop, flags_refresh_loop


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    return ServiceSpec(
        name="participants",
        description="The parcours d'insertion: participants, situation, diagnostic, référent, steps, exits.",
        settings=settings,
        # The parcours and orientations routers first: /api/v1/participants/indicators/... and
        # /api/v1/participants/orientations/... must not be taken for a participant id.
        routers=[orientation_routes.router, parcours_routes.router, router],
        migrations=Path(__file__).parent / "migrations",
        produces=[PARTICIPANTS_TOPIC],
        # inbound.france-travail: only the job seeker registrations (the offers there are matching's).
        consumes=[MATCHING_TOPIC, INBOUND_FRANCE_TRAVAIL_TOPIC],
        handlers=handlers(settings.nir_hash_key),
        background=[durable_exit_loop, flags_refresh_loop],
    )


def create_app(settings: Settings | None = None):
    return create_service_app(build_spec(settings))


app = create_app()
