"""Feeding events to a service as its consumer applies them, for handler tests without a broker."""

from tremplin_shared.events import new_event
from tremplin_shared.messaging.consumer import apply_in_order


def event(tenant: str, data):
    """An (envelope, payload) pair of `tenant`, as the consumer decodes it."""
    return new_event(data, tenant=tenant, source="/t"), data


async def consume(app, spec, events: list) -> None:
    """One fetch = one transaction, through `apply_in_order` with the service's handlers and its
    erasure tombstone setting (`spec`: the service's `ServiceSpec`)."""
    async with app.state.sessionmaker() as session, session.begin():
        await apply_in_order(session, spec.handlers, events, spec.erasure_tombstones)
