from pathlib import Path

from tremplin_shared.events.contracts import FUNDING_TOPIC, MATCHING_TOPIC, PARTICIPANTS_TOPIC
from tremplin_shared.service import ServiceSpec, create_service_app

from .adapters.projection import HANDLERS
from .api.routes import router
from .config import Settings
from .service_layer import HANDLERS as FUNDING_HANDLERS


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    return ServiceSpec(
        name="funding",
        description="Funds, conventions, the monthly CDE for EBE workers, individual aids, approvals, SEPA payments.",
        settings=settings or Settings(),
        routers=[router],
        migrations=Path(__file__).parent / "migrations",
        produces=[FUNDING_TOPIC],
        consumes=[PARTICIPANTS_TOPIC, MATCHING_TOPIC],
        handlers={**HANDLERS, **FUNDING_HANDLERS},
        erasure_tombstones=True,
    )


def create_app(settings: Settings | None = None):
    return create_service_app(build_spec(settings))


app = create_app()
