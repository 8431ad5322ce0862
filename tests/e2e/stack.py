"""The whole platform in-process: each component a real uvicorn server on a free port."""

import asyncio
import contextlib
from dataclasses import dataclass, field

import uvicorn

from tremplin_shared.embedded_broker import free_port


@dataclass
class RunningStack:
    urls: dict[str, str] = field(default_factory=dict)
    apps: dict = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return self.urls["gateway"]


async def serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what made it fail to start
        await asyncio.sleep(0.02)
    return server, task


@contextlib.asynccontextmanager
async def running(components: dict):
    """`components` maps a name to an app; started in order, stopped in reverse."""
    stack, servers = RunningStack(), []
    try:
        for name, (app, port) in components.items():
            servers.append(await serve(app, port))
            stack.urls[name] = f"http://127.0.0.1:{port}"
            stack.apps[name] = app
        yield stack
    finally:
        for server, task in reversed(servers):
            server.should_exit = True
            await asyncio.gather(task, return_exceptions=True)


__all__ = ["RunningStack", "free_port", "running", "serve"]
