"""ServiceSpec.background: the service's own long-running tasks start with the workers (after the outbox
and inbox retention purge every service runs) and stop with them.
The garbage collector's tuning while a service runs."""

import asyncio
import gc
from pathlib import Path

from fastapi import FastAPI

from tremplin_shared.service import GC_YOUNG_THRESHOLD, ServiceSpec, Workers, tuned_gc
from tremplin_shared.settings import ComponentSettings


async def test_background_tasks_get_the_app_and_are_cancelled_at_stop():
    seen: list[FastAPI] = []
    cancelled = asyncio.Event()

    async def job(app: FastAPI) -> None:
        seen.append(app)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    spec = ServiceSpec(name="demo", settings=ComponentSettings(), routers=[], migrations=Path("."), background=[job])
    app = FastAPI()
    workers = Workers(spec, sessionmaker=None)
    workers.start()  # without the app (tools, benchmarks): no background task
    assert workers.tasks == []
    workers.start(app)
    await asyncio.sleep(0.01)
    assert seen == [app] and [t.get_name() for t in workers.tasks] == ["messaging-retention", "job"]
    await workers.stop()
    assert cancelled.is_set()


def test_a_running_service_collects_its_young_objects_less_often_and_restores_the_collector_after():
    before = gc.get_threshold()
    with tuned_gc():
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:]) and gc.get_freeze_count() > 0
        with tuned_gc():  # two apps in one process (tests, tools): the outer one restores
            pass
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
