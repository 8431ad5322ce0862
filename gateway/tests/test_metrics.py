"""The gateway's /metrics: its event path (intake outbox, webhook consumer), the webhook queue and the
upstreams' circuits, in Prometheus text; counts only; behind a token when one is set."""

import time
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tremplin_gateway.webhooks import fan_out
from tremplin_shared.events import ParticipantRegisteredV1, new_event

from .conftest import running_gateway

TOKEN = "scrape-token-of-the-ops-team"
LOCAL = {"webhook_allow_http": True, "webhook_allow_private_addresses": True}


@pytest.fixture(params=["sqlite", "postgresql"])
async def gw(request, settings_for, postgres):
    url = None if request.param == "sqlite" else await postgres.create("gateway_metrics")
    async with running_gateway(settings_for(**LOCAL, **({"database_url": url} if url else {}))) as running:
        yield running


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_the_webhook_queue_and_the_circuits_are_counted(gw):
    _, admin = await gw.key(roles=("admin",))
    subscribed = await gw.client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": [ParticipantRegisteredV1.ce_type],
              "secret": "s3cr3t-shared-with-the-receiver"},
        headers={"Authorization": f"Bearer {admin}"},
    )  # fmt: skip
    assert subscribed.status_code == 201, subscribed.text
    for _ in range(3):
        data = ParticipantRegisteredV1(participant_id=uuid.uuid4(), registered_at=datetime.now(UTC), latitude=47.6,
                                       longitude=1.3)  # fmt: skip
        async with gw.app.state.sessionmaker() as session:
            await fan_out(session, new_event(data, tenant="loir-et-cher", source="/tremplin/participants"), None)
            await session.commit()
    breaker = gw.app.state.proxy.breakers["funding"]
    for _ in range(breaker.failure_threshold):
        breaker.failure(time.monotonic())

    response = await gw.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    assert values[("tremplin_webhook_deliveries", (("status", "pending"),))] == 3
    assert values[("tremplin_webhook_deliveries", (("status", "delivered"),))] == 0
    assert values[("tremplin_webhook_pending_age_seconds", ())] >= 0
    assert values[("tremplin_webhook_subscriptions_disabled", ())] == 0
    assert values[("tremplin_gateway_upstream_circuit_open", (("upstream", "funding"),))] == 1
    assert values[("tremplin_gateway_upstream_circuit_open", (("upstream", "participants"),))] == 0
    assert values[("tremplin_outbox_pending", ())] == 0  # the intake's outbox: nothing accepted yet
    assert ("tremplin_consumer_applied_total", ()) in values and ("tremplin_inbox_purged_total", ()) in values
    assert "loir-et-cher" not in response.text  # counts for every tenant together


async def test_a_metrics_token_is_required_once_set(settings_for, start_gateway):
    async with start_gateway(settings_for(metrics_token=TOKEN)) as gw:
        assert (await gw.client.get("/metrics")).status_code == 401
        wrong = await gw.client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401 and wrong.headers["content-type"].startswith("application/problem+json")
        _, key = await gw.key(roles=("admin",))  # an API key is not the scrape token
        assert (await gw.client.get("/metrics", headers={"Authorization": f"Bearer {key}"})).status_code == 401
        scraped = await gw.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200 and "tremplin_webhook_deliveries" in scraped.text


def test_an_empty_token_is_no_token_and_a_short_one_is_refused(settings_for):
    assert settings_for(metrics_token="").metrics_token is None
    with pytest.raises(ValueError, match="metrics_token"):
        settings_for(metrics_token="short")
