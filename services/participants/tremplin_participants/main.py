from pathlib import Path

from tremplin_shared.events.contracts import PARTICIPANTS_TOPIC
from tremplin_shared.service import ServiceSpec, create_service_app

from .api.routes import router
from .config import Settings


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="participants",
        description="The parcours d'insertion: participants, situation, diagnostic, référent, steps, exits.",
        settings=settings or Settings(),
        routers=[router],
        migrations=Path(__file__).parent / "migrations",
        produces=[PARTICIPANTS_TOPIC],
    )


def create_app(settings: Settings | None = None):
    return create_service_app(build_spec(settings))


app = create_app()
