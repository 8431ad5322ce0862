"""ServiceSpec.background: the service's own long-running tasks start with the workers and stop with them."""

import asyncio
from pathlib import Path

from fastapi import FastAPI

from tremplin_shared.service import ServiceSpec, Workers
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
    assert seen == [app] and [t.get_name() for t in workers.tasks] == ["job"]
    await workers.stop()
    assert cancelled.is_set()
