"""`/api/v1/webhooks`: a tenant admin's subscriptions to the platform's events (own tenant only)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from tremplin_shared.problems import NotFound, Unprocessable

from ..adapters.api_keys import ApiKeyRepository
from ..adapters.webhooks import WebhookRepository
from ..auth import Caller
from ..domain.webhooks import InvalidSubscription, validate_event_types, validate_secret, validate_url
from ..webhooks import check_target, outbound_event_types, utcnow, withhold_pending
from .schemas import WebhookDeliveryOut, WebhookIn, WebhookOut, WebhookPatch

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


async def _own(request: Request, subscription_id: uuid.UUID, tenant: str) -> dict:
    async with request.app.state.sessionmaker() as session:
        row = await WebhookRepository(session).subscription(subscription_id, tenant)
    if row is None:
        raise NotFound("No such webhook subscription.")
    return row


async def _checked(request: Request, body: WebhookIn | WebhookPatch) -> dict:
    """The fields `body` sets, checked and as stored (the secret sealed); 422 on the first wrong one.
    The url's target is checked last: it resolves the name (and again at every attempt: DNS answers
    change)."""
    settings = request.app.state.settings
    fields: dict = {}
    try:
        if body.url is not None:
            fields["url"] = validate_url(body.url, settings.webhook_allow_http)
        if body.event_types is not None:
            fields["event_types"] = list(validate_event_types(body.event_types, outbound_event_types()))
        if body.secret is not None:
            fields["secret"] = request.app.state.secret_box.seal(validate_secret(body.secret))
        if "url" in fields:
            await check_target(fields["url"], settings.webhook_allow_private_addresses,
                               settings.webhook_timeout_seconds)  # fmt: skip
    except InvalidSubscription as exc:
        raise Unprocessable(str(exc), errors=[{"field": exc.field, "in": "body", "message": str(exc)}]) from None
    if body.personal_data is not None:
        fields["personal_data"] = sorted(set(body.personal_data))
    return fields


@router.post("", response_model=WebhookOut, status_code=status.HTTP_201_CREATED, summary="Subscribe to events")
async def subscribe(body: WebhookIn, caller: Caller, request: Request) -> WebhookOut:
    now = utcnow()
    row = {
        "id": uuid.uuid4(), "tenant": caller.tenant, **await _checked(request, body), "enabled": True,
        "consecutive_failures": 0, "disabled_at": None, "created_at": now,
    }  # fmt: skip
    async with request.app.state.sessionmaker() as session:
        await ApiKeyRepository(session).ensure_tenant(caller.tenant, caller.tenant, now)
        await WebhookRepository(session).add_subscription(row)
        await session.commit()
    return WebhookOut.of(row)


@router.get("", response_model=list[WebhookOut], summary="The subscriptions of the caller's tenant")
async def list_subscriptions(caller: Caller, request: Request) -> list[WebhookOut]:
    async with request.app.state.sessionmaker() as session:
        return [WebhookOut.of(r) for r in await WebhookRepository(session).subscriptions(caller.tenant)]


@router.get("/event-types", response_model=list[str], summary="The event types a subscription may name")
async def event_types(caller: Caller) -> list[str]:
    return outbound_event_types()


@router.get("/{subscription_id}", response_model=WebhookOut, summary="One subscription")
async def get_subscription(subscription_id: uuid.UUID, caller: Caller, request: Request) -> WebhookOut:
    return WebhookOut.of(await _own(request, subscription_id, caller.tenant))


@router.patch("/{subscription_id}", response_model=WebhookOut,
              summary="Change the url, the event types, the personal data granted, or rotate the secret")  # fmt: skip
async def update_subscription(
    subscription_id: uuid.UUID, body: WebhookPatch, caller: Caller, request: Request
) -> WebhookOut:
    current = await _own(request, subscription_id, caller.tenant)
    changes = await _checked(request, body)
    async with request.app.state.sessionmaker() as session:
        repo = WebhookRepository(session)
        if changes:
            await repo.update_subscription(subscription_id, caller.tenant, **changes)
        if "personal_data" in changes and set(current["personal_data"]) - set(changes["personal_data"]):
            await withhold_pending(session, subscription_id, frozenset(changes["personal_data"]))
        await session.commit()
        row = await repo.subscription(subscription_id, caller.tenant)
    if row is None:  # deleted meanwhile
        raise NotFound("No such webhook subscription.")
    return WebhookOut.of(row)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Unsubscribe (its delivery log goes too)")  # fmt: skip
async def delete_subscription(subscription_id: uuid.UUID, caller: Caller, request: Request) -> Response:
    async with request.app.state.sessionmaker() as session:
        if not await WebhookRepository(session).delete_subscription(subscription_id, caller.tenant):
            raise NotFound("No such webhook subscription.")
        await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{subscription_id}/enable", response_model=WebhookOut,
             summary="Re-enable a subscription disabled after repeated failures")  # fmt: skip
async def enable(subscription_id: uuid.UUID, caller: Caller, request: Request) -> WebhookOut:
    await _own(request, subscription_id, caller.tenant)
    async with request.app.state.sessionmaker() as session:
        repo = WebhookRepository(session)
        await repo.enable(subscription_id, caller.tenant)
        await session.commit()
        row = await repo.subscription(subscription_id, caller.tenant)
    worker = getattr(request.app.state, "webhook_worker", None)
    if worker is not None:
        worker.wake()
    return WebhookOut.of(row)


@router.get("/{subscription_id}/deliveries", response_model=list[WebhookDeliveryOut],
            summary="The delivery log: each event sent, with every attempt")  # fmt: skip
async def deliveries(
    subscription_id: uuid.UUID, caller: Caller, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[WebhookDeliveryOut]:
    await _own(request, subscription_id, caller.tenant)
    async with request.app.state.sessionmaker() as session:
        rows = await WebhookRepository(session).deliveries(subscription_id, limit)
    return [WebhookDeliveryOut(**r) for r in rows]
