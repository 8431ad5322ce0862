"""The audit of every request: a pure ASGI middleware records, a background writer stores.

Writing a row inside each request would put a database commit on the hot path; the middleware
only queues the entry, and the writer inserts them in batches (every `interval` seconds, or
sooner when many are waiting). The admin route flushes before reading, so what it shows is up
to date. If the queue is full (the database is down for long), entries are dropped and counted.
"""

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tremplin_shared.http import path_for_logs
from tremplin_shared.log import current_request_id

from .adapters.audit import AuditRepository
from .domain.audit import AuditEntry
from .keys import Sessionmaker

log = logging.getLogger(__name__)

NOT_AUDITED = frozenset({"/healthz", "/readyz"})


class AuditWriter:
    def __init__(self, sessionmaker: Sessionmaker, interval: float = 0.5, batch: int = 500, capacity: int = 50_000):
        self.sessionmaker = sessionmaker
        self.interval = interval
        self.batch = batch
        self.queue: asyncio.Queue[AuditEntry] = asyncio.Queue(capacity)
        self.dropped = 0
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def record(self, entry: AuditEntry) -> None:
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("audit queue full: entries dropped", extra={"fields": {"dropped": self.dropped}})
        if self.queue.qsize() >= self.batch and self._task is not None:
            asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        async with self._lock:
            while not self.queue.empty():
                entries = [self.queue.get_nowait() for _ in range(min(self.batch, self.queue.qsize()))]
                try:
                    async with self.sessionmaker() as session:
                        await AuditRepository(session).add_many(entries)
                        await session.commit()
                except SQLAlchemyError:
                    log.warning("could not write the audit; will retry", exc_info=True)
                    for entry in entries:  # back in the queue, in front of nothing newer lost
                        with contextlib.suppress(asyncio.QueueFull):
                            self.queue.put_nowait(entry)
                    return

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()


class AuditMiddleware:
    """Records method, path, status, latency, request id, and the principal the auth step left."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NOT_AUDITED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            writer: AuditWriter | None = getattr(scope["app"].state, "audit", None)
            if writer is not None:
                principal = (scope.get("state") or {}).get("principal")
                client = scope.get("client")
                writer.record(
                    AuditEntry(
                        at=datetime.now(UTC),
                        method=scope["method"],
                        path=path_for_logs(scope["path"]),
                        status=status,
                        latency_ms=round((time.perf_counter() - started) * 1000, 2),
                        request_id=current_request_id(),
                        tenant=principal.tenant if principal else None,
                        subject=principal.subject if principal else None,
                        client=client[0] if client else None,
                    )
                )
