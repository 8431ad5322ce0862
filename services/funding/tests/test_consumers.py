"""The consumers of funding: placement.hired in ebe_cdi by a SIRET holding a CDE convention adds the
worker (once, in that tenant only); parcours.exited of that participant ends it."""

import uuid
from datetime import date

import sqlalchemy as sa

from tremplin_funding.adapters.orm import worker_hours
from tremplin_funding.main import build_spec
from tremplin_shared.events import ParcoursExitedV1, PlacementHiredV1, new_event

from .conftest import EBE_SIRET, TENANT, convention_body, fund_body


async def apply(app, data, tenant: str = TENANT) -> None:
    handlers = build_spec(app.state.settings).handlers
    async with app.state.sessionmaker() as session, session.begin():
        await handlers[data.ce_type](session, new_event(data, tenant=tenant, source="/t"), data)


def hired(participant_id: uuid.UUID, **over) -> PlacementHiredV1:
    values = {"application_id": uuid.uuid4(), "participant_id": participant_id, "offer_id": uuid.uuid4(),
              "employer_siret": EBE_SIRET, "contract_type": "ebe_cdi", "start_date": date(2024, 3, 4),
              "weekly_hours": 30}  # fmt: skip
    return PlacementHiredV1(**(values | over))


async def test_a_hire_adds_the_worker_and_an_exit_ends_it(funding):
    assert build_spec(funding.app.state.settings).consumes == ["participants.events", "matching.events"]
    fund = await funding.post("/api/v1/funding/funds", fund_body())
    convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"]))
    operation = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"], kind="operation",
                                                                                  cde_rate=None))  # fmt: skip
    pid = uuid.uuid4()
    event = hired(pid)
    await apply(funding.app, event)
    await apply(funding.app, event)  # a redelivery adds nobody
    await apply(funding.app, hired(uuid.uuid4(), contract_type="cdi"))  # not an EBE CDI
    await apply(funding.app, hired(uuid.uuid4(), employer_siret="41234567000019"))  # no convention
    await apply(funding.app, hired(uuid.uuid4(), start_date=date(2023, 6, 1)))  # before the convention
    await apply(funding.app, hired(uuid.uuid4()), tenant="indre")  # another territory
    await apply(funding.app, hired(uuid.uuid4(), weekly_hours=39))  # capped at 35
    url = f"/api/v1/funding/conventions/{convention['id']}/workers"
    items = (await funding.get(url))["items"]
    first = items[0]
    assert (first["participant_id"], first["weekly_hours"], first["start_date"], first["source"]) == (
        str(pid), "30.00", "2024-03-04", "placement.hired")  # fmt: skip
    assert first["application_id"] == str(event.application_id)
    async with funding.app.state.sessionmaker() as session:  # the dated hours, from the start of the hire
        hours = (await session.execute(sa.select(worker_hours.c.valid_from, worker_hours.c.weekly_hours)
                                       .where(worker_hours.c.worker_id == uuid.UUID(first["id"])))).all()  # fmt: skip
    assert [(day, str(h)) for day, h in hours] == [(date(2024, 3, 4), "30.00")]
    assert [w["weekly_hours"] for w in items] == ["30.00", "35.00"]
    assert (await funding.get(f"/api/v1/funding/conventions/{operation['id']}/workers"))["items"] == []

    # Six months in work: the 183-day rule exits the parcours as durable employment — in the EBE itself,
    # so the worker and their CDE go on.
    durable = ParcoursExitedV1(parcours_id=uuid.uuid4(), participant_id=pid, programme="tzcld",
                               exit_kind="durable_employment", positive=True, at=date(2024, 6, 1))  # fmt: skip
    await apply(funding.app, durable)
    assert (await funding.get(url))["items"][0]["end_date"] is None
    exited = ParcoursExitedV1(parcours_id=uuid.uuid4(), participant_id=pid, programme="tzcld", exit_kind="moved",
                              positive=False, at=date(2024, 6, 30))  # fmt: skip
    await apply(funding.app, exited, tenant="indre")  # another territory's exit changes nothing here
    assert (await funding.get(url))["items"][0]["end_date"] is None
    for programme in ("rsa", "plie", "clause", "iae"):  # another programme's parcours: the EBE job goes on
        other = exited.model_copy(update={"parcours_id": uuid.uuid4(), "programme": programme})
        await apply(funding.app, other)
    assert (await funding.get(url))["items"][0]["end_date"] is None
    await apply(funding.app, exited)
    assert (await funding.get(url))["items"][0]["end_date"] == "2024-06-30"
    # June is prorated to the 30th (all of it), July has nothing for them
    july = (await funding.post("/api/v1/funding/runs", {"period": "2024-07"}))["created"]
    assert [line["participant_id"] for d in july for line in d["lines"]] == [items[1]["participant_id"]]


async def test_a_hire_of_someone_already_on_the_convention_adds_nobody(funding):
    fund = await funding.post("/api/v1/funding/funds", fund_body())
    convention = await funding.post("/api/v1/funding/conventions", convention_body(fund["id"]))
    url = f"/api/v1/funding/conventions/{convention['id']}/workers"
    pid = uuid.uuid4()
    by_hand = await funding.post(url, {"participant_id": str(pid), "weekly_hours": "24", "start_date": "2024-02-01"})
    await apply(funding.app, hired(pid))  # hired on 4 March: already a worker then
    assert [w["id"] for w in (await funding.get(url))["items"]] == [by_hand["id"]]
