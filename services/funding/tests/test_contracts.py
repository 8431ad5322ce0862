"""The funding event contracts: registered under their ce_type on `funding.events`, amounts as decimal
strings in the JSON body, a round trip through the CloudEvents envelope, the outbox row of a run."""

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from tremplin_shared.events import EVENT_TYPES, CloudEvent, new_event
from tremplin_shared.events.funding import (
    BudgetBlockedV1,
    DisbursementApprovedV1,
    DisbursementPaidV1,
    DisbursementPreparedV1,
    FunderPart,
)
from tremplin_shared.messaging.tables import outbox

from .conftest import convention_body, fund_body

AT = datetime(2024, 2, 1, 9, 0, tzinfo=UTC)


def test_the_four_contracts():
    expected = {
        "fr.tremplin.funding.disbursement.prepared.v1": DisbursementPreparedV1,
        "fr.tremplin.funding.disbursement.approved.v1": DisbursementApprovedV1,
        "fr.tremplin.funding.disbursement.paid.v1": DisbursementPaidV1,
        "fr.tremplin.funding.budget.blocked.v1": BudgetBlockedV1,
    }
    for ce_type, cls in expected.items():
        assert EVENT_TYPES[ce_type] is cls and cls.topic == "funding.events"


def test_amounts_travel_as_decimal_strings():
    ids = [uuid.uuid4() for _ in range(4)]
    data = DisbursementPreparedV1(
        disbursement_id=ids[0], fund_id=ids[1], convention_id=ids[2], period="2024-01", kind="cde",
        total=Decimal("3641.80"), prepared_at=AT,
        parts=[FunderPart(funder_id=ids[3], amount=Decimal("2549.26")), FunderPart(funder_id=ids[1],
                                                                                 amount=Decimal("1092.54"))],
    )  # fmt: skip
    event = new_event(data, tenant="loir-et-cher", source="/tremplin/funding")
    body = json.loads(event.value())
    assert body["total"] == "3641.80" and [p["amount"] for p in body["parts"]] == ["2549.26", "1092.54"]
    back = CloudEvent.from_kafka(event.headers(), event.value())
    assert DisbursementPreparedV1.model_validate(back.data) == data
    assert event.subject == str(ids[0])


async def test_a_run_stages_its_events_in_the_outbox(funding):
    fund = await funding.post("/api/v1/funding/funds", fund_body())
    convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"]))
    await funding.post(
        f"/api/v1/funding/conventions/{convention['id']}/workers",
        {"participant_id": str(uuid.uuid4()), "weekly_hours": "35", "start_date": "2024-01-01"},
    )
    (d,) = (await funding.post("/api/v1/funding/runs", {"period": "2024-01"}))["created"]
    async with funding.app.state.sessionmaker() as session:
        (row,) = (await session.execute(sa.select(outbox))).mappings().all()
    assert (row["topic"], row["key"], row["tenant"]) == ("funding.events", d["id"], "loir-et-cher")
    headers = dict(row["headers"] if isinstance(row["headers"], list) else json.loads(row["headers"]))
    assert headers["ce_type"] == "fr.tremplin.funding.disbursement.prepared.v1"
    assert json.loads(row["value"])["total"] == "1678.57"
