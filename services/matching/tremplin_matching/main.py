from pathlib import Path

from tremplin_shared.events.contracts import MATCHING_TOPIC, PARTICIPANTS_TOPIC
from tremplin_shared.service import ServiceSpec, create_service_app

from .adapters.projection import HANDLERS
from .api.routes import router
from .config import Settings


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="matching",
        description="Job offers, explainable matching of participants and offers, applications up to the hire.",
        settings=settings or Settings(),
        routers=[router],
        migrations=Path(__file__).parent / "migrations",
        produces=[MATCHING_TOPIC],
        consumes=[PARTICIPANTS_TOPIC],
        handlers=HANDLERS,
    )


def create_app(settings: Settings | None = None):
    return create_service_app(build_spec(settings))


app = create_app()
